"""Faces across video frames: greedy matching by box overlap and landmark distance into tracks.

``FaceTracker`` takes the faces of one sampled frame at a time (``update``) and links
each to a running track when its box overlaps the track's last box (IoU >=
``iou_min``) or its five points lie close to the track's last ones (mean distance
<= ``max_point_dist`` of the face size, which keeps a fast-moving face whose boxes no
longer overlap). Pairs are taken best-first (greedy): sampled frames are far apart
and faces rarely cross, where the Hungarian algorithm would only help with crowds.
A track survives ``max_missed`` frames without a face (a blink of the detector, a
hand in front of the face) before it is closed; a face that comes back later starts
a new track.

``follow_faces`` runs detection and tracking over a frame stream: a full
``detect_faces`` on the first frame, every ``redetect_every_s`` seconds and whenever
a face is lost; in between, ``refine_faces`` re-finds the known faces with the
O-net alone, which is what keeps 720p video well above real time.

Imports numpy; detection (onnxruntime, Pillow) only when ``follow_faces`` runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from unmask.faces.detect import DETECT_MAX_SIDE_PX, MIN_FACE_PX, FaceBox, detect_faces, nms, refine_faces

__all__ = ["FaceTrack", "FaceTracker", "box_iou", "follow_faces", "track_faces"]


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """One face followed through a video: ``observations`` are ``(pts_s, FaceBox)`` in time order."""

    track_id: int
    observations: tuple[tuple[float, FaceBox], ...]

    def __post_init__(self) -> None:
        if not self.observations:
            raise ValueError(f"FaceTrack {self.track_id} needs at least one observation")
        times = [t for t, _ in self.observations]
        if any(b < a for a, b in zip(times, times[1:])):
            raise ValueError(f"FaceTrack {self.track_id}: observation times must not decrease, got {times}")

    @property
    def start_s(self) -> float:
        return self.observations[0][0]

    @property
    def end_s(self) -> float:
        return self.observations[-1][0]

    @property
    def times_s(self) -> tuple[float, ...]:
        return tuple(t for t, _ in self.observations)

    @property
    def faces(self) -> tuple[FaceBox, ...]:
        return tuple(f for _, f in self.observations)

    def __len__(self) -> int:
        return len(self.observations)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes.

    >>> box_iou((0, 0, 10, 10), (5, 0, 15, 10))
    0.3333333333333333
    """
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _point_distance(a: FaceBox, b: FaceBox) -> float:
    """Mean distance between the two faces' five points, in units of ``a``'s size."""
    return float(np.linalg.norm(a.points - b.points, axis=1).mean() / max(a.size_px, 1.0))


