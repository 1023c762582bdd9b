"""Measure an exported ``face-swap`` model on a labelled face dev set (measurement only: nothing is fitted here).

``python -m unmask.training.faces_dev ../shared/data/dev/faces [--onnx unmask/detectors/weights/face-swap.onnx]``

A stand-in for ``unmask eval DIR --detectors face-swap`` that scores the exported
graph directly, so a checkpoint can be measured before (or without) the
detector: every file of ``labels.csv`` is opened with ``unmask.media``, sampled
at 2 frames/s (an image is one frame), faces are found by
``unmask.faces.detect_faces``, the largest face per frame is aligned with
``unmask.faces.align_face`` and scored; a file's logit is the mean over its
frames (videos are scored as videos). Aligned crops are cached per file and
perturbation (``--crops``), so rescoring another checkpoint takes seconds.

Prints AUC overall and per method (fakes of a method vs all reals, and vs the
reals of the same source), and the false-positive rate of the reals at the
calibrated default threshold (p = 0.5 from the sidecar json), plain, JPEG q70
and 0.5x. Files with no face are counted, not scored.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

PERTURBATIONS = ("plain", "jpeg:70", "resize:0.5")
VIDEO_FPS, MAX_FRAMES = 2.0, 24


def perturb(rgb: np.ndarray, name: str) -> np.ndarray:
    """``rgb`` after perturbation ``name`` (one of ``PERTURBATIONS``): unchanged, JPEG q70, or 0.5x bicubic."""
    from PIL import Image

    if name == "plain":
        return rgb
    im = Image.fromarray(rgb)
    if name == "jpeg:70":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=70)
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("RGB"))
    return np.asarray(im.resize((max(1, round(im.width * 0.5)), max(1, round(im.height * 0.5))), Image.Resampling.BICUBIC))


def face_crops(path: Path, size_px: int, perturbations: tuple[str, ...] = PERTURBATIONS) -> dict[str, np.ndarray]:
    """Perturbation → (F, S, S, 3) uint8: the largest face of each sampled frame, aligned (F = 0: no face).

    The file is decoded once; every perturbation is applied to the same frames.
    """
    from unmask.faces import align_face, detect_faces
    from unmask.media.item import open_media

    crops: dict[str, list[np.ndarray]] = {name: [] for name in perturbations}
    for frame in open_media(path).frames(VIDEO_FPS, max_frames=MAX_FRAMES):
        decoded = np.asarray(frame.rgb)
        for name in perturbations:
            rgb = perturb(decoded, name)
            faces = detect_faces(rgb)
            if faces:
                face = max(faces, key=lambda f: f.size_px)
                crops[name].append(align_face(rgb, face.points, size_px)[0])
    return {name: np.stack(c) if c else np.zeros((0, size_px, size_px, 3), np.uint8) for name, c in crops.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unmask.training.faces_dev", description=__doc__.split("\n")[0])
    p.add_argument("dataset", type=Path, help="folder with labels.csv (path,label,method,source)")
    p.add_argument("--onnx", type=Path, default=Path(__file__).resolve().parents[1] / "detectors" / "weights" / "face-swap.onnx")
    p.add_argument("--crops", type=Path, default=Path("out/faces-dev-crops.npz"), help="cache of aligned crops")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)

    import onnxruntime as ort

    from unmask.training.faces_calibrate import onnx_logits
    from unmask.training.train_images import auc

    meta = json.loads(args.onnx.with_suffix(".json").read_text())
    size, cal = int(meta["input"]["size"]), meta["calibration"]
    session = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
    rows = list(csv.DictReader((args.dataset / "labels.csv").open()))
    cache: dict[str, np.ndarray] = dict(np.load(args.crops)) if args.crops.is_file() else {}
    logits: dict[str, list[float]] = {pname: [] for pname in PERTURBATIONS}
    for row in rows:
        missing = tuple(pname for pname in PERTURBATIONS if f"{size}|{pname}|{row['path']}" not in cache)
        if missing:
            for pname, crops in face_crops(args.dataset / row["path"], size, missing).items():
                cache[f"{size}|{pname}|{row['path']}"] = crops
        for pname in PERTURBATIONS:
            crops = cache[f"{size}|{pname}|{row['path']}"]
            logits[pname].append(float(np.mean(onnx_logits(session, crops))) if len(crops) else np.nan)
    args.crops.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.crops, **cache)

    y = np.array([r["label"] == "fake" for r in rows])
    method = np.array([r["method"] if r["label"] == "fake" else "" for r in rows])
    domain = np.array(["ff++" if "cnndetection" in r["path"] else "deepfacelive" for r in rows])
    s = np.array(logits["plain"])
    ok = ~np.isnan(s)
    res: dict = {"files": len(rows), "no_face": int((~ok).sum()), "auc_overall": auc(y[ok], s[ok]), "methods": {}}
    for m in sorted(set(method[y])):
        sel = (method == m) & ok
        own = ok & ~y & (domain == domain[method == m][0])
        res["methods"][m] = {
            "fakes": int(sel.sum()),
            "auc_vs_all_reals": auc(np.r_[np.ones(sel.sum()), np.zeros((ok & ~y).sum())], np.r_[s[sel], s[ok & ~y]]),
            "auc_vs_own_reals": auc(np.r_[np.ones(sel.sum()), np.zeros(own.sum())], np.r_[s[sel], s[own]]),
            "tpr_at_0.5": float((s[sel] * cal["a"] + cal["b"] > 0).mean()),
        }
    for d in ("ff++", "deepfacelive"):
        sel = ok & (domain == d)
        res[f"auc_{d}"] = auc(y[sel], s[sel])
    res["real_fpr_at_0.5"] = {}
    for pname in PERTURBATIONS:
        v = np.array(logits[pname])
        real = ~y & ~np.isnan(v)
        res["real_fpr_at_0.5"][pname] = {
            "all": float((v[real] * cal["a"] + cal["b"] > 0).mean()),
            **{d: float((v[real & (domain == d)] * cal["a"] + cal["b"] > 0).mean()) for d in ("ff++", "deepfacelive")},
        }
        res.setdefault("auc_by_perturbation", {})[pname] = auc(y[~np.isnan(v)], v[~np.isnan(v)])
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
