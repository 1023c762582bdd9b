"""Lower-face fakes made from real talking clips, scored by ``face-swap`` and ``lip-sync`` end to end.

    python -m unmask.eval.lower_face [--data ../shared/data] [--json out/lower-face.json]

Lip-sync tools (Wav2Lip and kin) regenerate the mouth and jaw of a real video at low
resolution and paste it back. No such tool runs here, so each held-out talking clip of
``unmask.training.lipsync_calibrate`` (real faces, real sound) is remade three ways, every
frame, in the canonical face crop (``unmask.faces.align``) and warped back:

- ``paste-shifted``: the lower face of the frame 0.5 s later (wrapping round), so the mouth
  runs ahead of the voice — a lip-sync fake driven by the wrong audio;
- ``paste-frozen``: the lower face of the clip's first frame on every frame — a mouth that
  does not move;
- ``paste-same``: the frame's own lower face — in sync, only the paste's traces.

The pasted region is a soft ellipse over mouth, chin and jaw (below the nose); the source
goes through a 96 px round trip (the resolution Wav2Lip generates at) and a small colour
shift, which is what leaves a seam. The real clip is re-encoded the same way (H.264 CRF 18,
AAC) without changes. Every video is scanned with ``face-swap`` and ``lip-sync``; the table
gives AUC of each method against the re-encoded real clips and where face-swap's boundary
map puts its weight (share in the pasted region of the crop, pasted vs real frames).
Needs ``../shared``; the clips come from ``shared/data/faces/videos`` and ``shared/data/talking``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

CROP = 224
SHIFT_S = 0.5
METHODS = ("paste-shifted", "paste-frozen", "paste-same")


def lower_face_mask(size: int = CROP) -> np.ndarray:
    """(size, size) float32 soft ellipse over mouth, chin and jaw in the canonical crop (1 inside, 0 outside)."""
    from PIL import Image, ImageFilter

    from unmask.faces.align import CANONICAL_POINTS

    pts = CANONICAL_POINTS * size
    eyes_y, nose, mouth = pts[:2, 1].mean(), pts[2], pts[3:].mean(axis=0)
    inter_eye = float(pts[1, 0] - pts[0, 0])
    top = nose[1] + 0.15 * (mouth[1] - nose[1])  # just under the nose, as Wav2Lip's lower half
    chin = mouth[1] + 0.65 * (mouth[1] - eyes_y)  # mouth to chin is about two thirds of eyes to mouth
    cx, cy = mouth[0], (top + chin) / 2
    rx, ry = 0.95 * inter_eye, (chin - top) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    hard = (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0).astype(np.uint8) * 255
    soft = Image.fromarray(hard).filter(ImageFilter.GaussianBlur(radius=size * 0.025))
    return np.asarray(soft, dtype=np.float32) / 255.0


def _degrade(crop: np.ndarray, colour_shift: np.ndarray) -> np.ndarray:
    """The generator's look: a 96 px round trip and a small colour shift."""
    from PIL import Image

    im = Image.fromarray(crop).resize((96, 96), Image.Resampling.BILINEAR).resize((CROP, CROP), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(im, dtype=np.float32) + colour_shift, 0, 255)


def paste(frame: np.ndarray, points: np.ndarray, src: np.ndarray, src_points: np.ndarray, mask: np.ndarray, colour_shift: np.ndarray) -> np.ndarray:
    """``frame`` with the lower face of ``src`` (aligned on the five points) blended in through ``mask``."""
    from PIL import Image

    from unmask.faces.align import align_face, alignment_matrix, warp_affine

    crop, _ = align_face(src, src_points, CROP)
    layer = np.concatenate([_degrade(crop, colour_shift), mask[..., None] * 255.0], axis=2)
    frame_to_crop = alignment_matrix(points, CROP)  # output (frame) pixels -> input (crop) pixels
    size = frame.shape[1], frame.shape[0]
    warped = np.stack([np.asarray(warp_affine(Image.fromarray(layer[..., k].astype(np.float32), mode="F"), frame_to_crop, size))
                       for k in range(4)], axis=2)
    alpha = warped[..., 3:] / 255.0
    return np.clip(alpha * warped[..., :3] + (1 - alpha) * frame, 0, 255).astype(np.uint8)


