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


def test_load_onnx_reproduces_an_exported_network(tmp_path) -> None:
    """Shipped weights live only as ONNX with BatchNorm folded in; loading them back must give the same outputs."""
    from unmask.training.export import export_module
    from unmask.training.faces_model import FaceSwapNet, freeze_batchnorm, load_onnx

    torch.manual_seed(0)
    net = FaceSwapNet()
    for m in net.modules():  # statistics far from the identity, so that a folding mistake shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    onnx = tmp_path / "f.onnx"
    export_module(net, onnx, torch.rand(2, 3, SIZE, SIZE), output_names=["logit", "mask"],
                  dynamic_axes={"image": {0: "n"}, "logit": {0: "n"}, "mask": {0: "n"}}, check_input=torch.rand(3, 3, SIZE, SIZE))
    back = FaceSwapNet()
    assert load_onnx(back, onnx) == sum(isinstance(m, torch.nn.Conv2d) for m in back.modules())
    back.eval()
    x = torch.rand(3, 3, SIZE, SIZE)
    with torch.no_grad():
        (a, am), (b, bm) = net(x), back(x)
    assert torch.allclose(a, b, atol=1e-4) and torch.allclose(am, bm, atol=1e-4)
    back.train()
    freeze_batchnorm(back)
    assert not any(m.training for m in back.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert back.classifier.training  # the rest still trains


def _talking_frames(n: int = 12) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """A small 'video': a textured frame whose face drifts by a pixel a frame; (frames, five points each, 68 landmarks)."""
    rng = np.random.default_rng(4)
    base = rng.uniform(60, 200, (200, 240, 3)).astype(np.uint8)
    _, lm = _face()  # landmarks of a SIZE crop stand in for the frame's face, moved into the frame
    frames, points = [], []
    for i in range(n):
        frames.append(np.roll(base, i, axis=1).copy())
        points.append(five_from_68(lm) + np.array([40.0 + i, 40.0]))
    return frames, points, lm


def test_paste_back_changes_the_frame_only_inside_the_mask() -> None:
    from unmask.training import faces_video as V

    frames, points, _ = _talking_frames(1)
    frame = frames[0]
    crop, matrix = align_face(frame, points[0], 160)
    same = V.paste_back(frame, matrix, crop, np.ones((160, 160), np.float32))
    # warped out and back again, the face region comes back where it was (only resampling blur differs)
    inside = np.zeros(frame.shape[:2], bool)
    c = np.mean(points[0], axis=0).astype(int)
    inside[c[1] - 10 : c[1] + 10, c[0] - 10 : c[0] + 10] = True
    assert np.abs(same.astype(int) - frame)[inside].mean() < 25
    mask = np.zeros((160, 160), np.float32)
    mask[60:100, 60:100] = 1.0
    brighter = np.clip(crop.astype(int) + 60, 0, 255).astype(np.uint8)
    pasted = V.paste_back(frame, matrix, brighter, mask)
    changed = np.abs(pasted.astype(int) - frame).sum(axis=2) > 0
    assert changed.any() and changed.mean() < 0.2
    assert (pasted.astype(int) - frame)[changed].mean() > 10


def test_clip_pairs_blend_the_same_region_on_every_frame_and_code_the_clip() -> None:
    pytest.importorskip("av")
    from unmask.training import faces_video as V

    frames, points, lm = _talking_frames(12)
    lm = lm * (V.SIZE_PX / SIZE)  # a plausible hull at the crop's scale
    reals, fakes, targets = V.clip_pairs(frames, points, 25.0, lm, random.Random(0), every=3)
    assert len(reals) == len(fakes) == len(targets) == 4
    assert reals[0].shape == (V.SIZE_PX, V.SIZE_PX, 3) and targets[0].shape == (V.SIZE_PX // D.MASK_STRIDE_PX,) * 2
    # the boundary targets are one draw: the same region on every frame
    assert all(np.allclose(t, targets[0]) for t in targets)
    inside = np.kron(targets[0].astype(np.float32), np.ones((D.MASK_STRIDE_PX, D.MASK_STRIDE_PX))) > 0.3
    diff = np.abs(fakes[1].astype(int) - reals[1]).sum(axis=2)
    assert diff[inside].mean() > diff[~inside].mean()


def test_h264_frames_keeps_every_frame_of_a_clip() -> None:
    pytest.importorskip("av")
    frames, _, _ = _talking_frames(10)
    frames = [np.ascontiguousarray(f[:64, :96]) for f in frames]
    coded = D.h264_frames(frames, 30, tune=None)
    assert len(coded) == len(frames) and coded[0].shape == frames[0].shape
    assert 0 < np.abs(coded[5].astype(int) - frames[5]).mean() < 40


def test_video_pairs_dataset_items() -> None:
    from unmask.training.faces_video import SIZE_PX, VideoSbiPairs

    rng = np.random.default_rng(0)
    n, g = 5, SIZE_PX // D.MASK_STRIDE_PX
    pairs = {"real": rng.integers(0, 255, (n, SIZE_PX, SIZE_PX, 3), dtype=np.uint8),
             "fake": rng.integers(0, 255, (n, SIZE_PX, SIZE_PX, 3), dtype=np.uint8),
             "target": rng.random((n, g, g)).astype(np.float16)}
    val = VideoSbiPairs(pairs, np.array([1, 3]))
    assert len(val) == 2
    x, t = val[1]
    assert x.shape == (2, 3, SIZE_PX, SIZE_PX) and t.shape == (2, 1, g, g)
    assert np.array_equal(x[0].permute(1, 2, 0).numpy(), pairs["real"][3]) and float(t[0].abs().sum()) == 0.0
    train = VideoSbiPairs(pairs, np.arange(n), length=17)
    assert len(train) == 17
    x, t = train[16]
    assert x.dtype == torch.uint8 and x.shape == (2, 3, SIZE_PX, SIZE_PX) and 0 <= float(t.min()) and float(t.max()) <= 1.01


def test_self_blend_with_a_redrawn_source_matches_colours_and_keeps_the_outside() -> None:
    import cv2

    img, lm = _face()
    # another rendering of the face: smoother (a decoder's texture) and brighter
    redrawn = np.clip(cv2.GaussianBlur(img, (0, 0), 3).astype(int) + 40, 0, 255).astype(np.uint8)
    fake, mask = D.self_blend(img, lm, random.Random(7), kind="face", source=redrawn)
    outside = mask == 0
    assert np.array_equal(fake[outside], img[outside])
    inside = mask > 0.9
    assert np.abs(fake.astype(int) - img)[inside].mean() > 1.0
    # the swapper's colour matching: inside the mask the source's channel means move to the face's
    matched = D.colour_transfer(redrawn, img, mask)
    region = mask > 0.5  # where colour_transfer measures
    for c in range(3):
        assert abs(redrawn[..., c][region].mean() - img[..., c][region].mean()) > 20
        assert abs(matched[..., c][region].mean() - img[..., c][region].mean()) < 1.0


def test_autoencoder_redraws_a_crop_at_its_size() -> None:
    from unmask.training.faces_recon import SIZE_PX, build_autoencoder, reconstruct

    ae = build_autoencoder().eval()
    imgs = np.random.default_rng(0).integers(0, 255, (3, SIZE_PX, SIZE_PX, 3), dtype=np.uint8)
    out = reconstruct(ae, imgs, batch=2)
    assert out.shape == imgs.shape and out.dtype == np.uint8


def test_sbi_pairs_use_the_redrawn_source_when_asked() -> None:
    img, lm = _face()
    cache = D.FaceCache(np.stack([img]), np.stack([lm]).astype(np.float32), np.array(["a:1"]), np.array(["a"]), np.array(["x.jpg"]))
    redrawn = np.full_like(img, 128)
    plain = D.SbiPairs(cache, np.array([0]), seed=3, fixed=True, mode="none")[0][0]
    again = D.SbiPairs(cache, np.array([0]), seed=3, fixed=True, mode="none", recon=redrawn[None], p_recon=0.0)[0][0]
    swapped = D.SbiPairs(cache, np.array([0]), seed=3, fixed=True, mode="none", recon=redrawn[None], p_recon=1.0)[0][0]
    assert torch.equal(plain[0], swapped[0])  # the real crop is the same
    assert not torch.equal(plain[1], swapped[1])  # the fake comes from the redrawn face
    assert again.shape == plain.shape and torch.equal(again, plain)  # p_recon = 0: the plain self-blend, same draws
