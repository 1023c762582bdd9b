"""Fit a calibration map for one detector on a labelled set (numpy only).

Two maps, chosen by the expected calibration error they reach on held-out folds:

- **Platt scaling**: logistic regression of the label on logit(raw P(fake)),
  fitted by Newton's method (iteratively reweighted least squares) on Platt's
  smoothed targets. Two parameters: robust on small sets, but only monotone-sigmoid.
- **Isotonic regression**: the non-decreasing step function closest to the labels
  (pool-adjacent-violators), applied with linear interpolation. Flexible, needs more data.

The result is a ``unmask.fusion.calibration.Calibration``: data that the scan loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Literal

import numpy as np

from unmask.eval.metrics import _ece
from unmask.fusion.calibration import Calibration, _logit

# An isotonic map fitted on a few hundred files must not claim certainty: a bin
# that was all-fake on the dev set is not all-fake in the world.
ISOTONIC_FLOOR = 1e-3
N_FOLDS = 5


def fit_platt(probabilities: np.ndarray, labels: np.ndarray, *, max_iter: int = 100) -> tuple[float, float]:
    """Platt parameters ``(a, b)`` so that sigmoid(a * logit(p) + b) fits the labels.

    Targets are Platt's (1999) smoothed labels, (N+ + 1)/(N+ + 2) and 1/(N- + 2),
    which keep the fit finite when the classes separate perfectly.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    x = _logit(p)
    X = np.column_stack([x, np.ones_like(x)])
    ridge = 1e-6 * np.eye(2)  # keeps the Hessian invertible when all scores are equal

    def loss(w: np.ndarray) -> float:
        z = X @ w
        # Cross-entropy against soft targets, written with logaddexp so it cannot overflow.
        return float(np.sum(t * np.logaddexp(0.0, -z) + (1.0 - t) * np.logaddexp(0.0, z)))

    w = np.array([1.0, 0.0])  # the identity map
    current = loss(w)
    for _ in range(max_iter):
        z = X @ w
        q = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
        grad = X.T @ (q - t)
        hess = (X * (q * (1.0 - q))[:, None]).T @ X + ridge
        step = np.linalg.solve(hess, grad)
        # Newton steps overshoot when early predictions are extreme (tiny q(1-q));
        # halve until the loss goes down, which makes the iteration monotone.
        scale = 1.0
        while scale > 1e-8:
            candidate = w - scale * step
            value = loss(candidate)
            if value <= current:
                break
            scale *= 0.5
        else:
            break
        converged = abs(current - value) <= 1e-12 * max(1.0, abs(current))
        w, current = candidate, value
        if converged or np.max(np.abs(scale * step)) < 1e-10:
            break
    return float(w[0]), float(w[1])


