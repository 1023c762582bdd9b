"""unmask.faces: MTCNN detection (real ONNX nets), NMS, tracking, following faces through a real video.

Tests that need a real face read ``../shared/data/faces`` and skip cleanly without it:
MTCNN does not fire on drawings, and a face we drew ourselves would prove nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from unmask.faces import FaceBox, FaceTrack, FaceTracker, align_face, box_iou, detect_faces, follow_faces, refine_faces, track_faces
from unmask.faces.detect import nms
from unmask.testing.faces import make_face_video, shared_faces, shared_root

needs_shared = pytest.mark.skipif(shared_root() is None, reason="../shared/data/faces not present")


def _face(x0: float, y0: float, side: float = 100.0, score: float = 0.99) -> FaceBox:
    s = side
    pts = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]) * s + [x0, y0]
    return FaceBox((x0, y0, x0 + s, y0 + s), pts, score)


def _nme(found: FaceBox, truth: np.ndarray) -> float:
    """Mean five-point error over the inter-ocular distance."""
    iod = np.linalg.norm(truth[0] - truth[1])
    return float(np.linalg.norm(found.points - truth, axis=1).mean() / iod)


# -- pure parts ------------------------------------------------------------------------------


def test_nms_keeps_best_of_overlapping_and_min_mode_drops_nested():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 5, 5]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2, 3]  # 0 overlaps 1 (IoU 0.68); 3 is small inside, IoU 0.09
    assert nms(boxes, scores, 0.5, mode="min").tolist() == [1, 2]  # 3 lies wholly inside 1
    assert nms(np.empty((0, 4)), np.empty(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="mode"):
        nms(boxes, scores, 0.5, mode="max")


def test_facebox_is_frozen_and_checked():
    f = _face(10, 20)
    assert f.points.shape == (5, 2) and not f.points.flags.writeable
    assert f.width_px == 100 and f.size_px >= 80
    with pytest.raises(ValueError, match="x1 > x0"):
        FaceBox((10, 10, 5, 20), f.points, 0.9)
    assert f.scaled(0.5).box == (5.0, 10.0, 55.0, 60.0)
    d = f.to_dict()
    assert d["box_xyxy_px"] == [10.0, 20.0, 110.0, 120.0] and len(d["points_xy_px"]) == 5


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_tracker_links_moving_faces_and_tolerates_missed_frames():
    tr = FaceTracker(max_missed=2)
    a, b = [], []
    for k in range(8):
        t = k * 0.5
        faces = [_face(100 + 10 * k, 100), _face(600, 300 - 10 * k)]
        if k in (3, 4):  # the detector missed face A twice in a row: still one track
            faces = faces[1:]
        out = tr.update(t, faces)
        for tid, f in out:
            (a if f.box[0] < 500 else b).append(tid)
    tracks = tr.tracks()
    assert len(tracks) == 2 and len(set(a)) == 1 and len(set(b)) == 1
    ta = next(t for t in tracks if t.track_id == a[0])
    assert len(ta) == 6 and ta.start_s == 0.0 and ta.end_s == 3.5


def test_tracker_closes_after_long_gap_and_keeps_fast_face_by_landmarks():
    tr = FaceTracker(max_missed=1)
    tr.update(0.0, [_face(100, 100)])
    tr.update(0.5, [])
    tr.update(1.0, [])  # two misses > max_missed: closed
    tr.update(1.5, [_face(100, 100)])
    assert [len(t) for t in tr.tracks()] == [1, 1]
    # A face that moved 60 % of its size between samples: boxes overlap by IoU 0.25 < 0.3,
    # but its points are within 0.6 of the face size... beyond 0.5: a new track.
    tracks = track_faces([(0.0, [_face(0, 0)]), (0.5, [_face(60, 0)])])
    assert len(tracks) == 2
    # 40 %: IoU 0.43 -> linked.
    assert len(track_faces([(0.0, [_face(0, 0)]), (0.5, [_face(40, 0)])])) == 1
    # Points link even when the boxes do not overlap enough (e.g. a box jump on a profile view).
    f0 = _face(0, 0)
    f1 = FaceBox((30, -30, 200, 140), f0.points + 5, 0.9)
    assert box_iou(f0.box, f1.box) < 0.3
    assert len(track_faces([(0.0, [f0]), (0.5, [f1])])) == 1
    with pytest.raises(ValueError, match="time order"):
        tr.update(0.2, [])
    with pytest.raises(ValueError):
        FaceTrack(0, ())


# -- the real MTCNN nets -----------------------------------------------------------------------


def test_no_face_in_blank_noise_or_tiny_images():
    rng = np.random.default_rng(0)
    assert detect_faces(np.zeros((240, 320, 3), np.uint8)) == []
    assert detect_faces(np.full((480, 640, 3), 200, np.uint8)) == []
    assert detect_faces(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) == []
    assert detect_faces(np.zeros((8, 8, 3), np.uint8)) == []
    assert refine_faces(np.zeros((240, 320, 3), np.uint8), []) == []


def test_detect_rejects_wrong_arrays():
    with pytest.raises(ValueError, match="uint8 RGB"):
        detect_faces(np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        detect_faces(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(ValueError, match="min_face_px"):
        detect_faces(np.zeros((100, 100, 3), np.uint8), min_face_px=4)


@needs_shared
def test_detects_annotated_faces_with_accurate_points():
    faces = list(shared_faces(limit=20))
    assert len(faces) == 20
    errors = []
    for sf in faces:
        found = detect_faces(sf.rgb)
        assert found, f"no face found in {sf.path.name}"
        assert all(0.0 <= f.score <= 1.0 for f in found)
        errors.append(min(_nme(f, sf.points5) for f in found))
    # bench/bench_faces.py finds 99.5 % of these within 0.25 eye distances; a profile face may miss.
    assert sum(e < 0.25 for e in errors) >= 19, [round(e, 2) for e in errors]
    assert np.median(errors) < 0.12, [round(e, 2) for e in errors]


@needs_shared
def test_large_image_is_detected_downscaled_and_mapped_back():
    from PIL import Image

    sf = next(shared_faces())
    h, w = sf.rgb.shape[:2]
    k = 1600 / max(h, w)
    big = np.asarray(Image.fromarray(sf.rgb).resize((round(w * k), round(h * k)), Image.Resampling.BILINEAR))
    found = detect_faces(big)  # detected at 640 px, reported in 1600 px coordinates
    assert found
    assert min(_nme(f, sf.points5 * k) for f in found) < 0.25
    full = detect_faces(big, max_side_px=None)
    assert box_iou(found[0].box, full[0].box) > 0.7


@needs_shared
def test_refine_follows_a_shifted_face_and_drops_a_vanished_one():
    sf = next(shared_faces())
    face = max(detect_faces(sf.rgb), key=lambda f: f.score)
    shifted = np.roll(sf.rgb, (12, -15), axis=(0, 1))
    again = refine_faces(shifted, [face])
    assert len(again) == 1
    assert _nme(again[0], sf.points5 + [-15, 12]) < 0.25
    assert refine_faces(np.full_like(sf.rgb, 128), [face]) == []


@needs_shared
def test_aligned_crop_puts_detected_face_on_template():
    from unmask.faces.align import CANONICAL_POINTS, warp_points

    sf = next(shared_faces())
    face = max(detect_faces(sf.rgb), key=lambda f: f.score)
    crop, m = align_face(sf.rgb, face.points, 224)
    assert crop.shape == (224, 224, 3)
    err = np.linalg.norm(warp_points(m, face.points) - CANONICAL_POINTS * 224, axis=1).max()
    assert err < 224 * 0.05


@needs_shared
def test_follow_faces_through_a_real_h264_video(tmp_path):
    from unmask.media import open_media

    sf = next(shared_faces())
    path = make_face_video(tmp_path / "face.mp4", sf.rgb, size=(640, 360), seconds=3.0, fps=25, face_px=200)
    item = open_media(path)
    tracker = FaceTracker()
    per_frame = [(frame.pts_s, assigned) for frame, assigned in follow_faces(item.frames(2.0), tracker=tracker, redetect_every_s=1.0)]
    assert len(per_frame) == 6
    assert all(len(a) == 1 for _, a in per_frame), [len(a) for _, a in per_frame]
    tracks = tracker.tracks()
    assert len(tracks) == 1 and len(tracks[0]) == 6
    xs = [f.box[0] for f in tracks[0].faces]
    assert max(xs) - min(xs) > 15  # the face moves across the frame and the track follows it


def test_follow_faces_on_a_faceless_video(tmp_path):
    from unmask.media import open_media

    path = make_face_video(tmp_path / "none.mp4", None, size=(320, 180), seconds=2.0, fps=10)
    tracker = FaceTracker()
    out = list(follow_faces(open_media(path).frames(2.0), tracker=tracker))
    assert len(out) == 4 and all(a == [] for _, a in out)
    assert tracker.tracks() == ()


def test_similarity_transform_matches_umeyama_svd():
    """The 2-D closed form equals Umeyama's SVD solution with its reflection fix, mirrored inputs included."""
    from unmask.faces.align import similarity_transform

    def umeyama(src, dst):
        mu_s, mu_d = src.mean(0), dst.mean(0)
        s, d = src - mu_s, dst - mu_d
        u, sig, vt = np.linalg.svd(d.T @ s / len(src))
        sign = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
        rot = u @ np.diag(sign) @ vt
        scale = (sig * sign).sum() / ((s**2).sum() / len(src))
        return np.c_[scale * rot, mu_d - scale * rot @ mu_s]

    rng = np.random.default_rng(0)
    for k in range(200):
        src = rng.normal(size=(5, 2)) * rng.uniform(1, 100)
        dst = rng.normal(size=(5, 2)) * 30 if k % 2 else src * [1, -1] + rng.normal(size=(5, 2))  # mirrored: no proper fit
        np.testing.assert_allclose(similarity_transform(src, dst), umeyama(src, dst), rtol=1e-9, atol=1e-9)
