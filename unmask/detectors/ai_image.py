"""``ai-image``: is the whole picture machine-made? A small CNN on fine pixel structure.

Generators (GANs, diffusion decoders, super-resolution nets) build images by
up-sampling: nearest-neighbour copies, bilinear ramps, transposed-convolution
checkerboards, pixel shuffles. Each leaves correlations between neighbouring
pixels that a camera does not. The model (``unmask.training.images_model``)
sees only each pixel's difference from its 2x2 block mean, normalised by the
local detail level, and returns a logit per 16x16 px cell; the image logit is
their mean. Model card: ``unmask/models/ai-image.md``.

Scoring (never resizes: scaling destroys the traces being measured)

- images up to ``MAX_WHOLE_PIXELS`` are scored in one pass (cropped to a
  multiple of 16 px from the top-left corner, so the generator's pixel grid keeps its phase);
- larger images are cut into ``TILE_PX`` tiles on a grid anchored at (0, 0);
  at most ``MAX_TILES`` tiles, spread evenly over the grid, are scored and the
  image logit is the **mean of the tile logits** (a generated image is generated
  everywhere, and the mean is stable against one odd tile; the highest tile is
  reported as evidence);
- video: ``options.video_sample_fps`` frames per second, at most
  ``VIDEO_MAX_FRAMES``, each scored as an image with at most
  ``VIDEO_MAX_TILES`` tiles; the video logit is the **mean of the frame
  logits**, and the timeline holds each frame's probability.

The logit becomes a probability by the Platt scaling in ``weights/ai-image.json``.

Evidence for people: the log-magnitude spectrum of the image's fine detail
and its radial profile, with peaks at 1/2 and 1/4 cycles per pixel marked
(periodic up-sampling traces; a JPEG's 8x8 block grid puts peaks there too,
which the evidence says), and a localisation map of the per-cell scores.

Imports numpy at module level only; onnxruntime and Pillow load on first use. Never imports torch.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unmask.core import Attachment, Evidence, Finding, MediaKind, Signal, TimelinePoint
from unmask.detectors._base import DetectorCard, Stopwatch, failed, not_applicable, scored
from unmask.detectors._onnx import load_shipped_model, sigmoid
from unmask.errors import ModelError, UnmaskError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
META_FILE = "ai-image.json"
STRIDE_PX = 16  # the network's total down-sampling: one logit per 16x16 px cell
TILE_PX = 256
# 640x640 = 0.41 MP: one pass at this size takes about as long as its tiles and
# keeps small images (most web images) whole; above it memory grows with the image.
MAX_WHOLE_PIXELS = 640 * 640
# 8 tiles of 256^2 = 0.52 MP: about half of a 1 MP photo, spread over it. Scoring all of it
# doubled the time for a change of the image logit well inside its spread (Kodak24 at 1 MP, 2026-11);
# the 10 images/s target on 2 cores needs the cap.
MAX_TILES = 8
VIDEO_MAX_FRAMES = 24
VIDEO_MAX_TILES = 4
MIN_SIDE_PX = (
    32  # two cells of the logit map; smaller images hold too few pixels to judge
)
BATCH_TILES = 8
SPECTRUM_CROP_PX = 256  # a centred crop: peaks of periodic traces show at any size; 512 cost 15x the time
# A bin counts as a spectral peak when its magnitude is this many times the median
# of its neighbourhood: clean photos stay below 3 at these frequencies (Kodak24, 2026-11).
PEAK_RATIO = 4.0
PEAK_FREQS = {  # (fy, fx) in cycles per pixel → what a person reads
    (0.0, 0.5): "1/2 horizontal",
    (0.5, 0.0): "1/2 vertical",
    (0.5, 0.5): "1/2 diagonal",
    (0.0, 0.25): "1/4 horizontal",
    (0.25, 0.0): "1/4 vertical",
    (0.25, 0.25): "1/4 diagonal",
}


class AiImageModel:
    """The shipped ONNX network and its calibration (``weights/ai-image.json``), sha256-checked on load."""

    def __init__(self, weights_dir: Path = WEIGHTS_DIR) -> None:
        model = load_shipped_model(META_FILE, weights_dir=weights_dir, label="ai-image")
        self.session, self.sha256, self.a, self.b = model.session, model.sha256, model.a, model.b
        self.calibration = str(model.meta["calibration"].get("describe", f"platt a={self.a:.3g} b={self.b:.3g}"))
        self.probability = model.probability

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3, H, W) float32 RGB in [0, 1] → (logits (N,), maps (N, H/16, W/16))."""
        logits, maps = self.session.run(
            ["logit", "logit_map"],
            {"image": np.ascontiguousarray(batch, dtype=np.float32)},
        )
        return logits.astype(np.float64), maps[:, 0].astype(np.float64)


