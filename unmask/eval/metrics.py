"""Detection metrics with bootstrap intervals, in numpy only.

Scores follow the report's direction: ``probability_fake`` (1 = manipulated or
synthetic), labels are 1 = fake, 0 = real. Ranking metrics (ROC AUC, EER,
average precision, TPR at a fixed FPR) need both classes; on a single-class
subset they are ``None`` and the result carries a note instead of raising,
because per-method breakdowns routinely contain such subsets.

This module must not import scikit-learn (a test-only reference) or anything
from unmask outside ``unmask.eval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Score at which a file counts as "flagged" for accuracy: the probability is
# calibrated, so 0.5 is the Bayes threshold for equal priors and equal costs.
DECISION_THRESHOLD = 0.5
# 10 equal-width bins is the convention of Guo et al. (2017) and of most papers
# that report ECE; with the dev sets' 60-360 items, more bins would be mostly empty.
ECE_BINS = 10
# Operating points reported as "TPR at x% FPR": the low-false-alarm regime
# that moderation and forensics buyers ask about.
FPR_TARGETS = (0.01, 0.05)

METRIC_NAMES = (
    "auc",
    "eer",
    "ap",
    "accuracy",
    "tpr_at_fpr_1pct",
    "tpr_at_fpr_5pct",
    "log_loss",
    "brier",
    "ece",
)
_RANKING = frozenset({"auc", "eer", "ap", "tpr_at_fpr_1pct", "tpr_at_fpr_5pct"})
# Metrics where lower is better, so that tables can say which way is good.
LOWER_IS_BETTER = frozenset({"eer", "log_loss", "brier", "ece"})


def _check(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"labels and scores must be 1-D arrays of the same length, got shapes {y.shape} and {s.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (drop abstentions before computing metrics)")
    return y.astype(np.int8), s


def roc_curve(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points at every distinct score, highest threshold first.

    Same convention as scikit-learn's ``roc_curve(..., drop_intermediate=False)``:
    the first point is (0, 0) at threshold +inf; a file is flagged when its score
    is >= the threshold; tied scores move together, giving a diagonal segment.

    Returns
    -------
    fpr, tpr : (k,) float64 ndarray
        False- and true-positive rates, non-decreasing.
    thresholds : (k,) float64 ndarray
        Decreasing; ``thresholds[0]`` is +inf.
    """
    y, s = _check(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"a ROC curve needs both classes, got {n_pos} fake and {n_neg} real")
    return _roc(y, s, n_pos, n_neg)


