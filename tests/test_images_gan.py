"""Whole-picture GANs for the ``ai-image`` trainer (needs the training extra: torch)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unmask.training import images_data as D  # noqa: E402
from unmask.training import images_gan as G  # noqa: E402


def _spec(arch: str, train_s: float = 0.0) -> G.WholeGAN:
    return G.WholeGAN(f"t_{arch}", arch, width=8, train_s=train_s, seed=3)


@pytest.mark.parametrize("arch", G.ARCHS)
def test_generators_draw_any_multiple_of_sixteen_from_a_latent_grid(arch: str) -> None:
    gen = G.make_generator(_spec(arch))
    for grid in (4, 11):  # trained on 64 px, run at GEN_CROP_PX = 176
        with torch.no_grad():
            y = gen(torch.randn(2, G.LATENT_CH, grid, grid))
        assert y.shape == (2, 3, 16 * grid, 16 * grid)
        assert float(y.min()) >= 0 and float(y.max()) <= 1
    pics = G.sample(gen, 3, seed=1)
    assert pics.shape == (3, D.GEN_CROP_PX, D.GEN_CROP_PX, 3) and pics.dtype == np.uint8
    assert pics.std() > 0


def test_whole_picture_critic_gives_one_logit_per_training_crop() -> None:
    critic = D.make_discriminator(8, G.N_UP, whole=True)
    assert critic(torch.rand(3, 3, G.TRAIN_PX, G.TRAIN_PX)).shape == (3, 1)


def test_minibatch_std_critic_sees_how_much_a_batch_varies() -> None:
    torch.manual_seed(0)
    critic = D.make_discriminator(8, G.N_UP, whole=True, mbstd=True).eval()
    one = torch.rand(1, 3, G.TRAIN_PX, G.TRAIN_PX)
    varied = torch.cat([one, torch.rand(3, 3, G.TRAIN_PX, G.TRAIN_PX)])
    same = one.repeat(4, 1, 1, 1)
    with torch.no_grad():
        # The same picture gets another logit when its batch-mates differ from it ...
        assert abs(float(critic(varied)[0] - critic(same)[0])) > 1e-4
        # ... and without the channel it does not.
        plain = D.make_discriminator(8, G.N_UP, whole=True).eval()
        assert torch.allclose(plain(varied)[0], plain(same)[0], atol=1e-6)


def test_stylegan2_picture_is_the_sum_of_every_stage_rgb() -> None:
    gen = G.make_generator(_spec("stylegan2"))
    assert len(gen.to_rgb) == G.N_UP
    with torch.no_grad():
        for layer in gen.to_rgb[-1:]:
            layer.weight.zero_()
            layer.bias.zero_()
        y = gen(torch.randn(1, G.LATENT_CH, 4, 4))
    # With the last stage's RGB silenced, the lower stages still draw, bilinearly up-sampled.
    assert float(y.std()) > 1e-3
    assert len(G.make_generator(_spec("progan")).to_rgb) == 1


def _pool(n: int = 16, px: int = D.GEN_CROP_PX) -> "torch.Tensor":
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:px, 0:px] / px
    out = []
    for _ in range(n):
        a, b = rng.uniform(1, 8, 2)
        img = 0.5 + 0.3 * np.sin(a * np.pi * xx + b * np.pi * yy)[..., None] + rng.normal(0, 0.05, (px, px, 3))
        out.append(np.clip(img * 255, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out))


def test_training_moves_the_generator_and_a_saved_one_draws_the_same(tmp_path) -> None:
    spec = _spec("dcgan", train_s=3.0)  # time-bound: a few steps even on a loaded machine
    before = G.sample(G.make_generator(spec), 4, seed=2)
    gen, steps = G.train_gan(spec, _pool(), batch=4)
    assert steps >= 2
    after = G.sample(gen, 4, seed=2)
    assert np.abs(after.astype(int) - before).mean() > 0.5
    G.save(gen, spec, steps, tmp_path / "g.pt")
    again, spec_again, steps_again = G.load(tmp_path / "g.pt")
    assert spec_again == spec and steps_again == steps
    assert np.array_equal(G.sample(again, 4, seed=2), after)
    noisy = G.make_generator(_spec("stylegan2"))
    assert np.array_equal(G.sample(noisy, 2, seed=5), G.sample(noisy, 2, seed=5))  # noise seeded too
    # The collapse checks look at the first pictures of a draw: they are the first of a longer one.
    assert np.array_equal(G.sample(again, 70, seed=2, batch=64)[:64], G.sample(again, 64, seed=2, batch=64))


def test_training_log_shows_collapse_figures_against_the_pool(monkeypatch) -> None:
    monkeypatch.setattr(G, "LOG_EVERY", 1)
    monkeypatch.setattr(G, "CHECK_EVERY", 2)
    lines: list[str] = []
    spec = G.WholeGAN("t_mb", "progan", width=8, train_s=4.0, seed=3, mbstd=True)
    G.train_gan(spec, _pool(), batch=4, log=lines.append)
    checked = [ln for ln in lines if "detail" in ln]
    assert checked and len(checked) < len(lines)
    pool_figures = G.collapse_figures(_pool().numpy().transpose(0, 2, 3, 1))
    assert f"/ {pool_figures[0]:.1f}, spread" in checked[0] and checked[0].endswith(f"/ {pool_figures[1]:.1f}")


def test_whole_gan_fakes_are_appended_by_split_and_flat_gans_dropped(tmp_path) -> None:
    from PIL import Image

    from unmask.training import train_images as T

    for folder in (D.TRAIN_PHOTO_DIRS[0], D.VAL_PHOTO_DIRS[0]):
        d = tmp_path / "data" / "photos" / folder
        d.mkdir(parents=True)
        for i, pic in enumerate(_pool(3, 260).numpy().transpose(0, 2, 3, 1)):
            Image.fromarray(pic).save(d / f"{i}.png")
    gans = tmp_path / "gans"
    gans.mkdir()
    # One training GAN, the held-out validation one, and a training GAN drawing flat colour.
    for arch in ("dcgan", "biggan", "stylegan2"):
        spec = _spec(arch)
        gen = G.make_generator(spec)
        if arch == "stylegan2":
            with torch.no_grad():
                for layer in gen.to_rgb:
                    layer.weight.zero_()
        G.save(gen, spec, 0, gans / f"{spec.name}.pt")

    def split(n: int):
        return (
            np.zeros((n, D.TRAIN_CROP_PX, D.TRAIN_CROP_PX, 3), np.uint8),
            np.zeros((n, D.TRAIN_CROP_PX, D.TRAIN_CROP_PX, 3), np.uint8),
            np.zeros(n, np.int64),
        )

    args = argparse.Namespace(
        whole_gans=gans,
        whole_gan_fakes=6,
        whole_gan_val_fakes=None,
        workers=1,
        seed=0,
        pool=12,
        data=tmp_path / "data",
    )
    train, val = T.with_whole_gans(args, split(5), split(4), tmp_path)
    fam = D.FAMILIES.index(G.FAMILY)
    assert [len(a) for a in train] == [11, 11, 11] and [len(a) for a in val] == [6, 6, 6]
    args.whole_gan_val_fakes = 3  # the validation GAN's count set on its own
    assert [len(a) for a in T.with_whole_gans(args, split(5), split(4), tmp_path)[1]] == [7, 7, 7]
    assert (train[2][5:] == fam).all() and (val[2][4:] == fam).all() and (train[2][:5] == 0).all()
    # The appended pairs went through the chain: real crops of the sources, drawn fakes, both 128 px.
    assert train[0][5:].std() > 10 and train[1][5:].std() > 10
    assert "skipped t_stylegan2" in (tmp_path / "log.txt").read_text()


def test_spread_is_zero_for_a_mode_collapsed_gan() -> None:
    one = _pool(1).numpy().transpose(0, 2, 3, 1)
    assert G.spread(np.repeat(one, 8, axis=0)) == 0.0
    assert G.spread(_pool(8).numpy().transpose(0, 2, 3, 1)) > 10


def test_collapse_rule_drops_flat_or_repeated_pictures_only() -> None:
    reals = G.collapse_figures(_pool(16).numpy().transpose(0, 2, 3, 1))
    one = _pool(1).numpy().transpose(0, 2, 3, 1)
    flat = np.full((16, D.GEN_CROP_PX, D.GEN_CROP_PX, 3), 120, np.uint8)
    assert G.collapsed(G.collapse_figures(np.repeat(one, 16, axis=0)), reals)  # mode collapse
    assert G.collapsed(G.collapse_figures(flat), reals)  # flat colour
    assert not G.collapsed(G.collapse_figures(_pool(16).numpy()[::-1].transpose(0, 2, 3, 1)), reals)
