"""The ``ai-image`` detector on images and videos made here, with the shipped ONNX weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmask.config import ScanOptions
from unmask.core import FindingStatus, MediaKind, Signal
from unmask.detectors import ai_image as A
from unmask.detectors import create, get_card
from unmask.media import open_media
from unmask.testing.upsampling import (
    camera_like,
    nearest_upsampled,
    transposed_conv_upsampled,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model() -> A.AiImageModel:
    return A.AiImageModel()


@pytest.fixture(scope="module")
def detector():
    return create("ai-image", ScanOptions())


def _save(rgb: np.ndarray, path: Path, fmt: str = "PNG") -> Path:
    Image.fromarray(rgb).save(path, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return path


# -- the weights and their card ---------------------------------------------------------------


def test_weights_match_card_and_run(model: A.AiImageModel) -> None:
    meta = json.loads((A.WEIGHTS_DIR / A.META_FILE).read_text())
    data = (A.WEIGHTS_DIR / meta["weights"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"] == model.sha256
    assert len(data) <= 25 * 1024 * 1024
    x = np.random.default_rng(0).random((2, 3, 96, 160), dtype=np.float32)
    logits, maps = model.run(x)
    assert logits.shape == (2,) and maps.shape == (2, 96 // 16, 160 // 16)
    assert np.isfinite(logits).all() and np.isfinite(maps).all()
    np.testing.assert_allclose(
        logits, maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-4
    )  # the logit is the map's mean
    np.testing.assert_array_equal(model.run(x)[0], logits)  # deterministic
    assert get_card("ai-image").accepts(MediaKind.VIDEO)


def test_corrupt_weights_are_refused(tmp_path: Path) -> None:
    from unmask.errors import ModelError

    meta = json.loads((A.WEIGHTS_DIR / A.META_FILE).read_text())
    data = bytearray((A.WEIGHTS_DIR / meta["weights"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / meta["weights"]).write_bytes(bytes(data))
    (tmp_path / A.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="sha256"):
        A.AiImageModel(tmp_path)


# -- what the model sees ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transposed_conv_remake_scores_higher_than_its_source(
    model: A.AiImageModel, seed: int
) -> None:
    src = camera_like(256, 256, seed=seed)
    fake = transposed_conv_upsampled(src)
    assert A.score_rgb(model, fake).logit > A.score_rgb(model, src).logit + 1.0


def test_nearest_remake_scores_higher_than_its_source(model: A.AiImageModel) -> None:
    src = camera_like(256, 256, seed=5)
    assert (
        A.score_rgb(model, nearest_upsampled(src)).logit > A.score_rgb(model, src).logit
    )


@pytest.mark.skipif(
    not (SHARED / "data" / "photos" / "kodak24").is_dir(),
    reason="needs ../shared/data/photos",
)
def test_real_photo_scores_lower_than_its_transposed_conv_remake(
    model: A.AiImageModel,
) -> None:
    path = sorted((SHARED / "data" / "photos" / "kodak24").glob("*.png"))[3]
    photo = np.asarray(Image.open(path).convert("RGB"))
    remake = transposed_conv_upsampled(photo)
    p_photo = float(model.probability(A.score_rgb(model, photo).logit))
    p_remake = float(model.probability(A.score_rgb(model, remake).logit))
    assert p_photo < 0.5 < p_remake


def test_spectrum_marks_checkerboard_peaks_only_when_present() -> None:
    src = camera_like(256, 256, seed=3)
    assert A.spectrum(src).peaks == ()
    labels = {label for label, _ in A.spectrum(transposed_conv_upsampled(src)).peaks}
    assert {"1/2 horizontal", "1/2 vertical"} <= labels


def test_tile_plan_covers_small_images_whole_and_samples_large_ones() -> None:
    assert A.plan_tiles(252, 252) == [(0, 0, 240, 240)]
    tiles = A.plan_tiles(3000, 4000)
    assert len(tiles) == A.MAX_TILES
    assert all(
        t[2] == t[3] == A.TILE_PX and t[0] + t[2] <= 3000 and t[1] + t[3] <= 4000
        for t in tiles
    )
    assert (
        len({t[0] for t in tiles}) > 1 and len({t[1] for t in tiles}) > 1
    )  # spread over the picture, not one row
    assert all(
        t[0] % A.TILE_PX == 0 and t[1] % A.TILE_PX == 0 for t in tiles
    )  # grid anchored at (0, 0)
    thin = A.plan_tiles(64, 9000)  # a strip too thin for square tiles
    assert all(t[2] == 64 for t in thin)


# -- the detector on files --------------------------------------------------------------------


def test_detector_scores_an_image_with_evidence_and_attachments(
    detector, tmp_path: Path
) -> None:
    src = camera_like(256, 320, seed=7)
    f_real = detector.analyze(open_media(_save(src, tmp_path / "real.png")))
    f_fake = detector.analyze(
        open_media(_save(transposed_conv_upsampled(src), tmp_path / "fake.png"))
    )
    for f in (f_real, f_fake):
        assert f.status is FindingStatus.SCORED and f.signal is Signal.ML
        assert 0.0 <= f.probability_fake <= 1.0
        assert len(f.attachments) == 2 and all(
            a.mime == "image/png" and a.data.startswith(PNG_MAGIC)
            for a in f.attachments
        )
        assert {"model", "spectrum", "render"} <= set(f.timings_ms)
        assert f.calibration
    assert f_fake.probability_fake > f_real.probability_fake
    peaks = next(e for e in f_fake.evidence if e.label.startswith("spectral peaks"))
    assert any("1/2" in str(v) for v in peaks.value)
    heat = Image.open(__import__("io").BytesIO(f_fake.attachments[1].data))
    assert max(heat.size) <= 320


def test_large_image_is_scored_by_tiles(detector, tmp_path: Path) -> None:
    big = np.concatenate(
        [camera_like(1200, 800, seed=8), camera_like(1200, 800, seed=9)], axis=1
    )  # 1600x1200
    f = detector.analyze(open_media(_save(big, tmp_path / "big.jpg", "JPEG")))
    assert f.status is FindingStatus.SCORED
    area = next(e for e in f.evidence if e.label == "scored area")
    assert area.value.startswith(f"{A.MAX_TILES} tiles of 256x256 px")
    assert any(e.label.startswith("tile probabilities") for e in f.evidence)
    assert (
        "JPEG"
        in next(e for e in f.evidence if e.label.startswith("spectral peaks")).note
    )


def test_tiny_image_is_not_applicable(detector, tmp_path: Path) -> None:
    f = detector.analyze(
        open_media(_save(camera_like(20, 40, seed=1), tmp_path / "tiny.png"))
    )
    assert (
        f.status is FindingStatus.NOT_APPLICABLE
        and f.abstain_reason == "image-too-small"
    )


def test_video_frames_are_scored_and_averaged(tmp_path: Path) -> None:
    from unmask.testing.media import make_video

    path = make_video(tmp_path / "clip.mp4", seconds=2.0, fps=10, size=(160, 128))
    det = create("ai-image", ScanOptions(video_sample_fps=2.0))
    f = det.analyze(open_media(path))
    assert f.status is FindingStatus.SCORED
    assert 3 <= len(f.timeline) <= 5  # 2 s at 2 fps
    assert [p.start_s for p in f.timeline] == sorted(p.start_s for p in f.timeline)
    frame_p = np.array([p.probability_fake for p in f.timeline])
    assert (
        frame_p.min() - 1e-9 <= f.probability_fake <= frame_p.max() + 1e-9
    )  # mean of logits lies between
    assert len(f.attachments) == 2


def test_scan_runs_the_detector(tmp_path: Path) -> None:
    from unmask import scan

    path = _save(
        transposed_conv_upsampled(camera_like(256, 256, seed=11)), tmp_path / "x.png"
    )
    report = scan(path, options=ScanOptions(detectors=("ai-image",)))
    (finding,) = [f for f in report.findings if f.detector == "ai-image"]
    assert finding.status is FindingStatus.SCORED and finding.probability_fake > 0.5
    json.dumps(report.to_dict())  # attachments serialise
