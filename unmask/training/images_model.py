"""The ``ai-image`` classifier: a small fully-convolutional CNN on 2x2 block residuals.

Input is RGB in [0, 1], (N, 3, H, W) with H and W multiples of ``STRIDE_PX``.
The first, fixed step subtracts each 2x2 block's mean from its pixels (the
"neighbouring pixel relationships" of NPR, Tan et al. CVPR 2024, made
symmetric): what is left is exactly the fine structure an up-sampling layer
writes — nearest-neighbour copies, bilinear ramps, transposed-convolution
checkerboards — and not the picture's content, so the model cannot lean on
what is shown. The residual is folded into 48 channels at 1/4 resolution
(space-to-depth), which keeps every phase of period-2 and period-4 patterns
and makes the network cheap enough for whole megapixel images on a CPU.

The head is a 1x1 convolution, so the network emits a per-location logit map
(the localisation map shown to people) and the image logit is its mean.

``ResidualMobileNet`` (config ``arch: "mobilenet_v2"``) is the alternative
compared in run 8: the same residual kept at full resolution (3 channels), or
plain RGB, into the first blocks of an ImageNet MobileNetV2 (to stride 16). Both
take and return the same tensors, so the detector loads either.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from unmask.training import mobilenet_v2

STRIDE_PX = (
    16  # total down-sampling of the network: inputs are cropped to multiples of it
)
# Floor of the local residual energy, in (grey levels / 8)^2: about 1.5 grey levels RMS,
# the noise of a clean photo, so flat areas are not amplified into patterns.
ENERGY_EPS = 0.035


def full_residual(x: torch.Tensor, energy_norm: bool = True) -> torch.Tensor:
    """(N, 3, H, W) → (N, 3, H, W): pixels minus their 2x2 block mean, divided by the local residual energy."""
    # x255/8: residuals of real photos are a few grey levels; this puts them near unit scale.
    r = (x - F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")) * (255.0 / 8.0)
    if not energy_norm:
        return r
    # Divide by the local residual energy (each 4x4 cell's mean square over 3x3 cells, a 12x12 px
    # window): without it the first model learned "little fine detail = fake" (a blurred real photo
    # scored fake, a sharpened one real); what is left is the shape of the pattern, which is what
    # up-sampling sets.
    energy = F.avg_pool2d(
        F.avg_pool2d(r.pow(2).mean(dim=1, keepdim=True), 4), 3, 1, 1, count_include_pad=False
    )
    return r * F.interpolate(torch.rsqrt(energy + ENERGY_EPS), scale_factor=4.0, mode="nearest")


def block_residual(x: torch.Tensor, energy_norm: bool = True) -> torch.Tensor:
    """(N, 3, H, W) → (N, 48, H/4, W/4): ``full_residual`` folded 4x4 into channels (ResidualNet's input)."""
    return F.pixel_unshuffle(full_residual(x, energy_norm), 4)


class _SepBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 with a residual connection (MobileNet-v1 style, BN folded at export)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.pw = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.pw(F.relu(self.bn1(self.dw(x)))))
        return F.relu(y + x if self.skip else y)


class ResidualNet(nn.Module):
    """Block residual → 1x1 stem → three stages of separable blocks → 1x1 logit map.

    Parameters
    ----------
    widths : tuple of int, default=(64, 128, 192)
        Channels at 1/4, 1/8 and 1/16 of the input resolution.
    depths : tuple of int, default=(2, 3, 3)
        Blocks per stage (the first block of stages 2 and 3 halves the resolution).
    energy_norm : bool, default=True
        Divide the residual by its local energy (see ``block_residual``); False is NPR's plain residual.
    """

    def __init__(
        self,
        widths: tuple[int, int, int] = (64, 128, 192),
        depths: tuple[int, int, int] = (2, 3, 3),
        energy_norm: bool = True,
    ) -> None:
        super().__init__()
        self.widths, self.depths = tuple(widths), tuple(depths)
        self.energy_norm = energy_norm
        self.stem = nn.Sequential(
            nn.Conv2d(48, widths[0], 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c = widths[0]
        for stage, (w, d) in enumerate(zip(widths, depths)):
            for i in range(d):
                layers.append(
                    _SepBlock(c, w, stride=2 if (stage > 0 and i == 0) else 1)
                )
                c = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x : (N, 3, H, W) float RGB in [0, 1] → (logit (N,), logit map (N, 1, H/16, W/16))."""
        logit_map = self.head(self.body(self.stem(block_residual(x, self.energy_norm))))
        return logit_map.mean(dim=(1, 2, 3)), logit_map


# ``features`` layers kept: through layer 13 the stride is 16 (96 channels), STRIDE_PX's grid.
MOBILENET_LAYERS = 14


class ResidualMobileNet(nn.Module):
    """ImageNet MobileNetV2 layers 0-13 (stride 16) on the full-resolution residual or on RGB → 1x1 logit map.

    Parameters
    ----------
    input_kind : {"residual", "rgb"}, default="residual"
        ``full_residual`` of the picture (scaled to about unit variance, as ImageNet's
        normalised input), or the picture itself with ImageNet's normalisation (as CNNDetection).
    energy_norm : bool, default=True
        Only for ``"residual"``: divide by the local energy (see ``block_residual``).
    """

    def __init__(self, input_kind: str = "residual", energy_norm: bool = True, hidden: int = 128) -> None:
        super().__init__()
        if input_kind not in ("residual", "rgb"):
            raise ValueError(f"unknown input {input_kind!r}")
        self.input_kind, self.energy_norm = input_kind, energy_norm
        self.features, channels = mobilenet_v2.features(MOBILENET_LAYERS)
        self.head = nn.Sequential(mobilenet_v2.conv_bn_relu(channels, hidden, k=1), nn.Conv2d(hidden, 1, 1))
        self.register_buffer("mean", torch.tensor(mobilenet_v2.IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(mobilenet_v2.IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x : (N, 3, H, W) float RGB in [0, 1] → (logit (N,), logit map (N, 1, H/16, W/16))."""
        if self.input_kind == "rgb":
            x = (x - self.mean) / self.std
        else:
            x = full_residual(x, self.energy_norm)
        logit_map = self.head(self.features(x))
        return logit_map.mean(dim=(1, 2, 3)), logit_map


def build(config: dict | None = None) -> ResidualNet | ResidualMobileNet:
    """The network described by a checkpoint's ``config`` (defaults when None)."""
    config = config or {}
    arch = config.get("arch", "residualnet")
    if arch == "mobilenet_v2":
        return ResidualMobileNet(
            input_kind=config.get("input_kind", "residual"),
            energy_norm=config.get("energy_norm", True),
            hidden=config.get("hidden", 128),
        )
    if arch != "residualnet":
        raise ValueError(f"unknown ai-image architecture {arch!r}")
    return ResidualNet(
        widths=tuple(config.get("widths", (64, 128, 192))),
        depths=tuple(config.get("depths", (2, 3, 3))),
        energy_norm=config.get("energy_norm", True),
    )
