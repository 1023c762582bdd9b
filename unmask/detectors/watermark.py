"""Decode the Stable Diffusion invisible watermarks (``invisible-watermark``'s ``dwtDct`` method).

Stable Diffusion v1 and v2 (CompVis / Stability ``scripts/txt2img.py``), SDXL
(diffusers ``StableDiffusionXLWatermarker`` and Stability ``generative-models``)
and Stable Video Diffusion hide a fixed message in their output with
``imwatermark.WatermarkEncoder().encode(image, "dwtDct")``. This module decodes
that message with numpy and PyWavelets only: the package must not depend on
``invisible-watermark`` (which imports torch) nor on OpenCV, so the two OpenCV
colour conversions the library relies on are reproduced here.

How the library embeds (``imwatermark/maxDct.py``, ``EmbedMaxDct``, scales
``[0, 36, 36]``, block 4) — despite the name, no DCT is involved:

1. ``cv2.cvtColor(image, COLOR_BGR2YUV)``; only channel 1 (U) is marked, because
   the loop runs over ``range(2)`` and the Y scale is 0.
2. One-level Haar ``pywt.dwt2`` of U cropped to ``rows//4*4 x cols//4*4``.
3. The approximation band is cut into 4x4 blocks in raster order; block ``n``
   carries message bit ``n % len(message)``. In each block the element with the
   largest magnitude (ignoring the top-left one) is moved to
   ``(floor(|v| / 36) + 0.25 + 0.5 * bit) * 36`` with v's sign.
4. Decoding reads ``(|v| mod 36) > 18`` per block and takes the per-bit mean
   over every block that carries the bit (``mean * 255 > 127``).

Two details of the callers matter for decoding:

* SD v1/v2 pass a uint8 BGR image, so U is OpenCV's fixed-point uint8 U (offset 128).
* diffusers and generative-models pass float32 arrays in 0..255, for which OpenCV
  uses the float conversion with a chroma offset of 0.5 instead of 128; that
  offset changes which element of a block is largest and how negative values fold,
  so reading SDXL output through the uint8 formula gets only ~70% of blocks right
  (~95-99% with the float formula; measured on synthetic 512 and 1024 px images).
  diffusers also hands over an RGB array as if it were BGR.

We therefore try both channel orders and both conversions for every message and
report the best; the false-positive bound counts every hypothesis tried.

Imports: numpy at module level; PyWavelets inside functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from unmask.core import Evidence, Finding, MediaKind, Signal, Strength
from unmask.detectors._base import DetectorCard, Stopwatch, not_applicable, scored

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem

ChannelOrder = Literal["bgr", "rgb"]
ColourPath = Literal["uint8", "float"]

# ---------------------------------------------------------------------------------------------
# the library's constants (imwatermark 0.2.0, maxDct.py / watermark.py)

SCALE = 36  # quantisation step on the U channel's Haar approximation band
BLOCK = 4  # blocks are 4x4 in the approximation band, i.e. 8x8 pixels
# WatermarkEncoder/Decoder refuse images with fewer pixels than this, so smaller
# images cannot carry the mark (diffusers also skips images narrower than 256 px).
MIN_PIXELS = 256 * 256

# OpenCV's fixed-point BGR<->YUV coefficients (imgproc/src/color_yuv.simd.hpp): the
# float BT.601 constants scaled by 2**14 and rounded.
_YUV_SHIFT = 14
_R2Y, _G2Y, _B2Y = 4899, 9617, 1868  # 0.299, 0.587, 0.114
_B2U, _R2V = 8061, 14369  # 0.492, 0.877
_U2B, _U2G, _V2G, _V2R = 33292, -6472, -9519, 18678  # 2.032, -0.395, -0.581, 1.140


@dataclass(frozen=True, slots=True)
class Watermark:
    """A message a generator embeds, and where that is documented."""

    key: str  # "sdxl", "sdv1", "sdv2"
    name: str  # for people: "Stable Diffusion XL"
    bits: tuple[int, ...]
    origin: str  # who embeds it, and how
    path: ColourPath  # the conversion its generators hand the library; preferred when decodes tie


def _bytes_bits(text: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(text, dtype=np.uint8)))


WATERMARKS: tuple[Watermark, ...] = (
    Watermark(
        "sdxl",
        "Stable Diffusion XL",
        # generative-models scripts/demo/streamlit_helpers.py WATERMARK_MESSAGE, copied by diffusers
        tuple(int(c) for c in bin(0b101100111110110010010000011110111011000110011110)[2:]),
        "diffusers StableDiffusionXLWatermarker / Stability generative-models (SDXL, SVD): 48 bits on a float32 image",
        "float",
    ),
    Watermark(
        "sdv1",
        "Stable Diffusion v1",
        _bytes_bits(b"StableDiffusionV1"),
        'CompVis scripts/txt2img.py: bytes "StableDiffusionV1" on a uint8 BGR image',
        "uint8",
    ),
    Watermark(
        "sdv2",
        "Stable Diffusion v2",
        _bytes_bits(b"SDV2"),
        'Stability stablediffusion scripts/txt2img.py: bytes "SDV2" on a uint8 BGR image',
        "uint8",
    ),
)
_BY_KEY = {w.key: w for w in WATERMARKS}

ORDERS: tuple[ChannelOrder, ...] = ("bgr", "rgb")
PATHS: tuple[ColourPath, ...] = ("uint8", "float")
N_HYPOTHESES = len(WATERMARKS) * len(ORDERS) * len(PATHS)  # 12

# A decode counts when the chance of at least that many matching bits on an unmarked
# image, under the model that each decoded bit is a fair coin, is at most 1e-9 for the
# hypothesis that matched; with the 12 hypotheses tried, an unmarked image passes with
# probability <= 1.2e-8. That asks for >= 44/48 SDXL bits, >= 103/136 SD v1 bits and all
# 32 SD v2 bits. Clean watermarked images decode with (near-)perfect agreement.
MAX_TAIL_P = 1e-9

PROBABILITY_DETECTED = 0.95  # GENERATOR_DECLARED STRONG (see the shared rules)
VIDEO_SAMPLE_FPS = 1.0
VIDEO_MAX_FRAMES = 8
STRIP_ROWS_PX = 512  # decode in horizontal strips (a multiple of 8) to bound memory on huge images


# ---------------------------------------------------------------------------------------------
# colour conversion as OpenCV does it


def _descale(x: np.ndarray) -> np.ndarray:
    # CV_DESCALE: round half up, then arithmetic shift (floors for negatives, as C++ >> does)
    return (x + (1 << (_YUV_SHIFT - 1))) >> _YUV_SHIFT


def bgr_to_yuv_uint8(bgr: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(bgr_uint8, cv2.COLOR_BGR2YUV)`` in OpenCV's fixed-point arithmetic.

    Parameters
    ----------
    bgr : (height, width, 3) uint8 ndarray
        Channels in the order the library was handed them (B, G, R).

    Returns
    -------
    (height, width, 3) uint8 ndarray
        Y, U (offset 128), V (offset 128).
    """
    b, g, r = (bgr[..., i].astype(np.int32) for i in range(3))
    y = _descale(b * _B2Y + g * _G2Y + r * _R2Y)
    half = 128 << _YUV_SHIFT
    u = _descale((b - y) * _B2U + half)
    v = _descale((r - y) * _R2V + half)
    return np.clip(np.stack([y, u, v], axis=-1), 0, 255).astype(np.uint8)


