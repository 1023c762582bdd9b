"""Alignment of a face to the canonical crop every face model in unmask sees.

A face is described by five points in image pixels, in MTCNN's order:
left eye, right eye, nose tip, left mouth corner, right mouth corner
("left" = smaller x in the image). ``align_face`` finds the similarity
transform (rotation, uniform scale, translation; no shear, so the face keeps
its shape) that maps those points best onto ``CANONICAL_POINTS`` and warps
the image with it.

Why this template: it is the widely used ArcFace 112 px five-point template,
shrunk by ``FACE_SCALE`` about the crop centre and lifted by ``FACE_SHIFT_Y``,
so the whole head outline, the jaw and a band of background stay inside the
crop. Blending detectors need that band: the boundary a face swap leaves runs
along the face outline, which a tight recognition crop cuts away.
"""

from __future__ import annotations

import numpy as np

# ArcFace five-point template in a 112x112 crop (insightface), as fractions of the crop.
_ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
) / 112.0
FACE_SCALE = 0.62  # eye-to-mouth span is about 0.25 of the crop: forehead, chin and ears fit with margin
FACE_SHIFT_Y = 0.02  # the template sits a little low; lift it so chin and forehead get equal room
CANONICAL_POINTS = (_ARCFACE_112 - 0.5) * FACE_SCALE + 0.5 + np.array([0.0, FACE_SHIFT_Y])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity transform taking ``src`` points to ``dst`` (Umeyama 1991)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) point arrays, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    ss = (s**2).sum()
    if ss <= 1e-12 * len(src):
        raise ValueError("source points coincide: no transform")
    # In 2-D the best proper similarity (rotation + uniform scale, no reflection) is [[a, -b], [b, a]] with these
    # closed forms; they equal Umeyama's SVD solution with its reflection fix (checked to 1e-14), at 2-3x the speed
    # that lip-sync's per-frame mouth patches need.
    a = float((s * d).sum() / ss)
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / ss)
    m = np.empty((2, 3))
    m[:, :2] = ((a, -b), (b, a))
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def warp_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``matrix`` to (N, 2) ``points``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    a = matrix[:, :2]
    inv = np.linalg.inv(a)
    out = np.empty((2, 3))
    out[:, :2] = inv
    out[:, 2] = -inv @ matrix[:, 2]
    return out


def alignment_matrix(points5: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix mapping image pixels to the ``size`` x ``size`` canonical crop."""
    return similarity_transform(np.asarray(points5, dtype=np.float64).reshape(5, 2), CANONICAL_POINTS * size)


def align_face(image: np.ndarray, points5: np.ndarray, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Canonical ``size`` x ``size`` crop of the face at ``points5`` in an HxWx3 uint8 RGB ``image``.

    Returns ``(crop, matrix)``; ``matrix`` maps image pixels to crop pixels (use
    ``invert_affine`` to put a crop-sized heatmap back on the image). Parts of
    the crop outside the image are black.
    """
    from PIL import Image

    matrix = alignment_matrix(points5, size)
    crop = warp_affine(Image.fromarray(np.ascontiguousarray(image)), invert_affine(matrix), (size, size))
    return np.asarray(crop), matrix


def warp_affine(image, out_to_in: np.ndarray, size: tuple[int, int]):
    """A Pillow image resampled (bilinear) onto a ``size`` = (width, height) canvas through a 2x3 matrix mapping
    *output* pixels to *input* pixels (Pillow's AFFINE convention), with pixel centres at +0.5 in both frames."""
    from PIL import Image

    m = np.asarray(out_to_in, dtype=np.float64)
    t = m[:, 2] + m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return image.transform(size, Image.Transform.AFFINE, (m[0, 0], m[0, 1], t[0], m[1, 0], m[1, 1], t[1]), resample=Image.Resampling.BILINEAR)


def five_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """MTCNN-order five points from iBUG 68-point landmarks (eye centres, nose tip, mouth corners)."""
    lm = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])
