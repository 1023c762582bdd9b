"""The small LFCC network behind the ``voice`` detector (torch; train extra).

Input: LFCC + Δ + ΔΔ (``unmask.audio.features``), shape (batch, frames, 60), any
number of frames ≥ 8. Four 3×3 conv blocks with max-feature-map activations (the
LCNN of Wu et al., ASVspoof 2019/2021 baselines) and 2×2 pooling shrink the
(time, feature) plane; the frequency axis is flattened into channels, and the
time axis is summarised by mean and standard deviation pooling, so the model
scores windows of any length. With ``cmn=True`` the window's mean over time is
subtracted from every coefficient first (cepstral mean normalisation): a fixed
channel — microphone, room, codec, a studio's brighter high band — is a constant
offset in cepstra, so the network sees only how the spectrum moves. Output: one
logit, > 0 = synthetic. 31,081 parameters with the class defaults (0.1.0's network,
142 kB as float32 ONNX); 63,265 with ``voice_train``'s defaults, (16, 24, 32, 48),
hidden 96 and CMN (voice 0.2.0, 271 kB).
"""

from __future__ import annotations

import torch
from torch import nn

from unmask.audio.features import N_FEATURES


class MFM(nn.Module):
    """Max-feature-map: split channels in two halves and keep the element-wise max."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(x, 2, dim=1)
        return torch.maximum(a, b)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, 2 * cout, 3, padding=1), MFM(), nn.BatchNorm2d(cout), nn.MaxPool2d(2))


class VoiceLCNN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (12, 16, 24, 32), hidden: int = 64, cmn: bool = False) -> None:
        super().__init__()
        self.cmn = cmn
        self.register_buffer("mean", torch.zeros(N_FEATURES))
        self.register_buffer("std", torch.ones(N_FEATURES))
        layers, cin = [], 1
        for c in channels:
            layers.append(_block(cin, c))
            cin = c
        self.convs = nn.Sequential(*layers)
        freq = N_FEATURES
        for _ in channels:
            freq //= 2
        self.proj = nn.Sequential(nn.Linear(cin * freq, hidden), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.cmn:
            feats = feats - feats.mean(dim=1, keepdim=True)
        x = (feats - self.mean) / self.std
        x = self.convs(x.unsqueeze(1))  # (b, c, t', f')
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)
        h = self.proj(x)
        pooled = torch.cat([h.mean(dim=1), h.std(dim=1, unbiased=False)], dim=1)
        return self.out(self.drop(pooled)).squeeze(1)


class VoiceEnsemble(nn.Module):
    """The mean logit of several ``VoiceLCNN`` members, exported as one ONNX graph (the detector sees one model).

    voice 0.3.0 and 0.4.0 average a member trained without TTS spoofs (0.2.0's network) and one trained with them:
    each catches what the other misses (see unmask/models/voice.md).
    """

    def __init__(self, members: list[VoiceLCNN]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(feats) for m in self.members]).mean(dim=0)