def yuv_to_bgr_uint8(yuv: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(yuv_uint8, cv2.COLOR_YUV2BGR)`` in OpenCV's fixed-point arithmetic."""
    y, u, v = (yuv[..., i].astype(np.int32) for i in range(3))
    u, v = u - 128, v - 128
    b = y + _descale(u * _U2B)
    g = y + _descale(u * _U2G + v * _V2G)
    r = y + _descale(v * _V2R)
    return np.clip(np.stack([b, g, r], axis=-1), 0, 255).astype(np.uint8)


def bgr_to_yuv_float(bgr: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(bgr_float32, cv2.COLOR_BGR2YUV)``: float BT.601 with chroma offset 0.5.

    OpenCV assumes float images lie in [0, 1] and adds 0.5 to U and V whatever
    the actual range; callers that pass 0..255 floats (diffusers) get U centred
    on 0.5, not 128.
    """
    bgr = bgr.astype(np.float32, copy=False)
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    y = b * np.float32(0.114) + g * np.float32(0.587) + r * np.float32(0.299)
    u = (b - y) * np.float32(0.492) + np.float32(0.5)
    v = (r - y) * np.float32(0.877) + np.float32(0.5)
    return np.stack([y, u, v], axis=-1)


def yuv_to_bgr_float(yuv: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(yuv_float32, cv2.COLOR_YUV2BGR)`` (chroma offset 0.5)."""
    y, u, v = yuv[..., 0], yuv[..., 1] - np.float32(0.5), yuv[..., 2] - np.float32(0.5)
    b = y + u * np.float32(2.032)
    g = y + u * np.float32(-0.395) + v * np.float32(-0.581)
    r = y + v * np.float32(1.140)
    return np.stack([b, g, r], axis=-1).astype(np.float32)


def _u_plane(rgb: np.ndarray, order: ChannelOrder, path: ColourPath) -> np.ndarray:
    """The U channel the encoder saw, if it was handed ``rgb`` in ``order`` through ``path``."""
    # "rgb" means the caller handed the library an RGB array labelled BGR (diffusers SDXL).
    as_bgr = rgb[..., ::-1] if order == "bgr" else rgb
    if path == "uint8":
        b, g, r = (as_bgr[..., i].astype(np.int32) for i in range(3))
        y = _descale(b * _B2Y + g * _G2Y + r * _R2Y)
        return np.clip(_descale((b - y) * _B2U + (128 << _YUV_SHIFT)), 0, 255).astype(np.uint8)
    b, g, r = (as_bgr[..., i].astype(np.float32) for i in range(3))
    y = b * np.float32(0.114) + g * np.float32(0.587) + r * np.float32(0.299)
    return (b - y) * np.float32(0.492) + np.float32(0.5)  # same arithmetic as bgr_to_yuv_float's U


# ---------------------------------------------------------------------------------------------
# the block rule


def band_blocks(band: np.ndarray) -> np.ndarray:
    """(n_blocks, 16) view of the 4x4 blocks of an approximation band, in the library's raster order."""
    rows, cols = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    trimmed = band[: rows * BLOCK, : cols * BLOCK]
    return trimmed.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(rows * cols, BLOCK * BLOCK)


def max_positions(blocks: np.ndarray) -> np.ndarray:
    """Index (1..15) of each block's largest-magnitude element, the top-left one excluded."""
    # np.argmax returns the first of equal maxima, as the library's np.argmax does
    return np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1


def block_bits(u_plane: np.ndarray) -> np.ndarray:
    """The bit each 4x4 block of the U plane's Haar approximation band reads as (library decode rule).

    Parameters
    ----------
    u_plane : (height, width) ndarray
        U channel, height and width multiples of 8 (8 pixels = one 4x4 block of the band).

    Returns
    -------
    (n_blocks,) bool ndarray
        ``(|v| mod 36) > 18`` for the largest-magnitude element ``v`` of each block
        (top-left excluded), blocks in raster order.
    """
    import pywt

    band, _ = pywt.dwt2(u_plane, "haar")
    blocks = band_blocks(band)
    picked = np.abs(blocks[np.arange(blocks.shape[0]), max_positions(blocks)])
    return np.remainder(picked, SCALE) > 0.5 * SCALE


def image_block_bits(rgb: np.ndarray, order: ChannelOrder, path: ColourPath) -> np.ndarray:
    """``block_bits`` of a whole RGB image under one hypothesis, decoded strip by strip.

    The library's block grid starts at the top-left pixel and covers
    ``8 * (rows // 8)`` x ``8 * (cols // 8)`` pixels; each block is local to its
    8x8 pixels, so strips of whole block rows give the same bits in the same order.
    """
    height_px, width_px = (rgb.shape[0] // 8) * 8, (rgb.shape[1] // 8) * 8
    parts = [
        block_bits(_u_plane(rgb[top : min(top + STRIP_ROWS_PX, height_px), :width_px], order, path))
        for top in range(0, height_px, STRIP_ROWS_PX)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def message_bits(blocks_read: np.ndarray, n_bits: int) -> np.ndarray:
    """The library's per-bit vote: block ``n`` votes for bit ``n % n_bits``; ``mean * 255 > 127`` wins."""
    index = np.arange(blocks_read.size) % n_bits
    ones = np.bincount(index, weights=blocks_read.astype(np.float64), minlength=n_bits)
    counts = np.bincount(index, minlength=n_bits)
    return (ones / np.maximum(counts, 1)) * 255 > 127


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): the chance that ``k`` of ``n`` random bits match."""
    return math.fsum(math.comb(n, i) for i in range(max(k, 0), n + 1)) / 2.0**n


# ---------------------------------------------------------------------------------------------
# decoding


@dataclass(frozen=True, slots=True)
class Decode:
    """The best-matching hypothesis for one image."""

    watermark: Watermark
    order: ChannelOrder
    path: ColourPath
    matching_bits: int
    tail_p: float  # chance of >= matching_bits under one hypothesis

    @property
    def n_bits(self) -> int:
        return len(self.watermark.bits)

    @property
    def chance(self) -> float:
        """Chance that an unmarked image matches this well under any of the hypotheses tried."""
        return min(1.0, self.tail_p * N_HYPOTHESES)

    @property
    def detected(self) -> bool:
        return self.tail_p <= MAX_TAIL_P


def decode(rgb: np.ndarray) -> Decode | None:
    """Try every known message, channel order and colour path; return the best match.

    Parameters
    ----------
    rgb : (height, width, 3) uint8 ndarray

    Returns
    -------
    Decode or None
        None when the image has fewer than ``MIN_PIXELS`` pixels or too few blocks
        to hold the shortest message once. Check ``.detected`` for the verdict.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"decode needs a (height, width, 3) RGB array, got shape {rgb.shape}")
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        return None
    best: Decode | None = None
    for order in ORDERS:
        for path in PATHS:
            read = image_block_bits(rgb, order, path)
            for wm in WATERMARKS:
                if read.size < len(wm.bits):
                    continue
                matching = int(np.count_nonzero(message_bits(read, len(wm.bits)) == np.asarray(wm.bits, dtype=bool)))
                cand = Decode(wm, order, path, matching, binomial_tail(matching, len(wm.bits)))
                if best is None or _rank(cand) < _rank(best):
                    best = cand
    return best


def _rank(d: Decode) -> tuple[float, bool]:
    # clean images often decode perfectly under both conversions; report the one the generator used
    return (d.tail_p, d.path != d.watermark.path)


def _fmt_chance(p: float) -> str:
    if p >= 0.01:
        return f"{p:.2f}"
    exponent = math.floor(math.log10(p)) if p > 0 else -300
    mantissa = p / 10.0**exponent if p > 0 else 1.0
    return f"1e{exponent}" if round(mantissa) == 1 else f"{mantissa:.0f}e{exponent}"


_ORDER_NOTE = {
    "bgr": "embedded on a true BGR image (SD v1/v2 scripts, Stability generative-models)",
    "rgb": "embedded on an RGB array handed over as BGR (diffusers SDXL)",
}
_PATH_NOTE = {
    "uint8": "uint8 image (OpenCV fixed-point YUV, chroma offset 128)",
    "float": "float32 image in 0..255 (OpenCV float YUV, chroma offset 0.5)",
}


def _decode_evidence(d: Decode) -> list[Evidence]:
    return [
        Evidence("watermark", d.watermark.name, d.watermark.origin),
        Evidence("bits matching", f"{d.matching_bits}/{d.n_bits}"),
        Evidence(
            "chance on an unmarked image",
            float(f"{d.chance:.3g}"),
            f"binomial tail P(>= {d.matching_bits} of {d.n_bits} fair coin flips) x {N_HYPOTHESES} hypotheses tried",
        ),
        Evidence("channel order", d.order, _ORDER_NOTE[d.order]),
        Evidence("colour conversion", d.path, _PATH_NOTE[d.path]),
    ]


class WatermarkDetector:
    """Finds the Stable Diffusion ``dwtDct`` invisible watermarks in images and video frames."""

    def __init__(self, card: DetectorCard) -> None:
        self.card = card

    def analyze(self, item: "MediaItem") -> Finding:
        watch = Stopwatch()
        if item.kind is MediaKind.IMAGE:
            with watch.stage("decode"):
                rgb = np.asarray(item.image())
            if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
                return self._too_small(rgb.shape, watch)
            with watch.stage("watermark"):
                d = decode(rgb)
            if d is None:  # fewer blocks than the shortest message; unreachable above MIN_PIXELS
                return self._too_small(rgb.shape, watch)
            if not d.detected:
                return self._absent(watch, [Evidence("best match", f"{d.watermark.name}: {d.matching_bits}/{d.n_bits} bits")])
            return scored(
                self.card,
                PROBABILITY_DETECTED,
                f"Carries the {d.watermark.name} invisible watermark "
                f"({d.matching_bits}/{d.n_bits} bits match; chance on an unmarked image ≈ {_fmt_chance(d.chance)}).",
                signal=Signal.GENERATOR_DECLARED,
                strength=Strength.STRONG,
                evidence=tuple(_decode_evidence(d)),
                timings_ms=watch.timings_ms,
            )
        return self._analyze_video(item, watch)

    def _analyze_video(self, item: "MediaItem", watch: Stopwatch) -> Finding:
        decodes: list[tuple[float, Decode]] = []
        checked, shape = 0, None
        frames = item.frames(VIDEO_SAMPLE_FPS, max_frames=VIDEO_MAX_FRAMES)
        while True:
            with watch.stage("decode"):
                frame = next(frames, None)
            if frame is None:
                break
            shape = frame.rgb.shape
            with watch.stage("watermark"):
                d = decode(frame.rgb)
            if d is None:
                return self._too_small(shape, watch)
            checked += 1
            decodes.append((frame.pts_s, d))
        if not decodes:
            return not_applicable(self.card, "no-frames", "No video frame could be checked for a watermark.", timings_ms=watch.timings_ms)
        hits = [(t, d) for t, d in decodes if d.detected]
        if not hits:
            best = min((d for _, d in decodes), key=lambda d: d.tail_p)
            return self._absent(
                watch,
                [Evidence("frames checked", checked), Evidence("best match", f"{best.watermark.name}: {best.matching_bits}/{best.n_bits} bits")],
            )
        t_best, best = min(hits, key=lambda h: h[1].tail_p)
        names = sorted({d.watermark.name for _, d in hits})
        evidence = [
            Evidence("frames checked", checked, f"up to {VIDEO_MAX_FRAMES} frames sampled at {VIDEO_SAMPLE_FPS:g} per second"),
            Evidence("frames carrying it", len(hits)),
            Evidence("frame times (s)", [round(t, 3) for t, _ in hits]),
            Evidence("best frame time (s)", round(t_best, 3)),
            *_decode_evidence(best),
        ]
        if len(names) > 1:
            evidence.append(Evidence("watermarks seen", names))
        return scored(
            self.card,
            PROBABILITY_DETECTED,
            f"{len(hits)} of {checked} sampled frames carry the {best.watermark.name} invisible watermark "
            f"(best {best.matching_bits}/{best.n_bits} bits match; chance on an unmarked frame ≈ {_fmt_chance(best.chance)}).",
            signal=Signal.GENERATOR_DECLARED,
            strength=Strength.STRONG,
            evidence=tuple(evidence),
            timings_ms=watch.timings_ms,
        )

    def _absent(self, watch: Stopwatch, evidence: list[Evidence]) -> Finding:
        return not_applicable(
            self.card,
            "no-watermark",
            "No Stable Diffusion watermark found (most generators embed none, and re-encoding can remove it).",
            evidence=tuple(evidence),
            timings_ms=watch.timings_ms,
        )

    def _too_small(self, shape: tuple[int, ...], watch: Stopwatch) -> Finding:
        h, w = shape[0], shape[1]
        return not_applicable(
            self.card,
            "too-small",
            f"The {w}x{h} picture is too small to carry a Stable Diffusion watermark (the encoder needs at least 256x256 pixels).",
            evidence=(Evidence("size (px)", f"{w}x{h}"), Evidence("minimum pixels", MIN_PIXELS)),
            timings_ms=watch.timings_ms,
        )


def create(card: DetectorCard, options: "ScanOptions") -> WatermarkDetector:
    """Registry factory (``unmask.detectors.watermark:create``); the detector has no options."""
    return WatermarkDetector(card)


def watermark_by_key(key: str) -> Watermark:
    """The known message called ``key`` ("sdxl", "sdv1", "sdv2")."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown watermark {key!r}; known: {', '.join(_BY_KEY)}") from None
