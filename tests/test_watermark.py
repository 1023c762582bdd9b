"""The Stable Diffusion invisible-watermark detector on images and videos watermarked in the test.

The encoder (``unmask.testing.watermark``) reproduces ``invisible-watermark``'s
``dwtDct`` as SD v1/v2 and SDXL call it; it was cross-checked against the real
library once, outside this suite (the library imports torch).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask.config import ScanOptions
from unmask.core import FindingStatus, Signal, Strength, Verdict
from unmask.detectors import _registry
from unmask.detectors.watermark import MAX_TAIL_P, MIN_PIXELS, N_HYPOTHESES, binomial_tail, decode, watermark_by_key
from unmask.media import open_media
from unmask.testing.media import write_video
from unmask.testing.watermark import embed_sd_watermark, natural_image

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
COMBOS = [("sdxl", "bgr"), ("sdxl", "rgb"), ("sdv1", "bgr"), ("sdv1", "rgb")]
NAMES = {"sdxl": "Stable Diffusion XL", "sdv1": "Stable Diffusion v1", "sdv2": "Stable Diffusion v2"}


@pytest.fixture(scope="module")
def detector():
    return _registry.create("watermark", ScanOptions())


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return natural_image(512, 512, seed=3)


def save(rgb: np.ndarray, path: Path, **params) -> Path:
    Image.fromarray(rgb).save(path, **params)
    return path


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def evidence(finding) -> dict:
    return {e.label: e.value for e in finding.evidence}


def true_message_matches(rgb: np.ndarray, which: str) -> int:
    """Bits of ``which`` that the best hypothesis for that message recovers (even below the threshold)."""
    from unmask.detectors.watermark import ORDERS, PATHS, image_block_bits, message_bits

    bits = np.asarray(watermark_by_key(which).bits, dtype=bool)
    return max(
        int(np.count_nonzero(message_bits(image_block_bits(rgb, o, p), bits.size) == bits)) for o in ORDERS for p in PATHS
    )


@pytest.mark.parametrize("which,order", [*COMBOS, ("sdv2", "bgr")])
def test_watermarked_png_is_declared_generated(detector, picture, tmp_path, which, order):
    marked = embed_sd_watermark(picture, which, order)
    finding = detector.analyze(open_media(save(marked, tmp_path / "marked.png")))
    assert finding.status is FindingStatus.SCORED
    assert finding.signal is Signal.GENERATOR_DECLARED and finding.strength is Strength.STRONG
    assert finding.probability_fake == 0.95
    assert finding.summary.startswith(f"Carries the {NAMES[which]} invisible watermark (")
    ev = evidence(finding)
    matched, n_bits = map(int, ev["bits matching"].split("/"))
    assert n_bits == len(watermark_by_key(which).bits)
    assert matched >= 0.95 * n_bits  # lossless: only the library's own block misreads, outvoted
    assert ev["channel order"] == order
    assert ev["chance on an unmarked image"] <= MAX_TAIL_P * N_HYPOTHESES


def test_the_mark_is_invisible(picture):
    # dwtDct moves one Haar coefficient of U per 8x8 pixels by at most 36/2: faint chroma noise.
    for which, order in COMBOS:
        diff = embed_sd_watermark(picture, which, order).astype(np.float64) - picture
        psnr_db = 10 * np.log10(255.0**2 / np.mean(diff**2))
        assert 30.0 < psnr_db < 60.0, (which, order, psnr_db)


def test_sdxl_blocks_read_best_through_the_float_conversion_it_was_embedded_with(picture):
    # diffusers hands OpenCV float32 0..255, whose YUV has chroma offset 0.5, not 128
    from unmask.detectors.watermark import image_block_bits

    bits = np.asarray(watermark_by_key("sdxl").bits, dtype=bool)
    marked = embed_sd_watermark(picture, "sdxl", "rgb")
    rate = {}
    for path in ("uint8", "float"):
        read = image_block_bits(marked, "rgb", path)
        rate[path] = np.mean(read == bits[np.arange(read.size) % bits.size])
    assert rate["float"] > 0.95 and rate["uint8"] < 0.85, rate
    assert decode(marked).path == "float"


def test_unmarked_image_is_not_applicable(detector, picture, tmp_path):
    finding = detector.analyze(open_media(save(picture, tmp_path / "plain.png")))
    assert finding.status is FindingStatus.NOT_APPLICABLE and finding.probability_fake is None
    assert finding.abstain_reason == "no-watermark"
    assert finding.summary == "No Stable Diffusion watermark found (most generators embed none, and re-encoding can remove it)."


def test_marking_one_image_does_not_make_another_one_pass(picture):
    other = natural_image(512, 512, seed=4)
    marked = embed_sd_watermark(picture, "sdxl", "rgb")
    # same size, same generator settings, different content: the mark is in the pixels, not the layout
    assert decode(marked).detected and not decode(other).detected


def test_small_image_is_not_applicable(detector, tmp_path):
    small = natural_image(250, 256, seed=1)  # 64000 pixels < 256 * 256
    assert small.shape[0] * small.shape[1] < MIN_PIXELS
    with pytest.raises(ValueError, match="too small"):
        embed_sd_watermark(small, "sdxl")
    finding = detector.analyze(open_media(save(small, tmp_path / "small.png")))
    assert finding.status is FindingStatus.NOT_APPLICABLE and finding.abstain_reason == "too-small"
    assert "256x256" in finding.summary


def test_threshold_is_the_documented_false_positive_bound():
    # >= 44/48 SDXL bits, >= 103/136 SD v1 bits, 32/32 SD v2 bits; one fewer would not pass
    for n_bits, needed in ((48, 44), (136, 103), (32, 32)):
        assert binomial_tail(needed, n_bits) <= MAX_TAIL_P < binomial_tail(needed - 1, n_bits)
    assert binomial_tail(48, 48) == 2.0**-48 and binomial_tail(0, 48) == pytest.approx(1.0)


def test_jpeg_quality_75_removes_it_and_95_damages_it(picture):
    """Documented behaviour: JPEG re-encoding (Pillow, 4:2:0) destroys dwtDct.

    At q75 no combination survives; at q95 agreement drops and the diffusers SDXL
    mark (RGB handed over as BGR) is already lost on this picture.
    """
    for which, order in COMBOS:
        marked = embed_sd_watermark(picture, which, order)
        lossless = true_message_matches(marked, which)
        q95 = jpeg_roundtrip(marked, 95)
        assert true_message_matches(q95, which) < lossless, (which, order)
        assert not decode(jpeg_roundtrip(marked, 75)).detected, (which, order)
    assert not decode(jpeg_roundtrip(embed_sd_watermark(picture, "sdxl", "rgb"), 95)).detected


def test_scan_flags_a_watermarked_image(picture, tmp_path):
    import unmask

    path = save(embed_sd_watermark(picture, "sdxl", "rgb"), tmp_path / "sdxl.png")
    report = unmask.scan(path, options=ScanOptions(detectors=("watermark",)))
    assert report.verdict is Verdict.LIKELY_MANIPULATED
    assert any("Stable Diffusion XL" in r for r in report.reasons)


def test_h264_video_of_watermarked_frames_is_detected(detector, tmp_path):
    # generative-models (SVD) marks every frame with the SDXL message on BGR float frames;
    # H.264 4:2:0 at crf 18 keeps it because the decoder's chroma upsampling preserves 2x2 sums.
    frames = [embed_sd_watermark(natural_image(384, 384, seed=s), "sdxl", "bgr") for s in range(3)]
    item = open_media(write_video(tmp_path / "svd.mp4", frames, fps=1, crf=18))
    finding = detector.analyze(item)
    assert finding.status is FindingStatus.SCORED and finding.signal is Signal.GENERATOR_DECLARED
    ev = evidence(finding)
    assert ev["frames checked"] == 3 and ev["frames carrying it"] == 3
    assert ev["watermark"] == "Stable Diffusion XL"
    assert finding.summary.startswith("3 of 3 sampled frames carry the Stable Diffusion XL invisible watermark")


def test_h264_video_without_watermark_is_not_applicable(detector, tmp_path):
    frames = [natural_image(384, 384, seed=s) for s in range(3)]
    finding = detector.analyze(open_media(write_video(tmp_path / "plain.mp4", frames, fps=1, crf=18)))
    assert finding.status is FindingStatus.NOT_APPLICABLE and finding.abstain_reason == "no-watermark"
    assert evidence(finding)["frames checked"] == 3


@pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos is absent")
def test_no_detection_on_real_photos():
    paths = sorted(p for p in PHOTOS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert paths
    detected = [p.name for p in paths if (d := decode(np.asarray(Image.open(p).convert("RGB")))) is not None and d.detected]
    assert detected == []
