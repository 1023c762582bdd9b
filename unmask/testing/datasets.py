"""Tiny labelled datasets and a toy scorer for testing and benchmarking ``unmask.eval``.

The toy scorer stands in for ``unmask.scan`` where a test must know the right
answer: it reads an image's mean brightness as P(fake), and the dataset makers
draw fakes brighter than reals (with overlap), so AUC is known to be high but
below 1 and calibration is deliberately off.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from unmask.core import Finding, FindingStatus, Report, Signal, Verdict

TOY_DETECTOR = "toy-brightness"
TOY_ABSTAINER = "toy-abstain"


def _png(path: Path, level: float, size_px: int, rng: np.random.Generator) -> None:
    from PIL import Image

    px = np.clip(rng.normal(level, 4.0, (size_px, size_px, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px, "RGB").save(path, "PNG")


def make_image_set(
    root: Path,
    *,
    n_real: int,
    n_fake: int,
    methods: tuple[str, ...] = ("gan-a", "gan-b"),
    size_px: int = 8,
    layout: str = "labels-csv",
    seed: int = 0,
) -> Path:
    """Write a labelled set of small PNGs; returns ``root``.

    Real images have mean brightness drawn from N(100, 25²), fakes of the k-th
    method from N(130 + 15k, 25²) (grey levels), so the toy scorer separates them
    imperfectly and harder methods come first. ``layout`` is ``labels-csv``
    (``labels.csv`` with path,label,method) or ``folder`` (``real/``, ``fake/<method>/``).
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str]] = []
    for i in range(n_real):
        rel = f"real/r{i:06d}.png"
        _png(root / rel, float(rng.normal(100, 25)), size_px, rng)
        rows.append((rel, "real", "camera"))
    for i in range(n_fake):
        k = i % len(methods)
        rel = f"fake/{methods[k]}/f{i:06d}.png"
        _png(root / rel, float(rng.normal(130 + 15 * k, 25)), size_px, rng)
        rows.append((rel, "fake", methods[k]))
    if layout == "labels-csv":
        with (root / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "method"])
            w.writerows(rows)
    elif layout != "folder":
        raise ValueError(f"layout must be labels-csv or folder, got {layout!r}")
    return root


def toy_scorer(path: Path) -> Report:
    """A stand-in for ``unmask.scan`` on images: P(fake) = mean grey level / 255.

    Reports one scored finding (``toy-brightness``) and one that always abstains
    (``toy-abstain``), so runners can be checked for both. Module-level, so it
    pickles into worker processes.
    """
    from PIL import Image

    with Image.open(path) as im:
        p = float(np.asarray(im.convert("L"), dtype=np.float64).mean() / 255.0)
    findings = (
        Finding(TOY_DETECTOR, "1", FindingStatus.SCORED, "Mean brightness read as a probability.", probability_fake=p, signal=Signal.ML),
        Finding(TOY_ABSTAINER, "1", FindingStatus.NOT_APPLICABLE, "Never applies.", abstain_reason="never"),
    )
    return Report(str(path), Verdict.UNCERTAIN, p, ("toy",), findings=findings)
