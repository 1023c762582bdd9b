"""Makers of face test media: real faces from ``../shared``, self-blended fakes, face videos.

- ``shared_faces`` reads annotated real faces (image + five points from the 68-point
  landmarks) from ``../shared/data/faces`` when it is present, else yields nothing, so
  tests that need a real face can skip cleanly.
- ``self_blend`` makes a face swap whose ground truth is known by construction, the
  Self-Blended Images way (Shiohara & Yamasaki, CVPR 2022): a colour-jittered, slightly
  scaled copy of the face is blended back into the same picture inside a soft mask
  around the inner face. The identity does not change; the blending boundary and the
  colour mismatch are exactly what a swap leaves and what ``face-swap`` must notice.
- ``make_face_video`` encodes an H.264 clip with a face moving over a background.

Nothing here is imported by a scan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from unmask.faces.align import five_from_68

__all__ = ["SharedFace", "face_mask", "make_face_video", "self_blend", "shared_faces", "shared_root"]


def shared_root() -> Path | None:
    """``../shared`` beside the repository (or ``UNMASK_SHARED``), if it holds face data."""
    env = os.environ.get("UNMASK_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return root if (root / "data" / "faces" / "faces.jsonl").is_file() else None


@dataclass(frozen=True, slots=True)
class SharedFace:
    path: Path
    source: str
    rgb: np.ndarray  # (H, W, 3) uint8
    points5: np.ndarray  # (5, 2) from the 68-point annotation, MTCNN order


def shared_faces(*, sources: tuple[str, ...] = ("helen", "afw"), min_side_px: int = 300, limit: int | None = None) -> Iterator[SharedFace]:
    """Annotated (68-point) faces from ``../shared/data/faces``, in file order; nothing when absent."""
    from PIL import Image

    root = shared_root()
    if root is None:
        return
    base = root / "data" / "faces"
    n = 0
    with open(base / "faces.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("landmark_scheme") != "68pt" or rec["source"] not in sources:
                continue
            if min(rec["width"], rec["height"]) < min_side_px:
                continue
            with Image.open(base / rec["file"]) as im:
                rgb = np.asarray(im.convert("RGB"))
            yield SharedFace(base / rec["file"], rec["source"], rgb, five_from_68(rec["landmarks"]))
            n += 1
            if limit is not None and n >= limit:
                return


def face_mask(shape_hw: tuple[int, int], points5: np.ndarray, *, grow: float = 1.0, feather: float = 0.25) -> np.ndarray:
    """Soft (H, W) float32 mask in [0, 1]: an ellipse over the inner face from the five points.

    The ellipse is centred between the eyes and the mouth, spans the eye-to-mouth
    distance 1.9x vertically and the eye distance 2.2x horizontally (times ``grow``),
    is rotated with the eye line, and fades out over ``feather`` of its radius.
    """
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
    centre = (eyes + mouth) / 2
    dx, dy = p[1] - p[0]
    angle = np.arctan2(dy, dx)
    eye_d = np.hypot(dx, dy)
    em_d = np.hypot(*(mouth - eyes))
    ax, ay = 1.1 * max(eye_d, 0.8 * em_d) * grow, 0.95 * max(em_d, 0.8 * eye_d) * grow + 1e-6
    h, w = shape_hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = xx + 0.5 - centre[0], yy + 0.5 - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    r = np.sqrt(((u * c + v * s) / ax) ** 2 + ((-u * s + v * c) / ay) ** 2)
    return np.clip((1.0 - r) / feather, 0.0, 1.0).astype(np.float32) ** 1.5


def self_blend(rgb: np.ndarray, points5: np.ndarray, *, seed: int = 0, strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended fake of the face at ``points5``: ``(fake (H, W, 3) uint8, mask (H, W) float32)``.

    The source is the same picture with its colours jittered (per-channel gain and
    offset, a little brightness) and scaled about the face centre by a few percent;
    it is pasted back through ``face_mask``. ``strength`` scales the jitter.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.asarray(rgb, dtype=np.float32)
    h, w = img.shape[:2]
    gain = 1.0 + strength * rng.uniform(0.06, 0.12, 3) * rng.choice([-1, 1], 3)
    offset = strength * rng.uniform(-12, 12, 3)
    src = np.clip(img * gain + offset, 0, 255)
    # Scale the source about the face centre (a swapped face never has exactly the same size).
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    cx, cy = p.mean(0)
    k = 1.0 + strength * rng.uniform(0.03, 0.06) * rng.choice([-1, 1])
    src_im = Image.fromarray(src.astype(np.uint8))
    src_im = src_im.transform((w, h), Image.Transform.AFFINE, (1 / k, 0, cx - cx / k, 0, 1 / k, cy - cy / k), resample=Image.Resampling.BILINEAR)
    src = np.asarray(src_im, dtype=np.float32)
    mask = face_mask((h, w), p, grow=rng.uniform(0.9, 1.1))
    fake = img * (1 - mask[..., None]) + src * mask[..., None]
    return np.clip(np.round(fake), 0, 255).astype(np.uint8), mask


def make_face_video(
    path: str | os.PathLike[str],
    face_rgb: np.ndarray | None,
    points5: np.ndarray | None = None,
    *,
    size: tuple[int, int] = (1280, 720),
    seconds: float = 4.0,
    fps: int = 30,
    face_px: int = 260,
    crf: int = 23,
    preset: str = "veryfast",
    second_face_rgb: np.ndarray | None = None,
) -> Path:
    """H.264 MP4 (yuv420p) of a face drifting over a moving textured background.

    ``face_rgb`` is pasted at ``face_px`` px on its longer side (None: no face, only the
    background). ``second_face_rgb``, if given, stands still at the right edge, at the
    same size. ``size`` is (width_px, height_px).
    """
    import av
    from PIL import Image

    path = Path(path)
    width, height = size
    n = round(seconds * fps)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 160 + 40, yy / height * 120 + 60, (xx + yy) / (width + height) * 100 + 80], axis=2)
    base += rng.normal(0, 6, base.shape).astype(np.float32)  # sensor-like grain keeps the encoder honest
    base = base.clip(0, 255).astype(np.uint8)  # once, not per frame: rolling commutes with clipping

    def fit(rgb: np.ndarray | None) -> np.ndarray | None:
        if rgb is None:
            return None
        fh, fw = rgb.shape[:2]
        s = face_px / max(fh, fw)
        return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((max(2, round(fw * s)), max(2, round(fh * s))), Image.Resampling.BILINEAR))

    face, second = fit(face_rgb), fit(second_face_rgb)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        stream.time_base = Fraction(1, fps)
        for i in range(n):
            t = i / fps
            frame = np.roll(base, int(40 * t), axis=1)  # a copy: the faces are pasted into it
            if face is not None:
                fh, fw = face.shape[:2]
                # A slow sway (8 s period, a tenth of the free width): as far as a talking head moves.
                x0 = int((width - fw) * (0.4 + 0.1 * np.sin(2 * np.pi * t / 8.0)))
                y0 = int((height - fh) * (0.45 + 0.05 * np.cos(2 * np.pi * t / 8.0)))
                frame[y0 : y0 + fh, x0 : x0 + fw] = face
            if second is not None:
                sh, sw = second.shape[:2]
                frame[(height - sh) // 2 : (height - sh) // 2 + sh, width - sw :] = second
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