# --------------------------------------------------------------------------------------------
# scoring


@dataclass(frozen=True, slots=True)
class ImageScore:
    """What the network said about one picture."""

    logit: float  # mean over the scored tiles (or the single pass)
    tile_logits: tuple[float, ...]
    tiles_yx_px: tuple[
        tuple[int, int, int, int], ...
    ]  # (y, x, height, width) of each scored region
    cell_logits: (
        np.ndarray
    )  # (H/16, W/16) per-cell logits, NaN where nothing was scored
    whole: bool  # scored in one pass (else by tiles)


def plan_tiles(
    height_px: int, width_px: int, max_tiles: int = MAX_TILES
) -> list[tuple[int, int, int, int]]:
    """Regions to score: the whole image (cropped to /16) or up to ``max_tiles`` grid tiles, spread evenly.

    Examples
    --------
    >>> plan_tiles(300, 400)
    [(0, 0, 288, 400)]
    >>> len(plan_tiles(3000, 4000))
    8
    """
    h16, w16 = height_px // STRIDE_PX * STRIDE_PX, width_px // STRIDE_PX * STRIDE_PX
    if h16 * w16 <= MAX_WHOLE_PIXELS:
        return [(0, 0, h16, w16)]
    th, tw = min(TILE_PX, h16), min(TILE_PX, w16)
    grid = [
        (y, x, th, tw)
        for y in range(0, h16 - th + 1, th)
        for x in range(0, w16 - tw + 1, tw)
    ]
    if len(grid) > max_tiles:
        keep = np.unique(np.round(np.linspace(0, len(grid) - 1, max_tiles)).astype(int))
        grid = [grid[i] for i in keep]
    return grid


