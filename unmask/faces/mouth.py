"""The mouth region of a face, frame by frame, and how much it moves (for ``lip-sync``).

``mouth_patch`` warps a small grey patch around the mouth out of a frame, using
the face's five points (MTCNN order) and the same similarity alignment as
``unmask.faces.align``: the template puts the mouth corners at fixed places, with
the patch reaching from below the nose to the chin, so the jaw's opening shows too.
Faces are detected on a few frames only; ``unmask.detectors.lip_sync.mouth_tracks``
interpolates their points for the frames in between. Because the patch follows the
*interpolated* face and not each frame's lips, lip movement stays visible as change
inside the patch. ``normalise_patches`` removes each patch's brightness and one contrast scale for the
sequence (``unmask.detectors.lip_sync.mouth_signals`` reads the opening from them).

Imports numpy only.
"""

from __future__ import annotations

import numpy as np

from unmask.faces.align import CANONICAL_POINTS, similarity_transform

PATCH_W_PX, PATCH_H_PX = 48, 36
# Mouth corners land at x = 14 and 34 px, y = 13 px: 20 px of mouth width, with
# room to the sides for the cheeks and 23 px below the lips for the chin and jaw.
_MOUTH_LEFT = np.array([14.0, 13.0])
_MOUTH_RIGHT = np.array([34.0, 13.0])


def _mouth_template() -> np.ndarray:
    """The five canonical points scaled and shifted so the mouth corners sit where the patch wants them."""
    c = CANONICAL_POINTS
    scale = (_MOUTH_RIGHT[0] - _MOUTH_LEFT[0]) / (c[4, 0] - c[3, 0])
    mid = (c[3] + c[4]) / 2
    return (c - mid) * scale + (_MOUTH_LEFT + _MOUTH_RIGHT) / 2


MOUTH_TEMPLATE = _mouth_template()


def mouth_matrix(points5: np.ndarray) -> np.ndarray:
    """2x3 matrix mapping image pixels to mouth-patch pixels."""
    return similarity_transform(np.asarray(points5, dtype=np.float64).reshape(5, 2), MOUTH_TEMPLATE)


_PATCH_GRID = np.stack(np.meshgrid(np.arange(PATCH_W_PX) + 0.5, np.arange(PATCH_H_PX) + 0.5), axis=-1).reshape(-1, 2)


def mouth_patch(image: np.ndarray, points5: np.ndarray) -> np.ndarray:
    """(PATCH_H_PX, PATCH_W_PX) float32 grey patch of the mouth of the face at ``points5``.

    ``image`` is an HxW uint8 grey (luma) frame or an HxWx3 uint8 RGB one. Bilinear
    sampling in numpy (about 50 us a patch: it runs on every video frame); parts
    outside the image repeat the edge pixels.
    """
    m = mouth_matrix(points5)
    inv = np.linalg.inv(m[:, :2])
    t = -inv @ m[:, 2]
    # pixel centres at +0.5 in both frames
    xy = _PATCH_GRID @ inv.T + t - 0.5
    h, w = image.shape[:2]
    x0 = np.floor(xy[:, 0]).astype(np.int64)
    y0 = np.floor(xy[:, 1]).astype(np.int64)
    fx = (xy[:, 0] - x0).astype(np.float32)
    fy = (xy[:, 1] - y0).astype(np.float32)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    if image.ndim == 3:
        img = image.astype(np.float32, copy=False) if image.dtype != np.uint8 else image

        def px(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
            v = img[yy, xx].astype(np.float32)
            return v @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    else:

        def px(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
            return image[yy, xx].astype(np.float32)

    top = px(ya, xa) * (1 - fx) + px(ya, xb) * fx
    bottom = px(yb, xa) * (1 - fx) + px(yb, xb) * fx
    return (top * (1 - fy) + bottom * fy).reshape(PATCH_H_PX, PATCH_W_PX)


def normalise_patches(patches: np.ndarray) -> np.ndarray:
    """(T, H, W) patches → (T, H*W): each patch at zero mean (flicker and exposure drift removed), one contrast scale for all.

    The scale is the median of the patches' contrasts, not each patch's own: an opening
    mouth raises the contrast of its patch, and dividing it out per patch hid the opening.
    """
    x = np.asarray(patches, dtype=np.float64).reshape(len(patches), -1)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (float(np.median(x.std(axis=1))) + 1.0)
