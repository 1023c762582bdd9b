"""Measure the ``ai-image`` detector: dev-set AUC per generator, false positives on real photos, speed.

    python bench/bench_ai_image.py                      # all three, prints a markdown table + JSON
    python bench/bench_ai_image.py --only speed
    python bench/bench_ai_image.py --weights-dir out/ai_run4/weights   # a candidate

- ``dev``: ../shared/data/dev/genimg (labels.csv: path,label,method,source). Measured only, never
  used for training or thresholds. AUC per generator is its fakes against every dev real, and
  against the reals released beside it (file names ``*_<generator>_real.png``); accuracy is at the
  detector's default threshold (probability 0.5).
- ``fpr``: held-out real photos (bsds500-test last 75, kodak24, webmorph-neutral_front), plain,
  JPEG q75 and 0.5x bicubic, scored through ``AiImageDetector.analyze`` (attachments included).
- ``speed``: one-megapixel (1152x864) JPEGs made from real photos, full ``analyze`` per image
  (tiles, spectrum, both PNG attachments); images/s on this machine's cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def _detector(weights_dir: Path | None = None):
    from unmask.config import ScanOptions
    from unmask.detectors import create
    from unmask.detectors.ai_image import AiImageDetector, AiImageModel

    det = create("ai-image", ScanOptions())
    if weights_dir is None:
        return det
    # A candidate: export + calibrate_images into one folder.
    return AiImageDetector(det.card, det.options, model=AiImageModel(weights_dir))


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from scipy.stats import rankdata

    labels = np.asarray(labels, bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bench_dev(det) -> dict:
    from unmask.media import open_media

    root = SHARED / "dev" / "genimg"
    with open(root / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    probs, labels, methods, paths = [], [], [], []
    for r in rows:
        f = det.analyze(open_media(root / r["path"]))
        probs.append(f.probability_fake)
        labels.append(r["label"] == "fake")
        methods.append(r["method"].split(" (")[0])
        paths.append(r["path"])
    probs, labels, methods = np.asarray(probs), np.asarray(labels), np.asarray(methods)
    real = ~labels
    out = {
        "overall": {
            "auc": _auc(labels, probs),
            "accuracy": float(((probs >= 0.5) == labels).mean()),
            "n": len(rows),
        }
    }
    out["real_photos_scored_real"] = float((probs[real] < 0.5).mean())
    for m in sorted(set(methods[labels])):
        sel = labels & (methods == m)
        token = {"sitd": "seeingdark"}.get(m.lower().split()[0], m.lower().split()[0])
        paired = real & np.array([f"_{token}_real" in p for p in paths])
        row = {
            "n_fake": int(sel.sum()),
            "auc_vs_all_reals": _auc(
                np.r_[np.zeros(real.sum()), np.ones(sel.sum())],
                np.r_[probs[real], probs[sel]],
            ),
            "detected_at_0.5": float((probs[sel] >= 0.5).mean()),
        }
        if paired.any():
            row["auc_vs_paired_reals"] = _auc(
                np.r_[np.zeros(paired.sum()), np.ones(sel.sum())],
                np.r_[probs[paired], probs[sel]],
            )
            row["paired_reals_correct_at_0.5"] = float((probs[paired] < 0.5).mean())
        out[m] = row
    for m in sorted(set(methods[real])):
        sel = real & (methods == m)
        out[f"real: {m}"] = {
            "n": int(sel.sum()),
            "correct_at_0.5": float((probs[sel] < 0.5).mean()),
            "mean_p": float(probs[sel].mean()),
        }
    return out


def bench_fpr(det) -> dict:
    from PIL import Image

    from unmask.media import open_media
    from unmask.training.calibrate_images import PERTURBATIONS, perturb, real_sets

    _, report = real_sets(SHARED)
    flagged = {p: 0 for p in PERTURBATIONS}
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(report):
            rgb = np.asarray(Image.open(path).convert("RGB"))
            for name in PERTURBATIONS:
                target = path
                if name == "jpeg:75":  # the file itself re-encoded, as a person would
                    target = Path(tmp) / f"{i}.jpg"
                    Image.fromarray(rgb).save(target, "JPEG", quality=75)
                elif name != "plain":
                    target = Path(tmp) / f"{i}.png"
                    Image.fromarray(perturb(rgb, name)).save(target, "PNG")
                flagged[name] += det.analyze(open_media(target)).probability_fake >= 0.5
    return {
        name: {"files": len(report), "fpr_at_0.5": n / len(report)}
        for name, n in flagged.items()
    }


def bench_speed(det, n: int = 20) -> dict:
    from PIL import Image

    from unmask.media import open_media

    sources = (
        sorted((SHARED / "photos" / "kodak24").glob("*.png"))[:4]
        if SHARED.is_dir()
        else []
    )
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(4):
            if sources:
                im = (
                    Image.open(sources[i])
                    .convert("RGB")
                    .resize((1152, 864), Image.Resampling.BICUBIC)
                )
            else:
                rng = np.random.default_rng(i)
                im = Image.fromarray(
                    rng.integers(0, 256, (864, 1152, 3), dtype=np.uint8)
                )
            f = Path(tmp) / f"{i}.jpg"
            im.save(f, "JPEG", quality=90)
            files.append(f)
        items = [open_media(f) for f in files]
        det.analyze(
            items[0]
        )  # model load and first-run allocation are not per-image costs
        t0, c0 = time.perf_counter(), time.process_time()
        stages: dict[str, float] = {}
        for k in range(n):
            item = open_media(files[k % len(files)])
            finding = det.analyze(item)
            for s, ms in finding.timings_ms.items():
                stages[s] = stages.get(s, 0.0) + ms / n
        dt, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "images": n,
        "megapixels_each": 1152 * 864 / 1e6,
        "images_per_s": n / dt,
        "cpu_s_per_image": cpu_s / n,
        "load_average_1min": load,
        "mean_stage_ms": {k: round(v, 1) for k, v in stages.items()},
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=("dev", "fpr", "speed"))
    p.add_argument(
        "--weights-dir",
        type=Path,
        help="ai-image.onnx + ai-image.json to measure (default: the shipped ones)",
    )
    args = p.parse_args()
    det = _detector(args.weights_dir)
    result: dict = {}
    if args.only in (None, "speed"):
        result["speed"] = bench_speed(det)
    if args.only in (None, "fpr") and SHARED.is_dir():
        result["fpr_held_out_real_photos"] = bench_fpr(det)
    if args.only in (None, "dev") and (SHARED / "dev" / "genimg").is_dir():
        result["dev_genimg"] = bench_dev(det)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
