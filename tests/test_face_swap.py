"""``face-swap``: the shipped model's contract, and the real detector on media made here.

Everything runs the real ONNX model shipped in ``unmask/detectors/weights`` (set
``UNMASK_TEST_FACE_SWAP_DIR`` to try a candidate model folder with the same contract).
Tests that need a real face read ``../shared/data/faces`` and skip cleanly without it.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from unmask.config import ScanOptions
from unmask.core import FindingStatus
from unmask.detectors import face_swap as fs
from unmask.detectors._registry import get_card
from unmask.media import open_media
from unmask.testing.faces import face_mask, make_face_video, self_blend, shared_faces, shared_root

needs_shared = pytest.mark.skipif(shared_root() is None, reason="../shared/data/faces not present")
WEIGHTS = Path(os.environ.get("UNMASK_TEST_FACE_SWAP_DIR") or fs.WEIGHTS_DIR)


@pytest.fixture(scope="module")
def model() -> fs.FaceSwapModel:
    return fs.FaceSwapModel(WEIGHTS)


@pytest.fixture(scope="module")
def detector(model) -> fs.FaceSwapDetector:
    return fs.FaceSwapDetector(get_card("face-swap"), ScanOptions(), model)


def _save(tmp_path: Path, name: str, rgb: np.ndarray) -> Path:
    from PIL import Image

    p = tmp_path / name
    Image.fromarray(rgb).save(p, quality=95) if name.endswith(".jpg") else Image.fromarray(rgb).save(p)
    return p


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return im.size


# -- the model's contract -----------------------------------------------------------------------


def test_card_matches_the_onnx_file(model):
    meta = json.loads((WEIGHTS / fs.META_FILE).read_text())
    assert meta["weights"] == "face-swap.onnx" and len(meta["sha256"]) == 64
    inp = model.session.get_inputs()
    assert [i.name for i in inp] == ["image"]
    assert inp[0].shape[1:] == [3, model.size, model.size]
    assert {o.name for o in model.session.get_outputs()} >= {"logit", "mask"}
    assert {"a", "b"} <= set(meta["calibration"]) and "measured" in meta
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, model.size, model.size, 3), dtype=np.uint8)
    logits, masks = model.run(crops)
    again, _ = model.run(crops)
    assert logits.shape == (2,) and masks.ndim == 3 and masks.shape[0] == 2
    assert np.isfinite(logits).all() and np.isfinite(masks).all()
    assert np.allclose(logits, again, atol=1e-5)
    assert np.allclose(model.run(crops[:1])[0], logits[:1], atol=1e-4)  # batching changes nothing


def test_corrupt_weights_are_refused(tmp_path):
    from unmask.errors import ModelError

    (tmp_path / fs.META_FILE).write_text((WEIGHTS / fs.META_FILE).read_text())
    data = bytearray((WEIGHTS / "face-swap.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "face-swap.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        fs.FaceSwapModel(tmp_path)
    (tmp_path / fs.META_FILE).unlink()
    with pytest.raises(ModelError, match="missing"):
        fs.FaceSwapModel(tmp_path)


def test_top_fraction_mean():
    assert fs.top_fraction_mean([0, 1, 2, 3, 4, 5]) == 4.5
    assert fs.top_fraction_mean([7.0]) == 7.0
    assert fs.top_fraction_mean([1, 2, 3, 10], fraction=0.25) == 10
    with pytest.raises(ValueError):
        fs.top_fraction_mean([])


# -- no face, small faces ------------------------------------------------------------------------


def test_no_face_in_a_picture_is_a_reason_not_a_score(detector, tmp_path):
    from unmask.testing.media import make_image

    f = detector.analyze(open_media(make_image(tmp_path / "scene.png", "png", size=(320, 240))))
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "no-face"
    assert f.probability_fake is None and "No face" in f.summary


def test_no_face_in_a_video(detector, tmp_path):
    path = make_face_video(tmp_path / "none.mp4", None, size=(320, 180), seconds=2.0, fps=10)
    f = detector.analyze(open_media(path))
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "no-face"
    assert "4 frames" in f.summary and f.timeline == ()


@needs_shared
def test_small_faces_are_skipped_with_a_note(detector, tmp_path):
    from PIL import Image

    sf = next(shared_faces())
    h, w = sf.rgb.shape[:2]
    k = 90 / max(h, w)  # the face itself becomes ~50 px: found, but below MIN_FACE_PX
    small = np.asarray(Image.fromarray(sf.rgb).resize((round(w * k), round(h * k)), Image.Resampling.BILINEAR))
    canvas = np.full((240, 320, 3), 90, np.uint8)
    canvas[60 : 60 + small.shape[0], 100 : 100 + small.shape[1]] = small
    f = detector.analyze(open_media(_save(tmp_path, "small.png", canvas)))
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "faces-too-small", f.summary
    assert f"{fs.MIN_FACE_PX} px" in f.summary and f.probability_fake is None
    # Beside a big face, the small one is skipped and said so; the big one is scored.
    big = np.full((max(h, 240), w + 200, 3), 90, np.uint8)
    big[:h, :w] = sf.rgb
    big[20 : 20 + small.shape[0], w + 50 : w + 50 + small.shape[1]] = small
    f = detector.analyze(open_media(_save(tmp_path, "both.png", big)))
    assert f.status is FindingStatus.SCORED
    ev = {e.label: e for e in f.evidence}
    assert ev["faces skipped"].value == 1 and len(ev["faces judged"].value) == 1


# -- scoring real faces ----------------------------------------------------------------------------


@needs_shared
def test_self_blend_scores_higher_than_its_source_face(model):
    """The issue's check: a synthetic self-blend must score higher than the face it was made from."""
    from unmask.faces import detect_faces

    pairs = []
    for i, sf in enumerate(shared_faces(limit=8)):
        fake, mask = self_blend(sf.rgb, sf.points5, seed=i)
        assert mask.max() > 0.99 and mask.min() == 0.0
        assert np.abs(fake.astype(int) - sf.rgb).max() > 10  # really changed
        face = max(detect_faces(sf.rgb), key=lambda f: f.score)
        real_s, fake_s = fs.score_faces(model, sf.rgb, [face]) + fs.score_faces(model, fake, [face])
        pairs.append((real_s.logit, fake_s.logit))
    real, fake = np.array(pairs).T
    assert (fake > real).sum() >= 7, pairs
    assert fake.mean() - real.mean() > 1.0, pairs


