"""Images whose generation history is known by construction, for the ``ai-image`` detector.

``camera_like`` draws a picture with the statistics a camera gives (smooth
shapes, 1/f texture, independent per-pixel sensor noise); the ``*_upsampled``
makers rebuild it from half resolution through one up-sampling path, so the
only difference between a source and its remake is the trace that path leaves.
numpy only: no torch.
"""

from __future__ import annotations

import numpy as np


def camera_like(
    height_px: int = 256, width_px: int = 256, *, seed: int = 0, noise_grey: float = 2.0
) -> np.ndarray:
    """(H, W, 3) uint8: blobs and edges, 1/f texture and Gaussian sensor noise of ``noise_grey`` levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    img = np.zeros((height_px, width_px, 3), np.float32) + rng.uniform(60, 180, 3)
    for _ in range(12):  # hard-edged shapes: what photos have and blur-only fakes lack
        cy, cx, r = (
            rng.uniform(0, height_px),
            rng.uniform(0, width_px),
            rng.uniform(2, max(3.0, min(height_px, width_px) / 3)),
        )
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        img[mask] = img[mask] * 0.4 + rng.uniform(0, 255, 3) * 0.6
    fy = np.fft.fftfreq(height_px)[:, None]
    fx = np.fft.fftfreq(width_px)[None, :]
    amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(height_px, width_px))
    for c in range(3):
        phase = np.exp(2j * np.pi * rng.random((height_px, width_px)))
        tex = np.real(np.fft.ifft2(amp * phase))
        img[..., c] += 18 * tex / (tex.std() + 1e-9)
    img += rng.normal(0, noise_grey, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _half(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return (
        img[:h, :w]
        .astype(np.float32)
        .reshape(h // 2, 2, w // 2, 2, 3)
        .mean(axis=(1, 3))
    )


def nearest_upsampled(img: np.ndarray) -> np.ndarray:
    """``img`` at half resolution, then each pixel copied into a 2x2 block."""
    return np.clip(_half(img).repeat(2, axis=0).repeat(2, axis=1) + 0.5, 0, 255).astype(
        np.uint8
    )


def transposed_conv_upsampled(
    img: np.ndarray, kernel_1d: tuple[float, ...] = (0.25, 1.0, 0.75, 0.35)
) -> np.ndarray:
    """``img`` at half resolution through a stride-2, 4x4 transposed convolution (no bias).

    The default kernel's taps do not sum equally over even and odd output
    positions (1.0 + 0.35 vs 0.25 + 0.75), so, as in an untrained or
    briefly trained deconvolution layer, it stamps the checkerboard pattern
    of Odena et al. (2016) on top of the interpolated picture; each output is
    divided by the mean tap weight so the picture keeps its brightness.
    """
    small = _half(img)
    k = np.asarray(kernel_1d, np.float32)
    k2 = np.outer(k, k) / (k.sum() / 2) ** 2
    h, w = small.shape[:2]
    out = np.zeros((2 * h + 2, 2 * w + 2, 3), np.float32)
    for dy in range(4):
        for dx in range(4):
            out[dy : dy + 2 * h : 2, dx : dx + 2 * w : 2] += k2[dy, dx] * small
    out = out[1 : 2 * h + 1, 1 : 2 * w + 1]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
