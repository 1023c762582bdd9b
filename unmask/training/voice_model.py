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

``features="logspec"`` reads the 128-band log spectrum (``unmask.audio.features.log_spectrum``)
instead; CMN then subtracts the window's mean log spectrum, the same channel
normalisation. ``load_onnx`` rebuilds the torch networks of a shipped ensemble
from its ONNX file (the weights are stored unfolded), so a new member can be
averaged with shipped ones without their checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from unmask.audio.features import FEATURES


class MFM(nn.Module):
    """Max-feature-map: split channels in two halves and keep the element-wise max."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.chunk(x, 2, dim=1)
        return torch.maximum(a, b)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, 2 * cout, 3, padding=1), MFM(), nn.BatchNorm2d(cout), nn.MaxPool2d(2))


class VoiceLCNN(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (12, 16, 24, 32), hidden: int = 64, cmn: bool = False, features: str = "lfcc") -> None:
        super().__init__()
        self.cmn = cmn
        self.features = features
        self.inputs = (features,)  # the ONNX input names, in order (``VoiceEnsemble`` may have two)
        width = FEATURES[features][1]
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))
        layers, cin = [], 1
        for c in channels:
            layers.append(_block(cin, c))
            cin = c
        self.convs = nn.Sequential(*layers)
        freq = width
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
    each catches what the other misses (see unmask/models/voice.md). Members may read different front ends:
    ``forward`` takes one tensor per name in ``inputs``.
    """

    def __init__(self, members: list[VoiceLCNN]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.inputs = tuple(dict.fromkeys(m.features for m in members))

    def forward(self, *feats: torch.Tensor) -> torch.Tensor:
        by_name = dict(zip(self.inputs, feats))
        return torch.stack([m(by_name[m.features]) for m in self.members]).mean(dim=0)


# which torch tensor each initialiser input of an exported node is, in input order
_ONNX_ROLES = {"Conv": ("weight", "bias"), "BatchNormalization": ("weight", "bias", "running_mean", "running_var"),
               "Gemm": ("weight", "bias"), "MatMul": ("weight",), "Add": ("bias",), "Sub": ("mean",), "Div": ("std",)}


def load_onnx(path: str | Path, cmn: bool = True) -> list[VoiceLCNN]:
    """The member networks of a voice ONNX file exported by ``voice_train`` (one network or a ``VoiceEnsemble``).

    Tensors are found through the nodes that read them, whose names carry the torch module path
    (``/members.1/convs/convs.0/convs.0.2/BatchNormalization``): the exporter stores equal tensors once (two
    members' identical buffers, passed on by Identity nodes) and the projection's weight transposed under an
    anonymous name.
    Widths come from the shapes, the front end from the input width; ``cmn`` is not a weight (the shipped
    file's ``voice.json`` says it under ``training.cmn``).
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    for node in graph.node:  # the exporter keeps one copy of equal tensors and names the others through Identity nodes
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    states: dict[str, dict[str, torch.Tensor]] = {}
    for node in graph.node:
        inits = [i for i in node.input if i in weights]
        if not inits or node.op_type not in _ONNX_ROLES:
            continue
        parts = node.name.strip("/").split("/")
        member = parts.pop(0) if parts[0].startswith("members.") else ""
        module = parts[-2] if len(parts) >= 2 else ""
        for role, name in zip(_ONNX_ROLES[node.op_type], inits):
            w = weights[name]
            transposed = node.op_type == "MatMul" or (node.op_type == "Gemm" and role == "weight" and
                                                      not any(a.name == "transB" and helper.get_attribute_value(a) for a in node.attribute))
            states.setdefault(member, {})[f"{module}.{role}" if module else role] = w.T.contiguous() if transposed else w
    by_width = {w: name for name, (_, w) in FEATURES.items()}
    nets = []
    for member in sorted(states, key=lambda m: int(m.split(".")[1]) if m else 0):
        state = states[member]
        n_convs = len([k for k in state if k.startswith("convs.") and k.endswith(".0.weight")])
        channels = tuple(state[f"convs.{i}.0.weight"].shape[0] // 2 for i in range(n_convs))
        net = VoiceLCNN(channels, state["proj.0.bias"].shape[0], cmn=cmn, features=by_width[state["mean"].shape[0]])
        missing = set(net.state_dict()) - set(state) - {n for n in net.state_dict() if n.endswith("num_batches_tracked")}
        if missing:
            raise ValueError(f"{path}: {member or 'the network'} lacks {sorted(missing)}")
        net.load_state_dict(state, strict=False)
        nets.append(net.eval())
    return nets