def face_points(frames: list[np.ndarray], times: np.ndarray) -> list[np.ndarray | None]:
    """Five points of the main face on every frame (found on every frame, the O-net re-finding it between full detections)."""
    from unmask.faces import follow_faces
    from unmask.media.item import Frame

    per_frame: list[dict[int, np.ndarray]] = []
    for _, assigned in follow_faces((Frame(i, float(t), f) for i, (t, f) in enumerate(zip(times, frames))), redetect_every_s=1.0):
        per_frame.append({tid: face.points for tid, face in assigned})
    counts: dict[int, int] = {}
    for d in per_frame:
        for tid in d:
            counts[tid] = counts.get(tid, 0) + 1
    if not counts:
        return [None] * len(frames)
    main = max(counts, key=counts.__getitem__)
    return [d.get(main) for d in per_frame]


def make_variants(frames: list[np.ndarray], times: np.ndarray, fps: float, seed: int) -> dict[str, list[np.ndarray]] | None:
    pts = face_points(frames, times)
    have = [i for i, p in enumerate(pts) if p is not None]
    if len(have) < 0.8 * len(frames):
        return None
    mask = lower_face_mask()
    colour = np.random.default_rng(seed).uniform(-6, 6, 3)  # one per clip, as one generator run would give
    shift = int(round(SHIFT_S * fps))
    out: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    first = have[0]
    rank = {i: r for r, i in enumerate(have)}  # position of each frame with a face among those frames
    for i, f in enumerate(frames):
        if pts[i] is None:
            for m in METHODS:
                out[m].append(f)
            continue
        j = have[(rank[i] + shift) % len(have)]
        out["paste-shifted"].append(paste(f, pts[i], frames[j], pts[j], mask, colour))
        out["paste-frozen"].append(paste(f, pts[i], frames[first], pts[first], mask, colour))
        out["paste-same"].append(paste(f, pts[i], f, pts[i], mask, colour))
    return out


def boundary_share(path: Path, model, region: np.ndarray, n_frames: int = 6) -> float | None:
    """Share of face-swap's boundary-map weight (sigmoid of its logits) inside ``region`` (``lower_face_mask`` at the
    model's crop size) over a few frames of the encoded video; ``model`` is a loaded ``FaceSwapModel``."""
    from PIL import Image

    from unmask.detectors.face_swap import score_faces
    from unmask.faces import detect_faces
    from unmask.testing.talking import read_clip

    frames, _, _, _ = read_clip(path)
    shares = []
    for k in np.linspace(0, len(frames) - 1, n_frames).astype(int):
        faces = detect_faces(frames[k])
        if not faces:
            continue
        s = score_faces(model, frames[k], faces[:1])[0]
        w = 1.0 / (1.0 + np.exp(-s.mask))
        r = np.asarray(Image.fromarray(region, mode="F").resize(w.shape[::-1], Image.Resampling.BILINEAR))
        shares.append(float((w * r).sum() / max(1e-9, w.sum())))
    return float(np.mean(shares)) if shares else None


