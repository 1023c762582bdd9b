"""The ``face-swap`` network: ImageNet MobileNetV2 with a face-level logit and a blending-mask head.

Input is an aligned face crop (``unmask.faces.align``), (N, 3, S, S) float32 RGB
in [0, 1]; the ImageNet normalisation is the graph's first step, so callers
never normalise. Outputs:

- ``logit`` (N,): face-level, 1 = blended / manipulated (before calibration);
- ``mask`` (N, 1, S/8, S/8): logits of the blending *boundary* (Face X-ray, Li
  et al. CVPR 2020: ``4 * M * (1 - M)`` of the soft blend mask ``M``), zero on
  real faces. It shows *where* the network sees a seam; it is trained as an
  auxiliary task (LAA-Net, Nguyen et al. CVPR 2024, found that such a local
  target makes the global logit generalise better) and is not used for the logit.

The backbone is ``unmask.training.mobilenet_v2`` (torchvision's layout, so the ImageNet
weights load by name without torchvision).
The mask head fuses stride-16 features (after block 13, 96 channels) into the
stride-8 features (after block 6, 32 channels): blending seams are a few pixels
wide, so the finer map matters.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from unmask.training import mobilenet_v2

MASK_STRIDE_PX = 8
_TAP_STRIDE8, _TAP_STRIDE16 = 6, 13  # indices into ``features`` whose outputs feed the mask head


class FaceSwapNet(nn.Module):
    """MobileNetV2 features + global logit + stride-8 blending-boundary logits."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.features, _ = mobilenet_v2.features()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(mobilenet_v2.LAST_CHANNELS, 1))
        self.mask_lateral = nn.Sequential(nn.Conv2d(96, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.mask_head = nn.Sequential(mobilenet_v2.conv_bn_relu(64, 32), nn.Conv2d(32, 1, 1))
        self.register_buffer("mean", torch.tensor(mobilenet_v2.IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(mobilenet_v2.IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        nn.init.zeros_(self.classifier[1].bias)
        nn.init.normal_(self.classifier[1].weight, std=0.01)
        nn.init.constant_(self.mask_head[1].bias, -4.0)  # the boundary is empty almost everywhere

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (image - self.mean) / self.std
        f8 = f16 = None
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == _TAP_STRIDE8:
                f8 = x
            elif i == _TAP_STRIDE16:
                f16 = x
        logit = self.classifier(x.mean(dim=(2, 3))).squeeze(1)
        up = F.interpolate(self.mask_lateral(f16), size=f8.shape[2:], mode="bilinear", align_corners=False)
        mask = self.mask_head(torch.cat([f8, up], dim=1))
        return logit, mask


def build(config: dict) -> FaceSwapNet:
    """The network described by a checkpoint's ``config`` (``{"arch": "mobilenet_v2", ...}``)."""
    if config.get("arch", "mobilenet_v2") != "mobilenet_v2":
        raise ValueError(f"unknown face-swap architecture {config.get('arch')!r}")
    return FaceSwapNet(dropout=config.get("dropout", 0.2))


def load_onnx(model: FaceSwapNet, path: Path) -> int:
    """Load the weights of an exported ``face-swap.onnx`` back into ``model``; returns how many convolutions were set.

    The convolutions go back through ``export.load_folded_convs`` (BatchNorm as an identity: fine-tune such a
    model with ``freeze_batchnorm``); the classifier is the graph's one ``Gemm``.
    """
    from unmask.training.export import load_folded_convs

    n_convs, onnx_file = load_folded_convs(model, path)
    inits = onnx_file["inits"]
    gemm = next(n for n in onnx_file["graph"].node if n.op_type == "Gemm")
    with torch.no_grad():
        model.classifier[1].weight.copy_(torch.from_numpy(inits[gemm.input[1]].copy()).reshape(1, -1))
        model.classifier[1].bias.copy_(torch.from_numpy(inits[gemm.input[2]].copy()).reshape(1))
    return n_convs


def freeze_batchnorm(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (running statistics used and kept) while the rest trains."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