def _roc(y: np.ndarray, s: np.ndarray, n_pos: int, n_neg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of each run of equal scores: only there is the threshold "between" files.
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted, dtype=np.int64)[last]
    fps = (last + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr, tpr, thresholds


def _auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def _eer(fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    fnr = 1.0 - tpr
    # fpr rises from 0 and fnr falls from 1, so they cross exactly once; interpolate
    # linearly between the two ROC points around the crossing.
    i = int(np.argmax(fnr <= fpr))
    d0 = fpr[i - 1] - fnr[i - 1]
    d1 = fpr[i] - fnr[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    eer = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    return float(eer), float(thresholds[i])


def _ap(tpr: np.ndarray, fpr: np.ndarray, n_pos: int, n_neg: int) -> float:
    # scikit-learn's definition: sum over thresholds of (R_k - R_{k-1}) * P_k,
    # without interpolating precision (which would be optimistic).
    tps = tpr[1:] * n_pos
    fps = fpr[1:] * n_neg
    precision = tps / np.maximum(tps + fps, 1e-300)
    recall_gain = np.diff(tpr)
    return float(np.sum(recall_gain * precision))


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, fpr_max: float) -> float:
    # The best operating point that really achieves FPR <= fpr_max, not an
    # interpolation between thresholds (which no single threshold achieves).
    return float(tpr[fpr <= fpr_max + 1e-12].max())


def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (ties count one half, as in the Mann–Whitney U statistic)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return _auc(fpr, tpr)


def equal_error_rate(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Equal error rate and the score threshold where it is reached.

    The EER is where the false-positive rate equals the false-negative rate,
    interpolated linearly between the two ROC points that bracket the crossing.
    The threshold is that of the ROC point at or just past the crossing: flagging
    files with score >= threshold gives an FNR no higher than the EER.
    """
    fpr, tpr, thr = roc_curve(labels, scores)
    return _eer(fpr, tpr, thr)


def average_precision(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Average precision with "fake" as the positive class (scikit-learn's step definition)."""
    y, s = _check(labels, scores)
    n_pos = int(y.sum())
    fpr, tpr, _ = roc_curve(y, s)
    return _ap(tpr, fpr, n_pos, y.size - n_pos)


def tpr_at_fpr(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, fpr_max: float) -> float:
    """Highest true-positive rate among thresholds whose false-positive rate is <= ``fpr_max``."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return _tpr_at(fpr, tpr, fpr_max)


def accuracy(labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray, threshold: float = DECISION_THRESHOLD) -> float:
    """Share of files on the right side of ``threshold`` (flagged when probability >= threshold)."""
    y, p = _check(labels, probabilities)
    return float(np.mean((p >= threshold) == (y == 1)))


def log_loss(labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray) -> float:
    """Mean negative log-likelihood in nats; probabilities are clipped to [eps, 1 - eps] (float64 eps)."""
    y, p = _check(labels, probabilities)
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier_score(labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray) -> float:
    """Mean squared error of the probability against the 0/1 label."""
    y, p = _check(labels, probabilities)
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins of P(fake).

    Sum over bins of (share of files in the bin) x |mean predicted P(fake) - share
    that really are fake|. 0 is perfectly calibrated.
    """
    y, p = _check(labels, probabilities)
    if y.size == 0:
        raise ValueError("ECE of an empty set is undefined")
    return _ece(y, p, n_bins)


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int = ECE_BINS) -> float:
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    idx = np.maximum(idx, 0)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    return float(np.sum(np.abs(sum_p - sum_y)) / y.size)


def point_metrics(labels: Sequence[int] | np.ndarray, probabilities: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """Every metric in ``METRIC_NAMES`` from one sort; ranking metrics are None on a single-class set.

    Also gives ``eer_threshold``.
    """
    y, p = _check(labels, probabilities)
    return _suite(y, p)


def _suite(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys((*METRIC_NAMES, "eer_threshold"))
    if y.size == 0:
        return out
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    eps = np.finfo(np.float64).eps
    pc = np.clip(p, eps, 1.0 - eps)
    out["accuracy"] = float(np.mean((p >= DECISION_THRESHOLD) == (y == 1)))
    out["log_loss"] = float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc)))
    out["brier"] = float(np.mean((p - y) ** 2))
    out["ece"] = _ece(y, p)
    if n_pos and n_neg:
        fpr, tpr, thr = _roc(y, p, n_pos, n_neg)
        out["auc"] = _auc(fpr, tpr)
        out["eer"], out["eer_threshold"] = _eer(fpr, tpr, thr)
        out["ap"] = _ap(tpr, fpr, n_pos, n_neg)
        out["tpr_at_fpr_1pct"] = _tpr_at(fpr, tpr, FPR_TARGETS[0])
        out["tpr_at_fpr_5pct"] = _tpr_at(fpr, tpr, FPR_TARGETS[1])
    return out


@dataclass(frozen=True, slots=True)
class MetricValue:
    """A point estimate with its percentile-bootstrap interval (None where undefined)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def format(self, digits: int = 3) -> str:
        if self.value is None:
            return "–"
        if self.ci_low is None or self.ci_high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


@dataclass(frozen=True, slots=True)
class MetricReport:
    """Metrics of one score set: counts, each metric with its interval, and notes on what is undefined."""

    n: int
    n_fake: int
    n_real: int
    metrics: dict[str, MetricValue]
    eer_threshold: float | None = None
    n_bootstrap: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> MetricValue:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_fake": self.n_fake,
            "n_real": self.n_real,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "eer_threshold": self.eer_threshold,
            "n_bootstrap": self.n_bootstrap,
            "notes": list(self.notes),
        }


def evaluate(
    labels: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> MetricReport:
    """All metrics with percentile-bootstrap intervals.

    Parameters
    ----------
    labels : (n,) int array-like
        1 = fake, 0 = real.
    probabilities : (n,) float array-like
        P(fake) in [0, 1].
    n_bootstrap : int, default=1000
        Resamples (with replacement, of files); 0 gives point estimates only.
    seed : int, default=0
        Seeds the resampling so that reruns print identical intervals.
    confidence : float, default=0.95
        Coverage of the interval.

    Resamples that lose a class are skipped for the ranking metrics (and noted);
    the interval then comes from the remaining resamples.
    """
    y, p = _check(labels, probabilities)
    n = int(y.size)
    n_fake = int(y.sum())
    notes: list[str] = []
    point = _suite(y, p)
    if n == 0:
        notes.append("no scored files")
    elif n_fake == 0 or n_fake == n:
        only = "fake" if n_fake else "real"
        notes.append(f"only {only} files: AUC, EER, AP and TPR@FPR are undefined")
    samples: dict[str, list[float]] = {k: [] for k in METRIC_NAMES}
    if n_bootstrap > 0 and n > 1:
        rng = np.random.default_rng(seed)
        skipped = 0
        for _ in range(n_bootstrap):
            idx = rng.integers(0, n, n)
            yb = y[idx]
            m = _suite(yb, p[idx])
            if m["auc"] is None:
                skipped += 1
            for k in METRIC_NAMES:
                if m[k] is not None:
                    samples[k].append(m[k])  # type: ignore[arg-type]
        if skipped and point["auc"] is not None:
            notes.append(f"{skipped} of {n_bootstrap} resamples had a single class and were left out of ranking-metric intervals")
    alpha = (1.0 - confidence) / 2.0
    metrics: dict[str, MetricValue] = {}
    for k in METRIC_NAMES:
        v = point[k]
        # An interval from fewer than 20 resamples would be noise dressed as precision.
        if v is None or len(samples[k]) < 20:
            metrics[k] = MetricValue(v)
        else:
            lo, hi = np.quantile(np.asarray(samples[k]), [alpha, 1.0 - alpha])
            metrics[k] = MetricValue(v, float(lo), float(hi))
    return MetricReport(
        n=n,
        n_fake=n_fake,
        n_real=n - n_fake,
        metrics=metrics,
        eer_threshold=point["eer_threshold"],
        n_bootstrap=n_bootstrap if n > 1 else 0,
        notes=tuple(notes),
    )


def det_points(fpr: np.ndarray, tpr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) pairs of a ROC curve for a DET plot, dropping the trivial end points."""
    fnr = 1.0 - tpr
    keep = (fpr > 0) & (fnr > 0)
    return fpr[keep], fnr[keep]
