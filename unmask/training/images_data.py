"""Training data for ``ai-image``: real photos, the fakes we make from them, one degradation chain.

Fakes are made here, never downloaded. Each "generator" is a small network with
one of the up-sampling paths real generators use — nearest + conv (BigGAN,
GauGAN), bilinear + conv (StyleGAN, CRN, IMLE), transposed convolution
(CycleGAN, StarGAN, SITD), pixel shuffle (SAN, ESPCN, SITD) — trained for a few
hundred steps to reconstruct the real crops (an autoencoder, or a
super-resolution net fed a down-scaled crop), plus untrained plain
interpolation (down, then up by nearest / bilinear / bicubic). Some of them
(``--p-adv``) are also trained against a small patch discriminator, as real
GANs are: that makes their up-sampling layers draw texture instead of a blur,
which is both harder to tell from a photo and closer to what a GAN leaves
behind. Each fake is
paired with the real crop it was made from, so content carries no label: the
only difference the classifier can learn is what the decoder left behind.

Both classes then go through the same random chain (``degrade``): crop,
optional down-scale, optional blur / sharpening / noise, then JPEG at a random
quality or lossless. Format, size and compression therefore carry no label —
the trap that makes published detectors learn "PNG vs JPEG".

Sources are JPEG; before use every source is down-scaled by a random factor
(``base_image``) so that the 8x8 JPEG grid of the original does not mark the
real class (reconstructions would lose it and the model would learn "no JPEG
grid = fake").
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

# Decoder families of the generators trained here, then those only run here (images_pretrained),
# then the whole-picture GANs (images_gan). Cached data stores indices: append only.
TRAINED_FAMILIES = ("nearest", "bilinear", "tconv", "shuffle", "interp")
FAMILIES = TRAINED_FAMILIES + ("gan-sr", "gan-whole")
GEN_CROP_PX = 176  # crops fed to the generators; a multiple of 8 (three 2x stages)
TRAIN_CROP_PX = 128  # crops the classifier sees, cut after the chain
# Grey levels; above it a generator's output no longer resembles its input (collapsed to flat colour).
MAX_RECON_ERR = 25.0

# Sources used for training / for validation+calibration (held out by source, see SOURCES.tsv).
TRAIN_PHOTO_DIRS = ("bsds500-train", "imagenet-sample")
VAL_PHOTO_DIRS = ("bsds500-test",)
TRAIN_FACE_SOURCES = ("helen", "afw", "webmorph-canada")
VAL_FACE_SOURCES = ("webmorph-smiling_front",)
# Face crops narrower than this are likely up-scaled from small detections (ytf is
# all video frames of ~120 px): an up-scaled "real" would teach that interpolation is real.
MIN_FACE_PX = 280


# --------------------------------------------------------------------------------------------
# sources


def list_sources(
    data_dir: Path, *, split: str, max_faces: int | None = None, seed: int = 0
) -> list[Path]:
    """Real source images of one split ("train" or "val") under ``data_dir`` (photos/, faces/)."""
    photo_dirs = TRAIN_PHOTO_DIRS if split == "train" else VAL_PHOTO_DIRS
    face_sources = TRAIN_FACE_SOURCES if split == "train" else VAL_FACE_SOURCES
    out: list[Path] = []
    for d in photo_dirs:
        folder = data_dir / "photos" / d
        if folder.is_dir():
            out += sorted(
                p
                for p in folder.iterdir()
                if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
    faces: list[Path] = []
    meta = data_dir / "faces" / "faces.jsonl"
    if meta.is_file():
        for line in meta.read_text().splitlines():
            row = json.loads(line)
            p = data_dir / "faces" / row["file"]
            if (
                row["source"] in face_sources
                and min(row["width"], row["height"]) >= MIN_FACE_PX
                and p.is_file()
            ):
                faces.append(p)
    random.Random(seed).shuffle(faces)
    return out + faces[: max_faces or len(faces)]


def base_image(
    path: Path, rng: random.Random, min_side_px: int = GEN_CROP_PX
) -> np.ndarray:
    """The source down-scaled by a random factor in [0.55, 0.9] (never below ``min_side_px``), as uint8 HWC."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    lo = min(1.0, max(0.55, min_side_px / min(w, h)))
    f = rng.uniform(lo, max(lo, 0.9))
    size = (max(min_side_px, round(w * f)), max(min_side_px, round(h * f)))
    resample = rng.choice(
        (
            Image.Resampling.LANCZOS,
            Image.Resampling.BICUBIC,
            Image.Resampling.BOX,
            Image.Resampling.HAMMING,
        )
    )
    return np.asarray(im.resize(size, resample, reducing_gap=None))


