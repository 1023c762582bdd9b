"""Faces on a video's sampled frames, found once per file and shared by the detectors that need them.

``face-swap`` scores every face on the frames ``MediaItem.frames(fps)`` yields; ``lip-sync`` needs the
same faces' five points to cut a mouth patch from every frame in between. Face finding is a third of
what either costs on a talking-head video, so it runs once: whichever detector comes first detects
and tracks (``follow_faces`` with ``VIDEO_FACE_SETTINGS``) and leaves a ``SampledFaces`` on the item
(``MediaItem.shared``); the other reads it. Decoding is deterministic, so both see the same frames
at the same times, and a detector's result does not depend on which other detectors ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unmask.faces.detect import FaceBox
    from unmask.media.item import Frame, MediaItem

__all__ = ["VIDEO_FACE_SETTINGS", "SampledFaces", "faces_on_frames", "sampled_faces"]

# Chosen for face-swap's speed: a full detection every 3 s (and whenever a face is lost), O-net re-finding in
# between; on a 480 px copy of the frame, where a 64 px face of 720p video still spans 24 px (MTCNN finds faces
# from 12 px); faces from 52 px (a shallower pyramid than 40 px: 30 % less detection time). Together they cut
# detection from ~80 to ~15 ms per sampled 720p frame (bench/bench_faces.py speed, 2026-11); a new face is picked
# up within 3 s.
VIDEO_FACE_SETTINGS: dict[str, Any] = {"min_face_px": 52, "max_side_px": 480, "redetect_every_s": 3.0}

Assigned = tuple[tuple[int, "FaceBox"], ...]  # (track id, face) on one frame


@dataclass(frozen=True)
class SampledFaces:
    """The tracked faces of every frame ``MediaItem.frames(fps)`` yielded, in order (kept on the item under that fps)."""

    times_s: tuple[float, ...]
    faces: tuple[Assigned, ...]
    complete: bool  # every sampled frame of the video (False: the caller stopped after ``len(times_s)``)

    def __len__(self) -> int:
        return len(self.times_s)


def _key(fps: float) -> tuple[str, float]:
    return ("sampled-faces", float(fps))


def faces_on_frames(item: MediaItem, fps: float, frames: Iterable[Frame], *, max_frames: int | None = None) -> Iterator[tuple[Frame, Assigned]]:
    """``(frame, faces)`` for each of ``frames`` (= ``item.frames(fps, max_frames=max_frames)``, perhaps wrapped).

    Reads the item's ``SampledFaces`` when it covers these frames; otherwise detects and tracks,
    and when the frames run out leaves the result on the item for the next detector.
    """
    from unmask.faces.track import follow_faces

    cached: SampledFaces | None = item.shared.get(_key(fps))
    if cached is not None and (cached.complete or (max_frames is not None and len(cached) >= max_frames)):
        for i, frame in enumerate(frames):
            if i >= len(cached) or abs(frame.pts_s - cached.times_s[i]) > 1e-6:
                raise RuntimeError(f"{item.display_name}: frame {i} at {frame.pts_s:.3f} s was not among the frames faces were found on")
            yield frame, cached.faces[i]
        return
    times: list[float] = []
    faces: list[Assigned] = []
    for frame, assigned in follow_faces(frames, **VIDEO_FACE_SETTINGS):
        times.append(float(frame.pts_s))
        faces.append(tuple(assigned))
        yield frame, faces[-1]
    item.shared[_key(fps)] = SampledFaces(tuple(times), tuple(faces), complete=max_frames is None or len(times) < max_frames)


def sampled_faces(item: MediaItem, fps: float, *, max_frames: int | None = None) -> SampledFaces:
    """The tracked faces of the first ``max_frames`` frames ``item.frames(fps)`` yields (all without it), found once per item."""
    cached: SampledFaces | None = item.shared.get(_key(fps))
    if cached is None or not (cached.complete or (max_frames is not None and len(cached) >= max_frames)):
        for _ in faces_on_frames(item, fps, item.frames(fps, max_frames=max_frames), max_frames=max_frames):
            pass
        cached = item.shared[_key(fps)]
    n = len(cached) if max_frames is None else min(len(cached), max_frames)
    return SampledFaces(cached.times_s[:n], cached.faces[:n], cached.complete and n == len(cached))
