"""Calibrate the exported ``ai-image`` model and measure false positives on held-out real photos.

``python -m unmask.training.calibrate_images --onnx unmask/detectors/weights/ai-image.onnx --val out/ai_run3/val.npz --data ../shared/data``

1. The slope ``a`` of the Platt scaling comes from the training run's
   validation split (``val.npz``: held-out sources, held-out generators,
   128 px crops after the degradation chain).
2. The intercept puts the default threshold (probability 0.5) at the
   ``1 - TARGET_FPR`` quantile of whole-image logits of the *calibration* reals
   (bsds500-test first 75 files, webmorph-smiling_front faces; each plain, JPEG
   q75 and 0.5x bicubic), scored exactly as the detector scores them. Real
   photos are what the false-positive target is about, and whole images are what
   the detector sees; 128 px crops are not.
3. It then reports the false-positive rate at 0.5 on the *report* reals
   (bsds500-test last 75, kodak24, webmorph-neutral_front), which touched
   neither training nor calibration.

Writes ``ai-image.json`` beside the ONNX file. The dev set is never read.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

TARGET_FPR = (
    0.03  # on calibration reals; leaves room under the 5 % target on unseen photos
)
PERTURBATIONS = ("plain", "jpeg:75", "resize:0.5")


def perturb(rgb: np.ndarray, name: str) -> np.ndarray:
    from PIL import Image

    im = Image.fromarray(rgb)
    if name == "jpeg:75":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=75)
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("RGB"))
    if name == "resize:0.5":
        return np.asarray(
            im.resize(
                (max(1, round(im.width * 0.5)), max(1, round(im.height * 0.5))),
                Image.Resampling.BICUBIC,
            )
        )
    return rgb


def real_sets(data: Path) -> tuple[list[Path], list[Path]]:
    """(calibration reals, report reals), split by source as the module docstring says."""
    test = sorted((data / "photos" / "bsds500-test").glob("*.jpg"))
    faces = [
        json.loads(line)
        for line in (data / "faces" / "faces.jsonl").read_text().splitlines()
    ]
    by_source = lambda s: sorted(
        data / "faces" / f["file"] for f in faces if f["source"] == s
    )
    calib = test[:75] + by_source("webmorph-smiling_front")
    report = (
        test[75:]
        + sorted((data / "photos" / "kodak24").glob("*.png"))
        + by_source("webmorph-neutral_front")
    )
    return calib, report


def image_logits(model, paths: list[Path]) -> dict[str, np.ndarray]:
    from PIL import Image

    from unmask.detectors.ai_image import score_rgb

    out: dict[str, list[float]] = {p: [] for p in PERTURBATIONS}
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for name in PERTURBATIONS:
            out[name].append(score_rgb(model, perturb(rgb, name)).logit)
    return {k: np.asarray(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    from unmask.training.train_images import fit_platt

    p = argparse.ArgumentParser(
        prog="python -m unmask.training.calibrate_images",
        description=__doc__.split("\n")[0],
    )
    p.add_argument(
        "--onnx", type=Path, default=Path("unmask/detectors/weights/ai-image.onnx")
    )
    p.add_argument(
        "--val", type=Path, required=True, help="val.npz written by train_images"
    )
    p.add_argument(
        "--data", type=Path, required=True, help="../shared/data (photos/, faces/)"
    )
    p.add_argument(
        "--run", default="", help="free text recorded in the json: which training run"
    )
    args = p.parse_args(argv)

    from unmask.detectors.ai_image import META_FILE, AiImageModel

    val = np.load(args.val)
    a, _ = fit_platt(val["logits"], val["labels"])
    sha = hashlib.sha256(args.onnx.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        meta = {
            "weights": args.onnx.name,
            "sha256": sha,
            "calibration": {"a": a, "b": 0.0, "describe": "uncalibrated"},
        }
        (Path(tmp) / META_FILE).write_text(json.dumps(meta))
        (Path(tmp) / args.onnx.name).write_bytes(args.onnx.read_bytes())
        model = AiImageModel(Path(tmp))
        calib_paths, report_paths = real_sets(args.data)
        calib = image_logits(model, calib_paths)
        report = image_logits(model, report_paths)
    threshold = float(np.quantile(np.concatenate(list(calib.values())), 1 - TARGET_FPR))
    b = -a * threshold
    fpr = {name: float((v > threshold).mean()) for name, v in report.items()}
    fpr_calib = {name: float((v > threshold).mean()) for name, v in calib.items()}
    meta = {
        "weights": args.onnx.name,
        "sha256": sha,
        "calibration": {
            "a": a,
            "b": b,
            "threshold_logit": threshold,
            "describe": f"platt slope from held-out generators; intercept sets p=0.5 at {TARGET_FPR:.0%} FPR on held-out real photos (bsds500-test[:75], webmorph-smiling)",
        },
        "input": {
            "layout": "NCHW",
            "range": "RGB float32 [0, 1]",
            "multiple_of_px": 16,
            "resize": "never",
        },
        "training_run": args.run,
        "measured": {
            "report_reals": {"files": len(report_paths), "fpr_at_0.5": fpr},
            "calibration_reals": {"files": len(calib_paths), "fpr_at_0.5": fpr_calib},
            "val_auc": float(_auc(val["labels"], val["logits"])),
        },
    }
    (args.onnx.parent / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))
    return 0


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from unmask.training.train_images import auc

    return auc(labels, scores)


if __name__ == "__main__":
    sys.exit(main())