def split_seed(split: str, seed: int) -> int:
    """The seed of one split's draws: the run's seed for training, another for validation."""
    return seed if split == "train" else seed + 1000


def split_pool_size(split: str, n: int) -> int:
    """Real crops in one split's pool: ``n`` for training, a sixth (at least 64) for validation."""
    return n if split == "train" else max(64, n // 6)


def mixed_crops(
    photos: list[np.ndarray], faces: list[np.ndarray], n: int, rng: random.Random
) -> np.ndarray:
    """``n`` GEN_CROP_PX crops, alternately from a random photo and a random face (faces
    outnumber photos ~3:1 among the sources), as (n, 3, S, S) uint8."""
    faces = faces or photos
    out = []
    for i in range(n):
        src = photos if i % 2 == 0 else faces
        out += random_crops(src[rng.randrange(len(src))], 1, GEN_CROP_PX, rng)
    return np.stack(out).transpose(0, 3, 1, 2).copy()


def random_crops(
    img: np.ndarray, n: int, size_px: int, rng: random.Random
) -> list[np.ndarray]:
    h, w = img.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.randint(0, h - size_px), rng.randint(0, w - size_px)
        out.append(np.ascontiguousarray(img[y : y + size_px, x : x + size_px]))
    return out


# --------------------------------------------------------------------------------------------
# the shared degradation chain


@dataclass(frozen=True)
class ChainParams:
    """Probabilities of the chain's steps; one instance applies to both classes."""

    p_resize: float = 0.3
    min_scale: float = TRAIN_CROP_PX / GEN_CROP_PX  # never below the training crop
    p_blur: float = 0.15
    p_sharpen: float = 0.08
    p_noise: float = 0.05
    p_jpeg: float = 0.5
    jpeg_quality: tuple[int, int] = (60, 100)


def jpeg_roundtrip(im: Image.Image, quality: int, subsampling: int = 2) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(quality), subsampling=subsampling)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def degrade(
    img: np.ndarray,
    rng: random.Random,
    params: ChainParams = ChainParams(),
    out_px: int = TRAIN_CROP_PX,
) -> np.ndarray:
    """One draw of the chain: resize?, blur/sharpen/noise?, JPEG or lossless, then a random ``out_px`` crop."""
    im = Image.fromarray(img)
    if rng.random() < params.p_resize:
        s = rng.uniform(max(params.min_scale, out_px / min(im.size)), 1.0)
        size = (max(out_px, round(im.size[0] * s)), max(out_px, round(im.size[1] * s)))
        im = im.resize(
            size,
            rng.choice(
                (
                    Image.Resampling.BILINEAR,
                    Image.Resampling.BICUBIC,
                    Image.Resampling.LANCZOS,
                )
            ),
        )
    r = rng.random()
    if r < params.p_blur:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
    elif r < params.p_blur + params.p_sharpen:
        im = im.filter(
            ImageFilter.UnsharpMask(
                radius=rng.uniform(0.8, 2.0),
                percent=rng.randint(40, 120),
                threshold=rng.randint(0, 3),
            )
        )
    if rng.random() < params.p_noise:
        a = np.asarray(im).astype(np.float32)
        a += (
            np.random.default_rng(rng.getrandbits(32))
            .normal(0.0, rng.uniform(1.0, 4.0), a.shape)
            .astype(np.float32)
        )
        im = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < params.p_jpeg:
        im = jpeg_roundtrip(
            im, rng.randint(*params.jpeg_quality), rng.choice((0, 2, 2))
        )
    a = np.asarray(im)
    h, w = a.shape[:2]
    y, x = rng.randint(0, h - out_px), rng.randint(0, w - out_px)
    return np.ascontiguousarray(a[y : y + out_px, x : x + out_px])