@needs_shared
def test_photo_finding_has_boxes_heatmaps_and_max_over_faces(detector, tmp_path):
    sf = next(shared_faces(sources=("afw",)))  # AFW crops often hold a second person
    fake, _ = self_blend(sf.rgb, sf.points5, seed=3)
    f = detector.analyze(open_media(_save(tmp_path, "photo.png", fake)))
    assert f.status is FindingStatus.SCORED and 0.0 <= f.probability_fake <= 1.0
    faces = {e.label: e.value for e in f.evidence}["faces judged"]
    assert faces and f.probability_fake == pytest.approx(max(x["probability"] for x in faces), abs=1e-3)
    assert all(len(x["box_xyxy_px"]) == 4 and len(x["points_xy_px"]) == 5 for x in faces)
    assert len(f.attachments) == 1 + min(len(faces), fs.MAX_HEATMAPS)
    for a in f.attachments:
        assert a.mime == "image/png" and min(_png_size(a.data)) > 32
    assert f.calibration and f.timeline == ()


def test_heatmap_lands_where_the_map_is_hot():
    """A map hot only at the crop's left-eye position shows up on the picture at that eye."""
    from PIL import Image

    from unmask.faces import FaceBox
    from unmask.faces.align import CANONICAL_POINTS, alignment_matrix

    size = 224
    pts = np.array([[160.0, 150.0], [230.0, 160.0], [190.0, 200.0], [165.0, 240.0], [225.0, 248.0]])
    rgb = np.full((400, 420, 3), 128, np.uint8)
    m = alignment_matrix(pts, size)
    mask = np.full((28, 28), -8.0, np.float32)
    ex, ey = CANONICAL_POINTS[0] * 28
    mask[int(ey) - 1 : int(ey) + 2, int(ex) - 1 : int(ex) + 2] = 8.0
    s = fs.FaceScore(FaceBox((120, 100, 270, 290), pts, 0.99), 0.0, 0.5, mask, m)
    (x0, y0, x1, y1), _ = fs._crop_region(rgb.shape, s, size)
    im = np.asarray(Image.open(io.BytesIO(fs.render_heatmap_png(rgb, s, size))).convert("RGB")).astype(int)
    k = im.shape[1] / (x1 - x0)
    redness = im[..., 0] - im[..., 1]
    yy, xx = np.unravel_index(np.argmax(redness), redness.shape)
    px, py = x0 + (xx + 0.5) / k, y0 + (yy + 0.5) / k
    assert math.hypot(px - pts[0, 0], py - pts[0, 1]) < 12, (px, py)
    # ... and a copy of the picture's surroundings moved the same way (what video evidence keeps).
    region, s2 = fs._face_region(rgb, s, size)
    assert region.shape[0] == y1 - y0 and np.allclose(s2.matrix[:, :2], m[:, :2])