def main(argv: list[str] | None = None) -> int:
    import unmask
    from unmask.config import ScanOptions
    from unmask.detectors.face_swap import FaceSwapModel
    from unmask.eval.metrics import roc_auc
    from unmask.testing.talking import read_clip, write_clip
    from unmask.training import lipsync_calibrate as lc

    ap = argparse.ArgumentParser(prog="python -m unmask.eval.lower_face", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--all-clips", action="store_true", help="every usable clip, not only lip-sync's held-out half")
    args = ap.parse_args(argv)
    paths = lc.clip_paths(args.data)
    if not paths:
        print(f"no talking clips under {args.data}", file=sys.stderr)
        return 2
    held = lc.heldout_groups(paths)
    chosen = [p for p in paths if args.all_clips or lc.group_of(p) in held]
    opts = ScanOptions(detectors=("face-swap", "lip-sync"))
    model = FaceSwapModel()  # loaded once for the boundary-map measure (the scans load their own)
    region = lower_face_mask(model.size)
    scores: dict[str, dict[str, list[float]]] = {m: {"face-swap": [], "lip-sync": []} for m in ("real", *METHODS)}
    shares: dict[str, list[float]] = {m: [] for m in ("real", *METHODS)}
    clips_used = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, p in enumerate(chosen):
            frames, times, fps, audio = read_clip(p)
            variants = make_variants(frames, times, fps, seed=n)
            if variants is None:
                print(f"  {p.name}: face not found on enough frames, skipped", file=sys.stderr)
                continue
            found: dict[str, dict[str, float | None]] = {}
            for m, fr in (("real", frames), *variants.items()):
                path = write_clip(Path(tmp) / f"{n}-{m}.mp4", fr, fps, audio)
                rep = unmask.scan(path, options=opts)
                found[m] = {f.detector: f.probability_fake for f in rep.findings}
                sh = boundary_share(path, model, region)
                if sh is not None:
                    shares[m].append(sh)
            if any(v is None for d in found.values() for v in d.values()):
                print(f"  {p.name}: a detector abstained ({found}), skipped", file=sys.stderr)
                continue
            for m, d in found.items():
                for det, prob in d.items():
                    scores[m][det].append(float(prob))
            clips_used.append(p.name)
            print(f"  {p.parent.name}/{p.name}: " + "; ".join(f"{m} {d['face-swap']:.2f}/{d['lip-sync']:.2f}" for m, d in found.items()), file=sys.stderr)
    result: dict = {"clips": clips_used, "methods": {}}
    for m in METHODS:
        row = {}
        for det in ("face-swap", "lip-sync"):
            real, fake = np.array(scores["real"][det]), np.array(scores[m][det])
            labels = np.r_[np.zeros(len(real), int), np.ones(len(fake), int)]
            both = np.r_[real, fake]
            row[det] = {"auc": round(float(roc_auc(labels, both)), 3) if len(real) and len(fake) else None,
                        "flagged_at_0.5": round(float(np.mean(fake >= 0.5)), 3) if len(fake) else None}
        best = np.maximum(np.array(scores[m]["face-swap"]), np.array(scores[m]["lip-sync"]))
        best_real = np.maximum(np.array(scores["real"]["face-swap"]), np.array(scores["real"]["lip-sync"]))
        row["either"] = {"auc": round(float(roc_auc(np.r_[np.zeros(len(best_real), int), np.ones(len(best), int)], np.r_[best_real, best])), 3)
                         if len(best) else None}
        row["boundary_share_in_pasted_region"] = round(float(np.mean(shares[m])), 3) if shares[m] else None
        result["methods"][m] = row
    result["real"] = {"flagged_at_0.5": {det: round(float(np.mean(np.array(scores["real"][det]) >= 0.5)), 3) for det in ("face-swap", "lip-sync")},
                      "boundary_share_in_pasted_region": round(float(np.mean(shares["real"])), 3) if shares["real"] else None}
    print(f"{len(clips_used)} clips")
    print("| method | face-swap AUC | face-swap flagged | lip-sync AUC | lip-sync flagged | either (max) AUC | boundary map in pasted region |")
    print("|---|---|---|---|---|---|---|")
    for m, row in result["methods"].items():
        print(f"| {m} | {row['face-swap']['auc']} | {row['face-swap']['flagged_at_0.5']} | {row['lip-sync']['auc']} | {row['lip-sync']['flagged_at_0.5']} | "
              f"{row['either']['auc']} | {row['boundary_share_in_pasted_region']} |")
    r = result["real"]
    print(f"| real (re-encoded) | – | {r['flagged_at_0.5']['face-swap']} | – | {r['flagged_at_0.5']['lip-sync']} | – | {r['boundary_share_in_pasted_region']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