class FaceTracker:
    """Links per-frame faces into ``FaceTrack``s; feed frames in time order with ``update``.

    Parameters
    ----------
    iou_min : float, default=0.3
        Smallest box overlap that links a face to a track.
    max_point_dist : float, default=0.5
        Largest mean landmark distance, as a fraction of the face size, that links a
        face whose box does not overlap enough.
    max_missed : int, default=2
        Frames a track may go without a face before it is closed.
    """

    def __init__(self, *, iou_min: float = 0.3, max_point_dist: float = 0.5, max_missed: int = 2) -> None:
        if not 0 < iou_min <= 1:
            raise ValueError(f"iou_min must be in (0, 1], got {iou_min!r}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0 frames, got {max_missed!r}")
        self.iou_min, self.max_point_dist, self.max_missed = iou_min, max_point_dist, max_missed
        self._obs: dict[int, list[tuple[float, FaceBox]]] = {}
        self._missed: dict[int, int] = {}  # open tracks only
        self._next_id = 0
        self._last_t: float | None = None

    @property
    def open_tracks(self) -> dict[int, FaceBox]:
        """Track id → last face, for tracks still open."""
        return {tid: self._obs[tid][-1][1] for tid in self._missed}

    def update(self, t_s: float, faces: Iterable[FaceBox]) -> list[tuple[int, FaceBox]]:
        """Add one frame's faces (all of them, even none); returns ``(track_id, face)`` for each face."""
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError(f"frames must come in time order: {t_s:g}s after {self._last_t:g}s")
        self._last_t = t_s
        faces = list(faces)
        pairs = []
        for tid in self._missed:
            last = self._obs[tid][-1][1]
            for j, f in enumerate(faces):
                iou = box_iou(last.box, f.box)
                dist = _point_distance(last, f)
                if iou >= self.iou_min or dist <= self.max_point_dist:
                    pairs.append((iou - dist, tid, j))
        pairs.sort(key=lambda p: -p[0])
        taken_t: set[int] = set()
        assigned: dict[int, int] = {}
        for _, tid, j in pairs:
            if tid in taken_t or j in assigned:
                continue
            taken_t.add(tid)
            assigned[j] = tid
        for tid in list(self._missed):
            if tid in taken_t:
                self._missed[tid] = 0
            else:
                self._missed[tid] += 1
                if self._missed[tid] > self.max_missed:
                    del self._missed[tid]
        out = []
        for j, f in enumerate(faces):
            tid = assigned.get(j)
            if tid is None:
                tid, self._next_id = self._next_id, self._next_id + 1
                self._obs[tid] = []
                self._missed[tid] = 0
            self._obs[tid].append((t_s, f))
            out.append((tid, f))
        return out

    def tracks(self) -> tuple[FaceTrack, ...]:
        """Every track so far (open or closed), by id."""
        return tuple(FaceTrack(tid, tuple(obs)) for tid, obs in sorted(self._obs.items()))


def track_faces(detections: Iterable[tuple[float, Iterable[FaceBox]]], **tracker_options: Any) -> tuple[FaceTrack, ...]:
    """Tracks from ``(pts_s, faces)`` per sampled frame, in time order (see ``FaceTracker``)."""
    tracker = FaceTracker(**tracker_options)
    for t, faces in detections:
        tracker.update(t, faces)
    return tracker.tracks()


class _FrameLike(Protocol):
    pts_s: float
    rgb: np.ndarray


def follow_faces(
    frames: Iterable[_FrameLike],
    *,
    tracker: FaceTracker | None = None,
    min_face_px: float = MIN_FACE_PX,
    max_side_px: int | None = DETECT_MAX_SIDE_PX,
    redetect_every_s: float = 2.0,
) -> Iterator[tuple[Any, list[tuple[int, FaceBox]]]]:
    """Detect and track faces over a stream of frames (``unmask.media.Frame`` or anything with ``pts_s`` and ``rgb``).

    Yields ``(frame, [(track_id, FaceBox), ...])`` per frame, so a caller can score each
    face while the frame is in memory; ``tracker.tracks()`` gives the tracks afterwards.
    Full detection runs on the first frame, whenever ``redetect_every_s`` seconds have
    passed since the last one, and when a known face is lost; otherwise the known faces
    are re-found with ``refine_faces``. ``min_face_px`` and ``max_side_px`` go to ``detect_faces``.
    """
    tracker = tracker if tracker is not None else FaceTracker()
    last_full: float | None = None
    known: list[FaceBox] = []
    for frame in frames:
        t = float(frame.pts_s)
        faces: list[FaceBox] = []
        due = last_full is None or not known or t - last_full >= redetect_every_s - 1e-6
        if not due:
            faces = refine_faces(frame.rgb, known)
            if len(faces) > 1:  # two tracks converged on one face
                keep = nms(np.array([f.box for f in faces]), np.array([f.score for f in faces]), 0.5)
                faces = [faces[i] for i in keep]
            due = len(faces) < len(known)
        if due:
            faces = detect_faces(frame.rgb, min_face_px=min_face_px, max_side_px=max_side_px)
            last_full = t
        known = faces
        yield frame, tracker.update(t, faces)
