"""The face-swap trainer: self-blended images behave as built, one training step runs, the export matches torch.

Runs only with the ``train`` extra (torch, OpenCV); skips cleanly otherwise.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

from unmask.faces.align import align_face, five_from_68, warp_points
from unmask.training import faces_data as D

SIZE = 96


def _face(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic textured 'photo' and plausible 68 landmarks, aligned like the cache does it."""
    rng = np.random.default_rng(seed)
    h = w = 200
    img = (rng.uniform(60, 200, (h, w, 3))).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    img[((xx - 100) / 45) ** 2 + ((yy - 105) / 60) ** 2 < 1] = (205, 160, 140)
    t = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    jaw = np.stack([100 - 45 * np.cos(t), 105 + 60 * np.sin(t) * 0.9], 1)
    brows = np.stack([np.linspace(65, 135, 10), np.full(10, 75.0)], 1)
    nose = np.stack([np.r_[np.full(4, 100.0), np.linspace(90, 110, 5)], np.r_[np.linspace(85, 110, 4), np.full(5, 118.0)]], 1)
    eye_l = np.stack([np.linspace(72, 92, 6), np.array([90, 87, 87, 90, 93, 93.0])], 1)
    eye_r = eye_l + np.array([36.0, 0])
    mouth = np.stack([np.r_[np.linspace(82, 118, 12), np.linspace(88, 112, 8)], np.r_[np.full(12, 140.0), np.full(8, 142.0)]], 1)
    lm = np.concatenate([jaw, brows, nose, eye_l, eye_r, mouth])
    assert lm.shape == (68, 2)
    crop, m = align_face(img, five_from_68(lm), SIZE)
    return crop, warp_points(m, lm)


@pytest.mark.parametrize("kind", ["face", "extended", "inner", "lower"])
def test_self_blend_changes_only_inside_the_mask(kind: str) -> None:
    import cv2

    img, lm = _face()
    fake, mask = D.self_blend(img, lm, random.Random(3), kind=kind)
    assert fake.shape == img.shape and fake.dtype == np.uint8
    assert mask.shape == img.shape[:2] and 0 <= mask.min() and mask.max() == pytest.approx(1.0)
    # non-empty inside the (undeformed) hull
    hull = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(D.hull_points(lm, kind, random.Random(0))).astype(np.int32)), 1)
    assert mask[hull > 0].mean() > 0.3
    # the fake equals the source wherever the mask is zero, and differs somewhere inside
    outside = mask == 0
    assert outside.any()
    assert np.array_equal(fake[outside], img[outside])
    assert np.abs(fake.astype(int) - img).sum(axis=2)[mask > 0.5].mean() > 1.0


def test_lower_face_mask_stays_below_the_eyes() -> None:
    img, lm = _face()
    _, mask = D.self_blend(img, lm, random.Random(5), kind="lower")
    eye_y = lm[36:48, 1].mean()
    rows = np.nonzero(mask.max(axis=1) > 0.5)[0]
    assert rows.min() > eye_y


def test_pair_and_boundary_target_shapes() -> None:
    img, lm = _face()
    real, fake, target = D.make_pair(img, lm, random.Random(1))
    assert real.shape == fake.shape == img.shape
    assert target.shape == (SIZE // D.MASK_STRIDE_PX,) * 2
    assert 0 <= target.min() and target.max() <= 1.0


@pytest.mark.parametrize("mode", D.DEGRADE_MODES)
def test_degrade_modes_keep_shape_and_mask(mode: str) -> None:
    img, lm = _face()
    _, mask = D.self_blend(img, lm, random.Random(2))
    for seed in range(6):
        out, m = D.degrade(img, mask, random.Random(seed), mode)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert m.shape == mask.shape
    if mode == "none":
        assert np.array_equal(out, img)


def test_h264_codes_a_small_crop_lossily() -> None:
    pytest.importorskip("av")
    img, _ = _face()
    small = np.ascontiguousarray(img[:48, :48])
    for prev in (None, np.roll(small, 1, axis=1)):
        coded = D.h264(small, 34, prev)
        assert coded.shape == small.shape and coded.dtype == np.uint8
        diff = np.abs(coded.astype(int) - small).mean()
        assert 0 < diff < 40


def test_split_keeps_identities_apart() -> None:
    ids = np.array([f"s:{i // 3}" for i in range(300)])
    split = D.split_identities(ids, heldout_share=0.2, seed=1)
    parts = [set(ids[split[k]].tolist()) for k in ("train", "calib", "report")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(len(split[k]) for k in split) == 300


def test_one_training_step_and_export(tmp_path) -> None:
    from unmask.training.export import export_module
    from unmask.training.faces_model import FaceSwapNet

    img, lm = _face()
    cache = D.FaceCache(np.stack([img, img]), np.stack([lm, lm]).astype(np.float32), np.array(["a:1", "a:2"]),
                        np.array(["a", "a"]), np.array(["x.jpg", "y.jpg"]))
    x, t = zip(*(D.SbiPairs(cache, np.array([0, 1]))[i] for i in range(2)))
    x, t = torch.cat(x).float() / 255, torch.cat(t)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    model = FaceSwapNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    logit, mask = model(x)
    assert logit.shape == (4,) and mask.shape == (4, 1, SIZE // 8, SIZE // 8)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y) + \
        torch.nn.functional.binary_cross_entropy_with_logits(mask, t)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    onnx = tmp_path / "f.onnx"
    sha = export_module(model, onnx, torch.rand(2, 3, SIZE, SIZE), output_names=["logit", "mask"],
                        dynamic_axes={"image": {0: "n"}, "logit": {0: "n"}, "mask": {0: "n"}},
                        check_input=torch.rand(3, 3, SIZE, SIZE))
    assert len(sha) == 64


def test_shipped_weights_match_their_card() -> None:
    import hashlib
    from pathlib import Path

    weights = Path(__file__).resolve().parents[1] / "unmask" / "detectors" / "weights"
    meta_path = weights / "face-swap.json"
    if not meta_path.is_file():
        pytest.skip("face-swap weights not shipped yet")
    meta = json.loads(meta_path.read_text())
    onnx = weights / meta["weights"]
    assert hashlib.sha256(onnx.read_bytes()).hexdigest() == meta["sha256"]
    assert onnx.stat().st_size <= 25 * 1024 * 1024
    assert meta["input"]["layout"] == "NCHW" and meta["input"]["alignment"] == "unmask.faces.align"
    assert {"a", "b", "describe"} <= set(meta["calibration"])
    ort = pytest.importorskip("onnxruntime")
    s = meta["input"]["size"]
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    logit, mask = session.run(["logit", "mask"], {"image": np.random.default_rng(0).random((3, 3, s, s), dtype=np.float32)})
    assert logit.shape == (3,) and mask.shape[:2] == (3, 1) and np.isfinite(logit).all()