@needs_shared
def test_video_timeline_per_track_and_documented_aggregation(detector, tmp_path):
    sf = next(shared_faces())
    fake, _ = self_blend(sf.rgb, sf.points5, seed=1)
    path = make_face_video(tmp_path / "face.mp4", fake, size=(640, 360), seconds=3.0, fps=25, face_px=220)
    f = detector.analyze(open_media(path))
    assert f.status is FindingStatus.SCORED, f.summary
    assert len(f.timeline) == 6 and {p.label for p in f.timeline} == {"face 1"}
    assert [round(p.start_s, 2) for p in f.timeline] == [0.0, 0.52, 1.0, 1.52, 2.0, 2.52] or len({p.start_s for p in f.timeline}) == 6
    # Video probability = calibrated mean of the top third of the track's frame logits.
    m = detector.model
    logits = [(math.log(p.probability_fake / (1 - p.probability_fake)) - m.b) / m.a for p in f.timeline]
    expected = float(m.probability(fs.top_fraction_mean(logits)))
    assert f.probability_fake == pytest.approx(expected, abs=1e-6)
    titles = [a.title for a in f.attachments]
    assert any("over time" in t for t in titles) and any("most suspicious face" in t for t in titles)
    assert all(a.mime == "image/png" for a in f.attachments)
    tracks = {e.label: e.value for e in f.evidence}["face tracks"]
    assert len(tracks) == 1 and tracks[0]["frames"] == 6


@needs_shared
def test_scan_and_html_report_show_the_face_swap_evidence(tmp_path):
    import unmask
    from unmask.report.html import render_html

    sf = next(shared_faces())
    report = unmask.scan(_save(tmp_path, "face.jpg", sf.rgb), options=ScanOptions(detectors=("face-swap",)))
    finding = next(f for f in report.findings if f.detector == "face-swap")
    assert finding.status is FindingStatus.SCORED
    html = render_html([report])
    assert html.count("data:image/png;base64,") >= len(finding.attachments) >= 2
    d = report.to_dict()
    assert d["findings"][0]["attachments"][0]["mime"] == "image/png"


def test_face_mask_is_soft_and_centred():
    pts = np.array([[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]])
    m = face_mask((140, 120), pts)
    assert m.shape == (140, 120) and m.dtype == np.float32
    assert m[70, 60] == pytest.approx(1.0) and m[0, 0] == 0.0
    assert 0 < m[70, 60 + 38] < 1  # feathered edge


@needs_shared
def test_two_faces_in_a_video_give_two_tracks_and_the_highest_counts(detector, tmp_path):
    a, b = list(shared_faces(limit=2))
    path = make_face_video(tmp_path / "two.mp4", a.rgb, size=(640, 360), seconds=3.0, fps=25, face_px=180, second_face_rgb=b.rgb)
    f = detector.analyze(open_media(path))
    assert f.status is FindingStatus.SCORED, f.summary
    tracks = {e.label: e.value for e in f.evidence}["face tracks"]
    assert len(tracks) >= 2 and all(t["frames"] == 6 for t in tracks), tracks  # no track broke or merged
    labels = {p.label for p in f.timeline}
    assert labels == {t["track"] for t in tracks} and len(f.timeline) == 6 * len(tracks)
    assert f.probability_fake == pytest.approx(max(t["probability"] for t in tracks), abs=1e-3)
    assert "most suspicious of" in f.summary