def score_rgb(
    model: AiImageModel, rgb: np.ndarray, max_tiles: int = MAX_TILES
) -> ImageScore:
    """Score an (H, W, 3) uint8 RGB array; H and W must be at least ``MIN_SIDE_PX``."""
    h, w = rgb.shape[:2]
    tiles = plan_tiles(h, w, max_tiles)
    cells = np.full((h // STRIDE_PX, w // STRIDE_PX), np.nan)
    logits: list[float] = []
    for start in range(0, len(tiles), BATCH_TILES):
        chunk = tiles[start : start + BATCH_TILES]
        if len(chunk) == 1 or len({(t[2], t[3]) for t in chunk}) > 1:
            batches = [[t] for t in chunk]
        else:
            batches = [chunk]
        for group in batches:
            x = np.stack(
                [rgb[y : y + th, xx : xx + tw] for y, xx, th, tw in group]
            ).astype(np.float32)
            x = x.transpose(0, 3, 1, 2) / np.float32(255.0)
            out_logits, maps = model.run(x)
            for (y, xx, th, tw), lg, m in zip(group, out_logits, maps):
                logits.append(float(lg))
                cells[
                    y // STRIDE_PX : (y + th) // STRIDE_PX,
                    xx // STRIDE_PX : (xx + tw) // STRIDE_PX,
                ] = m
    return ImageScore(
        logit=float(np.mean(logits)),
        tile_logits=tuple(logits),
        tiles_yx_px=tuple(tiles),
        cell_logits=cells,
        whole=len(tiles) == 1 and tiles[0][2] * tiles[0][3] > TILE_PX * TILE_PX,
    )


# --------------------------------------------------------------------------------------------
# evidence: spectrum and localisation map


@dataclass(frozen=True, slots=True)
class Spectrum:
    log_magnitude: (
        np.ndarray
    )  # (S, S) fftshift-ed log-magnitude of the fine-detail residual
    radial: np.ndarray  # mean log-magnitude per radius bin, 0 .. 0.5 cycles/px
    peaks: tuple[
        tuple[str, float], ...
    ]  # (label, ratio to the neighbourhood median) above PEAK_RATIO


def spectrum(rgb: np.ndarray, crop_px: int = SPECTRUM_CROP_PX) -> Spectrum:
    """Spectrum of the image's fine detail (grey minus its 3x3 mean) over a centred crop, Hann-windowed."""
    h, w = rgb.shape[:2]
    s = min(crop_px, h, w) // 2 * 2
    y0, x0 = (h - s) // 2, (w - s) // 2
    g = rgb[y0 : y0 + s, x0 : x0 + s].astype(np.float32).mean(axis=2)
    pad = np.pad(g, 1, mode="reflect")
    box = sum(pad[dy : dy + s, dx : dx + s] for dy in range(3) for dx in range(3)) / 9.0
    resid = g - box
    win = np.hanning(s).astype(np.float32)
    mag = np.abs(np.fft.fftshift(np.fft.fft2(resid * win[:, None] * win[None, :])))
    logmag = np.log1p(mag)
    c = s // 2
    yy, xx = np.indices((s, s))
    r = np.hypot(yy - c, xx - c) / s  # cycles per pixel
    bins = np.minimum((r / 0.5 * 64).astype(int), 64)
    radial = np.bincount(bins.ravel(), logmag.ravel(), minlength=65)[:64] / np.maximum(
        np.bincount(bins.ravel(), minlength=65)[:64], 1
    )
    peaks = []
    for (fy, fx), label in PEAK_FREQS.items():
        py, px = min(c + round(fy * s), s - 1), min(c + round(fx * s), s - 1)
        y_lo, y_hi, x_lo, x_hi = (
            max(py - 6, 0),
            min(py + 7, s),
            max(px - 6, 0),
            min(px + 7, s),
        )
        nb = mag[y_lo:y_hi, x_lo:x_hi].copy()
        centre = mag[max(py - 1, 0) : py + 2, max(px - 1, 0) : px + 2].max()
        nb[
            max(py - 1, 0) - y_lo : py + 2 - y_lo, max(px - 1, 0) - x_lo : px + 2 - x_lo
        ] = np.nan
        ratio = float(centre / (np.nanmedian(nb) + 1e-6))
        if ratio >= PEAK_RATIO:
            peaks.append((label, round(ratio, 1)))
    return Spectrum(logmag, radial, tuple(peaks))


def render_spectrum_png(spec: Spectrum, *, size_px: int = 256) -> bytes:
    """The 2-D log spectrum (peaks circled in red) above its radial profile, as PNG bytes."""
    from PIL import Image, ImageDraw

    lm = spec.log_magnitude
    s = lm.shape[0]
    lo, hi = np.percentile(lm, 1), np.percentile(lm, 99.9)
    img = np.clip((lm - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    if s > size_px:  # max-pool so that one-bin peaks stay visible
        f = s // size_px
        img = (
            img[: size_px * f, : size_px * f]
            .reshape(size_px, f, size_px, f)
            .max(axis=(1, 3))
        )
    im = (
        Image.fromarray(img)
        .convert("RGB")
        .resize((size_px, size_px), Image.Resampling.NEAREST)
    )
    plot_h = 96
    canvas = Image.new("RGB", (size_px, size_px + plot_h + 14), (255, 255, 255))
    canvas.paste(im, (0, 0))
    d = ImageDraw.Draw(canvas)
    c = size_px / 2
    found = {label for label, _ in spec.peaks}
    for (fy, fx), label in PEAK_FREQS.items():
        if label in found:
            for sy in (1, -1):
                for sx in (1, -1):
                    py, px = c + sy * fy * size_px, c + sx * fx * size_px
                    px, py = min(max(px, 5), size_px - 6), min(max(py, 5), size_px - 6)
                    d.ellipse(
                        (px - 5, py - 5, px + 5, py + 5), outline=(255, 40, 40), width=2
                    )
    rad = spec.radial
    y0 = size_px + 4
    rlo, rhi = float(rad.min()), float(rad.max())
    pts = [
        (
            i / (len(rad) - 1) * (size_px - 1),
            y0 + plot_h - 4 - (v - rlo) / max(rhi - rlo, 1e-6) * (plot_h - 8),
        )
        for i, v in enumerate(rad)
    ]
    d.line(pts, fill=(30, 30, 160), width=1)
    for f in (0.25, 0.5):
        x = f / 0.5 * (size_px - 1)
        d.line([(x, y0), (x, y0 + plot_h)], fill=(200, 60, 60), width=1)
    d.text(
        (2, size_px + plot_h + 1),
        "radial profile 0 .. 1/2 cycles/px (red: 1/4, 1/2)",
        fill=(0, 0, 0),
    )
    buf = io.BytesIO()
    canvas.save(buf, "PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def render_heatmap_png(
    rgb: np.ndarray, cell_logits: np.ndarray, *, max_side_px: int = 320
) -> bytes:
    """The picture (grey, dimmed) with each scored 16 px cell tinted blue (camera-like) to red (generated-like)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    step = max(
        1, math.ceil(max(h, w) / max_side_px)
    )  # plain subsampling: a preview, and 5x cheaper than resizing
    grey = rgb[::step, ::step].mean(axis=2, dtype=np.float32)
    base = np.repeat(grey[..., None] * 0.6 + 40, 3, axis=2)
    ch, cw = cell_logits.shape
    ys = np.minimum(np.arange(grey.shape[0]) * step // STRIDE_PX, ch - 1)
    xs = np.minimum(np.arange(grey.shape[1]) * step // STRIDE_PX, cw - 1)
    cells = cell_logits[ys][:, xs]
    p = sigmoid(np.nan_to_num(cells, nan=0.0))
    colour = np.stack([255 * p, np.full_like(p, 60.0), 255 * (1 - p)], axis=2)
    alpha = np.where(np.isnan(cells), 0.0, 0.55)[..., None]
    out = (base * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, "PNG", optimize=False, compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# the detector


def _describe(p: float) -> str:
    if p >= 0.85:
        return "very likely"
    if p >= 0.5:
        return "likely"
    if p >= 0.2:
        return "possibly"
    return "unlikely"


class AiImageDetector:
    """Scores images and sampled video frames with the ``ai-image`` network."""

    def __init__(
        self,
        card: DetectorCard,
        options: ScanOptions,
        model: AiImageModel | None = None,
    ) -> None:
        self.card = card
        self.options = options
        self._model = model

    @property
    def model(self) -> AiImageModel:
        if (
            self._model is None
        ):  # loaded on first use, then shared by every file of the scan
            self._model = AiImageModel()
        return self._model

    def analyze(self, item: MediaItem) -> Finding:
        watch = Stopwatch()
        try:
            with watch.stage("load_model"):
                model = self.model
            if item.kind is MediaKind.VIDEO:
                return self._video(item, model, watch)
            with watch.stage("decode"):
                rgb = np.asarray(item.image())
            return self._image(item, model, rgb, watch)
        except ModelError:
            raise
        except UnmaskError as exc:
            return failed(self.card, str(exc))

    def _too_small(self, h: int, w: int) -> Finding | None:
        if min(h, w) < MIN_SIDE_PX:
            return not_applicable(
                self.card,
                "image-too-small",
                f"The picture is {w}x{h} px; the generated-image model needs at least {MIN_SIDE_PX} px on each side.",
            )
        return None

    def _image(
        self, item: MediaItem, model: AiImageModel, rgb: np.ndarray, watch: Stopwatch
    ) -> Finding:
        h, w = rgb.shape[:2]
        small = self._too_small(h, w)
        if small is not None:
            return small
        with watch.stage("model"):
            res = score_rgb(model, rgb)
        p = float(model.probability(res.logit))
        evidence, attachments = self._evidence(item, model, rgb, res, watch)
        summary = (
            f"The generated-image model finds this picture {_describe(p)} to be machine-made "
            f"({p:.0%}), judging the fine pixel structure that up-sampling in generators leaves."
        )
        return scored(
            self.card,
            p,
            summary,
            signal=Signal.ML,
            evidence=tuple(evidence),
            attachments=tuple(attachments),
            calibration=model.calibration,
            timings_ms=watch.timings_ms,
        )

    def _evidence(
        self,
        item: MediaItem,
        model: AiImageModel,
        rgb: np.ndarray,
        res: ImageScore,
        watch: Stopwatch,
    ):
        h, w = rgb.shape[:2]
        tile_p = model.probability(np.asarray(res.tile_logits))
        evidence = [
            Evidence(
                "model logit",
                round(res.logit, 3),
                "mean over the scored area; above 0 leans machine-made, before calibration",
            ),
            Evidence(
                "scored area",
                f"whole picture, {res.tiles_yx_px[0][3]}x{res.tiles_yx_px[0][2]} px"
                if len(res.tiles_yx_px) == 1
                else f"{len(res.tiles_yx_px)} tiles of {res.tiles_yx_px[0][3]}x{res.tiles_yx_px[0][2]} px out of {w}x{h} px",
                "never resized: scaling erases the traces the model looks for; large pictures are scored by tiles and the tile logits averaged",
            ),
        ]
        if len(res.tile_logits) > 1:
            evidence.append(
                Evidence(
                    "tile probabilities (min / mean / max)",
                    [
                        round(float(tile_p.min()), 3),
                        round(float(tile_p.mean()), 3),
                        round(float(tile_p.max()), 3),
                    ],
                )
            )
        with watch.stage("spectrum"):
            spec = spectrum(rgb)
        is_jpeg = getattr(getattr(item, "info", None), "format", "") == "jpeg"
        note = "periodic peaks are left by 2x/4x up-sampling layers"
        if is_jpeg:
            note += "; this file is a JPEG, whose 8x8 block grid also puts peaks at 1/4 and 1/2 cycles/px"
        evidence.append(
            Evidence(
                "spectral peaks (ratio to neighbourhood)",
                [f"{label}: {ratio:g}x" for label, ratio in spec.peaks] or "none",
                note,
            )
        )
        with watch.stage("render"):
            attachments = [
                Attachment(
                    "Fine-detail spectrum (log magnitude) and radial profile; red circles mark periodic peaks",
                    "image/png",
                    render_spectrum_png(spec),
                ),
                Attachment(
                    "Where the generated-image model responds (red: machine-like, blue: camera-like)",
                    "image/png",
                    render_heatmap_png(rgb, res.cell_logits),
                ),
            ]
        evidence.append(Evidence("weights sha256", model.sha256[:16]))
        return evidence, attachments

    def _video(self, item: MediaItem, model: AiImageModel, watch: Stopwatch) -> Finding:
        fps = float(self.options.video_sample_fps)
        logits: list[float] = []
        points: list[TimelinePoint] = []
        best: tuple[float, np.ndarray | None, ImageScore | None] = (
            -math.inf,
            None,
            None,
        )
        frames = item.frames(fps, max_frames=VIDEO_MAX_FRAMES)
        while True:
            with watch.stage("decode"):
                frame = next(frames, None)
            if frame is None:
                break
            h, w = frame.rgb.shape[:2]
            small = self._too_small(h, w)
            if small is not None:
                return small
            with watch.stage("model"):
                res = score_rgb(model, frame.rgb, VIDEO_MAX_TILES)
            logits.append(res.logit)
            points.append(
                TimelinePoint(
                    frame.pts_s,
                    frame.pts_s + 1.0 / fps,
                    float(model.probability(res.logit)),
                    label=f"frame {frame.index}",
                )
            )
            if res.logit > best[0]:
                best = (res.logit, frame.rgb, res)
        if not logits or best[1] is None or best[2] is None:
            return not_applicable(
                self.card,
                "no-frames",
                "No video frame could be sampled for the generated-image model.",
            )
        logit = float(np.mean(logits))
        p = float(model.probability(logit))
        evidence, attachments = self._evidence(item, model, best[1], best[2], watch)
        evidence[0] = Evidence(
            "model logit",
            round(logit, 3),
            f"mean over {len(logits)} frames sampled at {fps:g} fps; above 0 leans machine-made",
        )
        evidence.insert(
            1,
            Evidence(
                "highest frame probability",
                round(float(model.probability(best[0])), 3),
                "spectrum and map below are of that frame",
            ),
        )
        summary = (
            f"The generated-image model finds the video's frames {_describe(p)} to be machine-made "
            f"({p:.0%}, mean of {len(logits)} sampled frames)."
        )
        return scored(
            self.card,
            p,
            summary,
            signal=Signal.ML,
            evidence=tuple(evidence),
            attachments=tuple(attachments),
            timeline=tuple(points),
            calibration=model.calibration,
            timings_ms=watch.timings_ms,
        )


def create(card: DetectorCard, options: ScanOptions) -> AiImageDetector:
    return AiImageDetector(card, options)