def degrade_pair(
    args: tuple[np.ndarray, np.ndarray, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Real and fake crop through independent draws of the same chain (Pool-friendly)."""
    real, fake, seed = args
    rng = random.Random(seed)
    return degrade(real, rng), degrade(fake, rng)


# --------------------------------------------------------------------------------------------
# generators


@dataclass(frozen=True)
class GenSpec:
    """One fake-maker: decoder family, depth and width, and how it is trained."""

    name: str
    family: str  # one of TRAINED_FAMILIES
    n_up: int  # 2x up-sampling stages (1..3)
    width: int
    mode: str  # "ae" (encoder of strided convs), "sr" (fixed area down-scale), "unet" (ae + full-res skip)
    steps: int  # Adam steps on the real crops (0 = untrained)
    post_convs: int  # 3x3 convs after the last up-sampling
    tconv_kernel: int = 4
    interp: str = "nearest"  # for family "interp"
    seed: int = 0
    # Weight of a hinge-GAN loss from a small patch discriminator, added to L1 after the
    # first third of the steps (0 = L1 only). Real generators are trained adversarially:
    # the discriminator makes their up-sampling layers draw texture, and that texture is
    # where their traces are; a plain L1 reconstruction is blurrier and easier to spot.
    adv: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def sample_specs(n: int, seed: int, p_adv: float = 0.0) -> list[GenSpec]:
    """``n`` random generator specs, families in turn so that each is well represented.

    ``p_adv`` is the share of trained generators that get an adversarial loss (``GenSpec.adv``);
    with 0 the specs are those of earlier runs, draw for draw.
    """
    rng = random.Random(seed)
    specs = []
    weights = {
        "nearest": 1.0,
        "bilinear": 1.0,
        "tconv": 1.0,
        "shuffle": 1.0,
        "interp": 0.4,
    }
    fams = list(TRAINED_FAMILIES)
    for i in range(n):
        fam = (
            rng.choices(fams, weights=[weights[f] for f in fams])[0]
            if i >= len(fams)
            else fams[i]
        )
        specs.append(
            GenSpec(
                name=f"g{seed}_{i:02d}_{fam}",
                family=fam,
                n_up=rng.choice((1, 2, 2, 3)),
                width=rng.choice((32, 48, 64, 96)),
                mode=rng.choice(("ae", "sr", "sr", "unet")),
                steps=rng.choice((150, 400, 800)),
                post_convs=rng.choice((0, 1, 1, 2)),
                tconv_kernel=rng.choice((2, 3, 4, 4)),
                interp=rng.choice(("nearest", "bilinear", "bicubic")),
                seed=rng.getrandbits(31),
            )
        )
        if p_adv > 0 and fam != "interp" and rng.random() < p_adv:
            specs[-1] = replace(specs[-1], adv=rng.choice((0.01, 0.03, 0.1)))
    return specs


def make_generator(spec: GenSpec):  # -> torch.nn.Module
    """The torch module for ``spec``: (N, 3, H, W) in [0, 1] → same shape in [0, 1]."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(spec.seed)
    w = spec.width
    act = lambda: nn.LeakyReLU(0.2, inplace=True)

    def up(c_in: int, c_out: int) -> nn.Module:
        if spec.family == "nearest":
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, 1, 1),
                act(),
            )
        if spec.family == "bilinear":
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(c_in, c_out, 3, 1, 1),
                act(),
            )
        if spec.family == "tconv":
            k = spec.tconv_kernel
            pad, out_pad = {2: (0, 0), 3: (1, 1), 4: (1, 0)}[k]
            return nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, k, 2, pad, output_padding=out_pad),
                act(),
            )
        return nn.Sequential(
            nn.Conv2d(c_in, c_out * 4, 3, 1, 1), nn.PixelShuffle(2), act()
        )

    class Gen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            f = 2**spec.n_up
            self.f = f
            if spec.mode == "sr":
                self.enc = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1), act())
            else:
                enc: list[nn.Module] = [nn.Conv2d(3, w, 3, 1, 1), act()]
                for _ in range(spec.n_up):
                    enc += [nn.Conv2d(w, w, 4, 2, 1), act()]
                self.enc = nn.Sequential(*enc)
            self.mid = nn.Sequential(nn.Conv2d(w, w, 3, 1, 1), act())
            self.ups = nn.Sequential(*[up(w, w) for _ in range(spec.n_up)])
            c = w + (3 if spec.mode == "unet" else 0)
            post: list[nn.Module] = []
            for _ in range(spec.post_convs):
                post += [nn.Conv2d(c, w, 3, 1, 1), act()]
                c = w
            self.post = nn.Sequential(*post)
            self.out = nn.Conv2d(c, 3, 3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.avg_pool2d(x, self.f) if spec.mode == "sr" else x
            h = self.ups(self.mid(self.enc(h * 2 - 1)))
            if spec.mode == "unet":
                # Only a blurred copy of the input comes through the skip, so the fine
                # detail still has to be drawn by the up-sampling path.
                h = torch.cat([h, F.avg_pool2d(x, 3, 1, 1) * 2 - 1], 1)
            return (torch.tanh(self.out(self.post(h))) + 1) / 2

    class Interp(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = 2**spec.n_up
            small = F.avg_pool2d(x, f)
            kw = {} if spec.interp == "nearest" else {"align_corners": False}
            return F.interpolate(small, scale_factor=f, mode=spec.interp, **kw).clamp(
                0, 1
            )

    return Interp() if spec.family == "interp" else Gen()


def residual_rms(x_u8: np.ndarray) -> np.ndarray:
    """Per image (N, H, W, 3 uint8): RMS of grey minus its 2x2 block mean, in grey levels (fine detail)."""
    out = np.empty(len(x_u8))
    for k in range(0, len(x_u8), 1024):
        a = x_u8[k : k + 1024].astype(np.float32).mean(-1)
        n, h, w = a.shape
        b = a[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2)
        out[k : k + n] = np.sqrt(((b - b.mean((2, 4), keepdims=True)) ** 2).mean((1, 2, 3, 4)))
    return out


def make_discriminator(
    width: int = 32, n_down: int = 3, whole: bool = False, mbstd: bool = False
):  # -> torch.nn.Module
    """A spectral-norm critic of ``n_down`` strided 4x4 convolutions (widths doubling from ``width``).

    PatchGAN-style by default: (N, 3, H, W) → (N, 1, H/8, W/8), one 3x3 head per cell. With
    ``whole``, a 4x4 valid head over the last 4x4 map gives one logit per crop, (N, 1), for
    crops of ``4 · 2**n_down`` px (``images_gan``'s whole-picture GANs). ``mbstd`` (with
    ``whole``) adds ProGAN's minibatch standard-deviation channel before that head
    (Karras et al. 2018, sec. 3): the critic sees how much the batch varies, so a generator
    that draws one picture for every latent is easy to tell apart.
    """
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    class MinibatchStd(nn.Module):
        def forward(self, x):
            s = x.std(0, unbiased=False).mean()  # per feature and place across the batch, averaged
            return torch.cat([x, s.expand(x.shape[0], 1, *x.shape[2:])], 1)

    layers: list[nn.Module] = []
    c = 3
    for i in range(n_down):
        w = width * 2**i
        layers += [spectral_norm(nn.Conv2d(c, w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        c = w
    if whole:
        if mbstd:
            layers.append(MinibatchStd())
            c += 1
        layers += [spectral_norm(nn.Conv2d(c, 1, 4)), nn.Flatten()]
    else:
        layers.append(spectral_norm(nn.Conv2d(c, 1, 3, 1, 1)))
    return nn.Sequential(*layers)


def train_generator(
    spec: GenSpec,
    pool,
    device: str,
    *,
    batch: int = 32,
    crop_px: int = 128,
    lr: float = 2e-3,
):
    """Fit ``spec``'s generator to reconstruct random crops of ``pool`` ((N, 3, S, S) uint8 tensor).

    The generators are fully convolutional, so they can be trained on smaller crops
    than they are run on (``crop_px``; a CPU run trains on 64 px).
    """
    import torch
    from torch.nn import functional as F

    gen = make_generator(spec).to(device)
    if spec.family == "interp" or spec.steps == 0:
        return gen.eval()
    opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.99))
    critic = critic_opt = None
    if spec.adv > 0:
        critic = make_discriminator().to(device)
        critic_opt = torch.optim.Adam(critic.parameters(), lr=lr / 2, betas=(0.5, 0.99))
    g = torch.Generator(device="cpu").manual_seed(spec.seed)
    s = pool.shape[-1]
    for k in range(spec.steps):
        idx = torch.randint(0, pool.shape[0], (batch,), generator=g)
        y0, x0 = (int(v) for v in torch.randint(0, s - crop_px + 1, (2,), generator=g))
        x = (
            pool[idx][:, :, y0 : y0 + crop_px, x0 : x0 + crop_px].to(device).float()
            / 255
        )
        with torch.autocast(
            device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")
        ):
            y = gen(x).float()
            l1 = F.l1_loss(y, x)
            adversarial = critic is not None and k >= spec.steps // 3
            loss = l1 - spec.adv * critic(y * 2 - 1).float().mean() if adversarial else l1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k in (spec.steps // 3, 2 * spec.steps // 3) and l1.item() * 255 > MAX_RECON_ERR:
            break  # collapsed: the caller drops it (same threshold), so stop paying for it
        if adversarial:
            # Hinge loss for the critic on this step's real crops and (detached) remakes.
            d_loss = (
                F.relu(1 - critic(x * 2 - 1)).mean()
                + F.relu(1 + critic(y.detach() * 2 - 1)).mean()
            )
            critic_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            critic_opt.step()
    return gen.eval()


def generate(gen, crops, device: str, batch: int = 128):
    """Run ``gen`` over (N, 3, S, S) uint8 crops → (N, 3, S, S) uint8 fakes (CPU tensor)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, crops.shape[0], batch):
            x = crops[i : i + batch].to(device).float() / 255
            y = gen(x).float()
            out.append((y * 255 + 0.5).clamp(0, 255).to(torch.uint8).cpu())
    return torch.cat(out)
