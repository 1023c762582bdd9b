"""Fakes from whole-picture GANs trained here: pictures drawn from noise, not remade from a photo.

The other fake-makers (``images_data``: brief autoencoders and super-resolution nets;
``images_pretrained``: Real-ESRGAN) all keep a real crop's low frequencies and redraw
only the last octave or two. BigGAN, GauGAN and StyleGAN draw the whole picture:
a small latent grid goes through five or six up-sampling stages, trained only
against a discriminator, so every scale of the image is the generator's. These
GANs do the same at a size a CPU can train: a latent grid (``LATENT_CH`` channels,
1/16 of the picture) through four 2x stages, hinge loss against a spectral-norm
discriminator, no reconstruction loss. They do not converge to realistic pictures
in minutes; what matters here is that every pixel is drawn by the up-sampling
path of a generator trained adversarially.

The architectures follow the generators of the dev set's families:

- ``progan``: nearest + two 3x3 convs per stage, pixel norm, toRGB at the end (ProGAN).
- ``dcgan``: 4x4 transposed convolutions with BatchNorm (DCGAN, CycleGAN's decoder).
- ``stylegan2``: bilinear up-sampling, per-pixel noise, and **toRGB skips** — the picture
  is the sum of every stage's RGB output, each bilinearly up-sampled (StyleGAN2).
- ``shuffle``: conv + pixel shuffle (ESPCN, SAN's up-sampler).
- ``biggan``: residual blocks, BatchNorm, nearest up-sampling on both paths (BigGAN, GauGAN).
- ``resize``: nearest + one 3x3 conv with BatchNorm (DCGAN with resize-convolution, Odena et al.
  2016): the nearest family at DCGAN's cost, added after the ``progan`` one of run 9 collapsed.

They are fully convolutional: trained on ``TRAIN_PX`` crops from a 4x4 grid, they
draw ``D.GEN_CROP_PX`` pictures from an 11x11 grid, the size the chain expects.

Training only (torch); ``python -m unmask.training.images_gan --data ../shared/data --out DIR``
trains the ``TRAIN_ARCHS`` GANs on the training sources and the ``VAL_ARCHS`` one on the
validation sources, and saves each as ``NAME.pt`` (for ``train_images --whole-gans DIR``)
beside a strip of its pictures, ``NAME.png``, to look at. Ten CPU minutes a GAN is far from
convergence and some collapse; ``train_images`` drops those (``MIN_DETAIL_RATIO``,
``MIN_SPREAD_RATIO``). Without ``--mbstd`` three of run 9's five training GANs collapsed
(seed 7); with it none of the three retrained in run 10 did (seed 8, the same ten minutes).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from unmask.training import images_data as D

FAMILY = "gan-whole"
ARCHS = ("progan", "dcgan", "stylegan2", "shuffle", "biggan", "resize")
TRAIN_ARCHS = ("progan", "dcgan", "stylegan2", "shuffle", "resize")
VAL_ARCHS = ("biggan",)
N_UP = 4
LATENT_CH = 64
TRAIN_PX = 64  # crops the GANs are trained on (a 4x4 latent grid)
# A GAN whose pictures have less fine detail (median RMS of the 2x2-block residual) than this
# share of the real crops' has collapsed towards flat colour and is not used.
MIN_DETAIL_RATIO = 0.5
# ... or whose pictures differ less from one another (``spread``) than this share of the reals'
# has collapsed to one picture for every latent (mode collapse).
MIN_SPREAD_RATIO = 0.25
CHECK_PICTURES = 256  # both checks look at the first pictures of a GAN's draw
LOG_EVERY, CHECK_EVERY = 500, 2000  # train_gan's log: losses, and collapse figures (steps)


@dataclass(frozen=True)
class WholeGAN:
    """One whole-picture GAN: its architecture, size, and how long it trains (CPU seconds)."""

    name: str
    arch: str  # one of ARCHS
    width: int  # channels of the last stage; doubled towards the grid, capped at 4x
    train_s: float
    seed: int = 0
    family: str = FAMILY
    mbstd: bool = False  # critic with a minibatch standard-deviation channel (run 10; run 9 had none)

    def to_dict(self) -> dict:
        return asdict(self)


def specs(archs, train_s: float, seed: int, mbstd: bool = False) -> list[WholeGAN]:
    rng = random.Random(seed)
    return [
        WholeGAN(f"w{seed}_{a}", a, rng.choice((16, 24)), train_s, rng.getrandbits(31), mbstd=mbstd)
        for a in archs
    ]


def make_generator(spec: WholeGAN):  # -> torch.nn.Module
    """(N, LATENT_CH, g, g) noise → (N, 3, 16g, 16g) in [0, 1]."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(spec.seed)
    widths = [spec.width * min(4, 2 ** (N_UP - i)) for i in range(N_UP + 1)]  # grid → picture
    act = lambda: nn.LeakyReLU(0.2, inplace=True)

    class PixelNorm(nn.Module):
        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)

    class Noise(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.zeros(1, c, 1, 1))

        def forward(self, x):
            return x + self.scale * torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device)

    def stage(c_in: int, c_out: int) -> nn.Module:
        if spec.arch == "progan":
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, 1, 1), act(), PixelNorm(),
                nn.Conv2d(c_out, c_out, 3, 1, 1), act(), PixelNorm(),
            )
        if spec.arch == "resize":
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(True),
            )
        if spec.arch == "dcgan":
            return nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(True)
            )
        if spec.arch == "stylegan2":
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(c_in, c_out, 3, 1, 1), Noise(c_out), act(),
                nn.Conv2d(c_out, c_out, 3, 1, 1), Noise(c_out), act(),
            )
        if spec.arch == "shuffle":
            return nn.Sequential(
                nn.Conv2d(c_in, c_out * 4, 3, 1, 1), nn.PixelShuffle(2), act(),
                nn.Conv2d(c_out, c_out, 3, 1, 1), act(),
            )
        return ResBlock(c_in, c_out)

    class ResBlock(nn.Module):  # BigGAN's up-block, without class conditioning
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.BatchNorm2d(c_in), nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, 1, 1),
            )
            self.skip = nn.Conv2d(c_in, c_out, 1)

        def forward(self, x):
            return self.body(x) + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))

    class Gen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(LATENT_CH, widths[0], 3, 1, 1), act())
            self.stages = nn.ModuleList(stage(widths[i], widths[i + 1]) for i in range(N_UP))
            skips = spec.arch == "stylegan2"
            self.to_rgb = nn.ModuleList(
                nn.Conv2d(widths[i + 1], 3, 1) for i in (range(N_UP) if skips else [N_UP - 1])
            )
            self.skips = skips
            self.final = (
                nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU())
                if spec.arch == "biggan"
                else nn.Identity()
            )

        def forward(self, z):
            h = self.stem(z)
            rgb = None
            for i, st in enumerate(self.stages):
                h = st(h)
                if self.skips:
                    # StyleGAN2: every stage adds its RGB to the up-sampled picture so far.
                    if rgb is not None:
                        rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
                    out = self.to_rgb[i](h)
                    rgb = out if rgb is None else rgb + out
            if not self.skips:
                rgb = self.to_rgb[0](self.final(h))
            return (torch.tanh(rgb) + 1) / 2

    return Gen()