def fit_isotonic(probabilities: np.ndarray, labels: np.ndarray) -> tuple[list[float], list[float]]:
    """Breakpoints ``(x, y)`` of the isotonic fit, both non-decreasing, for ``np.interp``.

    Pool-adjacent-violators on the files sorted by raw score; tied scores are
    pooled first so that equal inputs always map to equal outputs.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    ux, inverse = np.unique(p, return_inverse=True)
    weight = np.bincount(inverse).astype(np.float64)
    mean = np.bincount(inverse, weights=y) / weight
    # Stack of blocks: (value, weight, first index, last index).
    vals: list[float] = []
    wts: list[float] = []
    starts: list[int] = []
    for i in range(ux.size):
        vals.append(mean[i])
        wts.append(weight[i])
        starts.append(i)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2 = vals.pop(), wts.pop()
            starts.pop()
            v1, w1 = vals[-1], wts[-1]
            vals[-1] = (v1 * w1 + v2 * w2) / (w1 + w2)
            wts[-1] = w1 + w2
    fitted = np.empty(ux.size)
    bounds = starts + [ux.size]
    for k, v in enumerate(vals):
        fitted[bounds[k] : bounds[k + 1]] = v
    fitted = np.clip(fitted, ISOTONIC_FLOOR, 1.0 - ISOTONIC_FLOOR)
    # Keep only each flat run's end points: same map, far smaller file.
    keep = np.ones(ux.size, dtype=bool)
    if ux.size > 2:
        keep[1:-1] = ~((fitted[1:-1] == fitted[:-2]) & (fitted[1:-1] == fitted[2:]))
    return ux[keep].tolist(), fitted[keep].tolist()


def _fit(method: str, p: np.ndarray, y: np.ndarray, detector: str) -> Calibration:
    if method == "platt":
        a, b = fit_platt(p, y)
        return Calibration(detector, "platt", {"a": a, "b": b})
    if method == "isotonic":
        xs, ys = fit_isotonic(p, y)
        return Calibration(detector, "isotonic", {"x": xs, "y": ys})
    return Calibration(detector, "identity")


def _folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of each file, stratified so every fold has both classes where possible."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(idx.size) % n_folds
    return fold


def held_out_ece(method: str, p: np.ndarray, y: np.ndarray, *, n_folds: int = N_FOLDS, seed: int = 0) -> float:
    """ECE of ``method``'s predictions on files it was not fitted on (k-fold cross-fitting)."""
    fold = _folds(y, n_folds, seed)
    out = np.empty_like(p)
    for k in range(n_folds):
        test = fold == k
        if not test.any():
            continue
        train = ~test
        out[test] = _fit(method, p[train], y[train], "_").apply(p[test])
    return _ece(y.astype(np.int8), out)


def fit_calibration(
    probabilities: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    detector: str,
    method: Literal["auto", "platt", "isotonic"] = "auto",
    detector_version: str | None = None,
    dataset: str | None = None,
    n_folds: int = N_FOLDS,
    seed: int = 0,
) -> Calibration:
    """Fit a calibration of ``detector`` on raw scores and labels (1 = fake).

    ``method="auto"`` compares Platt and isotonic by held-out ECE (``n_folds``-fold,
    stratified, seeded) and keeps the lower; if neither beats the raw scores'
    ECE, the identity map is returned and says so. The final map is refitted on
    all files. ``fitted_on`` records the set, its size, the date, the raw ECE
    (``ece_before``) and the chosen map's held-out ECE (``ece_after``).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).astype(np.int8)
    n_pos = int(y.sum())
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"probabilities and labels must be 1-D and the same length, got {p.shape} and {y.shape}")
    if n_pos < 2 or y.size - n_pos < 2:
        raise ValueError(f"calibration needs at least 2 fake and 2 real scored files, got {n_pos} fake and {y.size - n_pos} real")
    if method not in ("auto", "platt", "isotonic"):
        raise ValueError(f"method must be auto, platt or isotonic, got {method!r}")
    folds = max(2, min(n_folds, n_pos, y.size - n_pos))
    before = _ece(y, p)
    candidates = ("platt", "isotonic") if method == "auto" else (method,)
    scores = {m: held_out_ece(m, p, y, n_folds=folds, seed=seed) for m in candidates}
    chosen = min(candidates, key=lambda m: (scores[m], m != "platt"))  # ties → fewer parameters
    selection = f"{method}: held-out ECE " + ", ".join(f"{m} {v:.4f}" for m, v in scores.items()) + f"; raw {before:.4f}"
    if method == "auto" and scores[chosen] >= before:
        chosen = "identity"
        selection += "; neither improved on the raw scores"
    fitted = _fit(chosen, p, y, detector)
    return Calibration(
        detector=detector,
        method=fitted.method,
        params=fitted.params,
        detector_version=detector_version,
        fitted_on={
            "dataset": dataset,
            "n_items": int(y.size),
            "n_fake": n_pos,
            "n_real": int(y.size - n_pos),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "ece_before": round(before, 6),
            "ece_after": round(scores.get(chosen, before), 6),
            "n_folds": folds,
            "selection": selection,
        },
    )
