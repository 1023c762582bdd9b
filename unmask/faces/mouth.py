"""The mouth region of a face, frame by frame, and how much it moves (for ``lip-sync``).

``mouth_patch`` warps a small grey patch around the mouth out of a frame, using
the face's five points (MTCNN order) and the same similarity alignment as
``unmask.faces.align``: the template puts the mouth corners at fixed places, with
the patch reaching from below the nose to the chin, so the jaw's opening shows too.
Faces are detected on a few frames only; ``interpolate_points`` fills the frames in
between. Because the patch follows the *interpolated* face and not each frame's
lips, lip movement stays visible as change inside the patch.

``mouth_motion`` turns the patch sequence into a few numbers per frame: the
scores of its first principal components (after per-patch brightness and contrast
normalisation) -- opening, closing, spreading of the lips dominate them in a
talking face.

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


def interpolate_points(times_s: np.ndarray, key_times_s: np.ndarray, key_points: np.ndarray) -> np.ndarray:
    """Five points at every time in ``times_s`` by linear interpolation between detections.

    ``key_points`` is (K, 5, 2) at sorted ``key_times_s``; times outside the detected
    span take the nearest detection. Returns (T, 5, 2).
    """
    kt = np.asarray(key_times_s, dtype=np.float64)
    kp = np.asarray(key_points, dtype=np.float64).reshape(len(kt), 10)
    t = np.asarray(times_s, dtype=np.float64)
    out = np.stack([np.interp(t, kt, kp[:, j]) for j in range(10)], axis=1)
    return out.reshape(len(t), 5, 2)


def normalise_patches(patches: np.ndarray) -> np.ndarray:
    """(T, H, W) patches → (T, H*W): each patch at zero mean (flicker and exposure drift removed), one contrast scale for all.

    The scale is the median of the patches' contrasts, not each patch's own: an opening
    mouth raises the contrast of its patch, and dividing it out per patch hid the opening.
    """
    x = np.asarray(patches, dtype=np.float64).reshape(len(patches), -1)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (float(np.median(x.std(axis=1))) + 1.0)


def mouth_motion(patches: np.ndarray, n_components: int = 6) -> np.ndarray:
    """Per-frame mouth features: scores of the first principal components of the patch sequence.

    Parameters
    ----------
    patches : (T, H, W) float ndarray
        Mouth patches of one face, consecutive video frames.
    n_components : int, default=6

    Returns
    -------
    (T, k) float64 ndarray, k <= n_components
        Zero-mean component scores, strongest first; slow drift (head turning, light
        changing over seconds) is removed before the components are found.
    """
    x = normalise_patches(patches)
    if len(x) < 3:
        return np.zeros((len(x), 0))
    x = x - _moving_average(x, 25)  # ~1 s: syllables are 3-7 per second, drift is slower
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, len(s))
    return u[:, :k] * s[:k]


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    n = max(1, min(n, len(x)))
    pad = np.pad(x, ((n // 2, n - 1 - n // 2), (0, 0)), mode="edge")
    c = np.cumsum(np.concatenate([np.zeros((1, x.shape[1])), pad]), axis=0)
    return (c[n:] - c[:-n]) / n