def collapse_figures(pictures: np.ndarray) -> tuple[float, float]:
    """(fine detail, spread) of the first ``CHECK_PICTURES`` (N, H, W, 3) uint8 pictures: the median
    2x2-block residual RMS and ``spread``, both in grey levels.

    Real pools are measured the same way since run 10 (their first 256 crops: 8.3 / 64.9 for the
    training pool); run 9 took the detail of all 4,000 and the spread of 256 spread over them
    (8.0 / 63.4), which changes none of its decisions.
    """
    first = pictures[:CHECK_PICTURES]
    return float(np.median(D.residual_rms(first))), spread(first)


def collapsed(figures: tuple[float, float], reals: tuple[float, float]) -> bool:
    """Whether a GAN's ``collapse_figures`` fail ``MIN_DETAIL_RATIO`` or ``MIN_SPREAD_RATIO`` against
    the reals': flat colour would teach "flat = fake", nothing about up-sampling; one picture for
    every latent (mode collapse) teaches one picture."""
    return figures[0] < MIN_DETAIL_RATIO * reals[0] or figures[1] < MIN_SPREAD_RATIO * reals[1]


def train_gan(spec: WholeGAN, pool, device: str = "cpu", batch: int = 16, log=None):
    """Train ``spec`` for ``spec.train_s`` seconds on random TRAIN_PX crops of ``pool`` ((N, 3, S, S) uint8 tensor).

    Hinge loss, one critic step per generator step, Adam (0.0, 0.9) at 2e-4 / 4e-4 (SN-GAN,
    BigGAN's two time-scales). Returns the generator in eval mode and its step count. Every
    ``CHECK_EVERY`` steps ``log`` gets the collapse figures of 64 pictures against the pool's,
    so a collapse shows while it trains.
    """
    import torch
    from torch.nn import functional as F

    gen = make_generator(spec).to(device)
    critic = D.make_discriminator(16, N_UP, whole=True, mbstd=spec.mbstd).to(device)
    reals = collapse_figures(pool[:CHECK_PICTURES].permute(0, 2, 3, 1).numpy()) if log else None
    g_opt = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.0, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), lr=4e-4, betas=(0.0, 0.9))
    rng = torch.Generator(device="cpu").manual_seed(spec.seed)
    s = pool.shape[-1]
    g = TRAIN_PX // 2**N_UP
    t0, k = time.time(), 0
    while time.time() - t0 < spec.train_s:
        idx = torch.randint(0, pool.shape[0], (batch,), generator=rng)
        y0, x0 = (int(v) for v in torch.randint(0, s - TRAIN_PX + 1, (2,), generator=rng))
        x = pool[idx][:, :, y0 : y0 + TRAIN_PX, x0 : x0 + TRAIN_PX].to(device).float() / 127.5 - 1
        if torch.rand((), generator=rng) < 0.5:
            x = x.flip(3)
        z = torch.randn(batch, LATENT_CH, g, g, generator=rng).to(device)
        fake = gen(z) * 2 - 1
        d_loss = F.relu(1 - critic(x)).mean() + F.relu(1 + critic(fake.detach())).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = -critic(fake).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        k += 1
        if log is not None and k % LOG_EVERY == 0:
            msg = f"{spec.name}: step {k}, d {d_loss.item():.3f}, g {g_loss.item():.3f}"
            if k % CHECK_EVERY == 0:
                detail, spread_ = collapse_figures(sample(gen, 64, seed=0))
                msg += f", detail {detail:.1f} / {reals[0]:.1f}, spread {spread_:.1f} / {reals[1]:.1f}"
            log(msg)
    return gen.eval(), k


def sample(gen, n: int, size_px: int = D.GEN_CROP_PX, seed: int = 0, batch: int = 64) -> np.ndarray:
    """``n`` pictures of ``size_px`` (a multiple of 16) as (n, size_px, size_px, 3) uint8.

    BatchNorm runs on batch statistics, as the GAN was trained. (With the running averages
    instead, run 9's DCGAN and resize GANs drew pictures of the same fine detail and spread
    within 1 grey level; its BigGAN-like one, more fine detail: 14.2 against 11.2.)
    """
    import torch

    g = size_px // 2**N_UP
    rng = torch.Generator(device="cpu").manual_seed(seed)
    gen.train()
    out = []
    # StyleGAN2's per-pixel noise draws from torch's global generator: seed it, then put it back.
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for i in range(0, n, batch):
            z = torch.randn(min(batch, n - i), LATENT_CH, g, g, generator=rng)
            y = gen(z).float()
            out.append((y * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def spread(pictures: np.ndarray, n: int = CHECK_PICTURES) -> float:
    """How much (N, H, W, 3) uint8 pictures differ from one another: the per-pixel standard
    deviation across (at most ``n`` of) them, averaged over pixels, in grey levels."""
    idx = np.linspace(0, len(pictures) - 1, min(n, len(pictures))).astype(int)
    return float(pictures[idx].astype(np.float32).std(0).mean())


def save(gen, spec: WholeGAN, steps: int, path: Path) -> None:
    import torch

    torch.save({"spec": spec.to_dict(), "steps": steps, "state_dict": gen.state_dict()}, path)


def load(path: Path):
    """A generator saved by ``save`` → (module, spec, steps)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    spec = WholeGAN(**ckpt["spec"])
    gen = make_generator(spec)
    gen.load_state_dict(ckpt["state_dict"])
    return gen, spec, ckpt["steps"]


def crop_pool(data: Path, split: str, n: int, seed: int, max_faces: int = 900):
    """``n`` GEN_CROP_PX real crops of one split's sources, half photos and half faces (uint8 tensor)."""
    import torch

    paths = D.list_sources(data, split=split, max_faces=max_faces, seed=seed)
    rng = random.Random(seed)
    bases = {p: D.base_image(p, rng) for p in paths}
    photos = [b for p, b in bases.items() if "photos" in p.parts]
    faces = [b for p, b in bases.items() if "photos" not in p.parts]
    return torch.from_numpy(D.mixed_crops(photos, faces, n, rng))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m unmask.training.images_gan", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", type=Path, required=True, help="folder with photos/ and faces/")
    p.add_argument("--out", type=Path, required=True, help="folder for the generators (NAME.pt) and samples")
    p.add_argument("--train-s", type=float, default=600.0, help="seconds of training per GAN")
    p.add_argument("--pool", type=int, default=4000, help="real crops per split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=ARCHS, help="train only these architectures")
    p.add_argument(
        "--mbstd", action="store_true", help="minibatch standard-deviation channel in the critic"
    )
    args = p.parse_args(argv)

    from PIL import Image

    args.out.mkdir(parents=True, exist_ok=True)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
    # The training GANs learn from the training sources, the held-out one from the validation sources.
    for split, archs in (("train", TRAIN_ARCHS), ("val", VAL_ARCHS)):
        seed = D.split_seed(split, args.seed)
        # Drawn for all architectures, then filtered: --only does not change a GAN's seed.
        todo = [
            s for s in specs(archs, args.train_s, seed, args.mbstd) if not args.only or s.arch in args.only
        ]
        if not todo:
            continue
        pool = crop_pool(args.data, split, D.split_pool_size(split, args.pool), seed)
        log(f"{split}: pool {tuple(pool.shape)}")
        for spec in todo:
            if (args.out / f"{spec.name}.pt").is_file():
                log(f"{spec.name}: already trained")
                continue
            gen, steps = train_gan(spec, pool, log=log)
            save(gen, spec, steps, args.out / f"{spec.name}.pt")
            pics = sample(gen, 8, seed=args.seed)
            Image.fromarray(np.concatenate(list(pics), axis=1)).save(args.out / f"{spec.name}.png")
            log(f"{spec.name}: {steps} steps, {sum(q.numel() for q in gen.parameters())} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
