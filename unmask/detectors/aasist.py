"""Published AASIST / AASIST-L anti-spoofing checkpoints (Jung et al., ICASSP 2022), loaded as published.

``unmask scan --voice-model aasist:path/to/AASIST.pth`` scores the speech with a
checkpoint released by clovaai/aasist (MIT licence): a ``state_dict`` saved with
``torch.save``. The architecture below re-implements ``models/AASIST.py`` of that
repository layer for layer (same parameter names, so the published state_dict
loads strictly), including its quirks, which the weights depend on:

- ``Residual_block.forward`` computes ``bn1``/``selu`` for non-first blocks and
  then discards the result (``conv1`` reads the block input);
- the heterogeneous graph layers receive the un-expanded master parameters.

The variant is read from the weights (AASIST: 70 sinc filters, encoder widths
32-64, GAT dims 64/32; AASIST-L: 24/32 and GAT dims 24/32), with the temperatures
and pool ratios of the published configs (``config/AASIST*.conf``).

Input: 16 kHz waveform windows of ``NB_SAMP = 64,600`` samples (≈ 4.04 s); shorter
windows are repeat-padded, as the published ``pad`` function does.
Score direction: the published model's output index 1 is **bona fide**, so
``probability_fake = softmax(logits)[0]``; the logit we expose is
``logits[0] - logits[1]`` (> 0 = spoof).

Running needs torch (the ``train`` extra); ``torch.load(weights_only=True)``
refuses pickled code, so loading a checkpoint runs none of its contents.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from unmask.detectors._onnx import sigmoid

NB_SAMP = 64_600
_CONFIGS = {
    # name: (filts, gat_dims, pool_ratios, temperatures) from clovaai/aasist config/*.conf
    "AASIST": ([70, [1, 32], [32, 32], [32, 64], [64, 64]], [64, 32], [0.5, 0.7, 0.5, 0.5], [2.0, 2.0, 100.0, 100.0]),
    "AASIST-L": ([70, [1, 32], [32, 32], [32, 24], [24, 24]], [24, 32], [0.4, 0.5, 0.7, 0.5], [2.0, 2.0, 100.0, 100.0]),
}


def build_model(variant: str):
    """The published architecture (torch module) for ``"AASIST"`` or ``"AASIST-L"``."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class GraphAttentionLayer(nn.Module):
        def __init__(self, in_dim, out_dim, temperature=1.0):
            super().__init__()
            self.att_proj = nn.Linear(in_dim, out_dim)
            self.att_weight = nn.Parameter(torch.zeros(out_dim, 1))
            self.proj_with_att = nn.Linear(in_dim, out_dim)
            self.proj_without_att = nn.Linear(in_dim, out_dim)
            self.bn = nn.BatchNorm1d(out_dim)
            self.act = nn.SELU()
            self.temp = temperature

        def forward(self, x):
            att = x.unsqueeze(2) * x.unsqueeze(1)  # pairwise node products (bs, n, n, d)
            att = torch.matmul(torch.tanh(self.att_proj(att)), self.att_weight) / self.temp
            att = F.softmax(att, dim=-2)
            x = self.proj_with_att(torch.matmul(att.squeeze(-1), x)) + self.proj_without_att(x)
            s = x.size()
            return self.act(self.bn(x.reshape(-1, s[-1])).reshape(s))

    class HtrgGraphAttentionLayer(nn.Module):
        def __init__(self, in_dim, out_dim, temperature=1.0):
            super().__init__()
            self.proj_type1 = nn.Linear(in_dim, in_dim)
            self.proj_type2 = nn.Linear(in_dim, in_dim)
            self.att_proj = nn.Linear(in_dim, out_dim)
            self.att_projM = nn.Linear(in_dim, out_dim)
            self.att_weight11 = nn.Parameter(torch.zeros(out_dim, 1))
            self.att_weight22 = nn.Parameter(torch.zeros(out_dim, 1))
            self.att_weight12 = nn.Parameter(torch.zeros(out_dim, 1))
            self.att_weightM = nn.Parameter(torch.zeros(out_dim, 1))
            self.proj_with_att = nn.Linear(in_dim, out_dim)
            self.proj_without_att = nn.Linear(in_dim, out_dim)
            self.proj_with_attM = nn.Linear(in_dim, out_dim)
            self.proj_without_attM = nn.Linear(in_dim, out_dim)
            self.bn = nn.BatchNorm1d(out_dim)
            self.act = nn.SELU()
            self.temp = temperature

        def forward(self, x1, x2, master):
            n1, n2 = x1.size(1), x2.size(1)
            x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
            # master node update
            am = torch.matmul(torch.tanh(self.att_projM(x * master)), self.att_weightM) / self.temp
            am = F.softmax(am, dim=-2)
            master = self.proj_with_attM(torch.matmul(am.squeeze(-1).unsqueeze(1), x)) + self.proj_without_attM(master)
            # typed node-node attention
            a = torch.tanh(self.att_proj(x.unsqueeze(2) * x.unsqueeze(1)))
            board = torch.zeros_like(a[..., :1])
            board[:, :n1, :n1] = torch.matmul(a[:, :n1, :n1], self.att_weight11)
            board[:, n1:, n1:] = torch.matmul(a[:, n1:, n1:], self.att_weight22)
            board[:, :n1, n1:] = torch.matmul(a[:, :n1, n1:], self.att_weight12)
            board[:, n1:, :n1] = torch.matmul(a[:, n1:, :n1], self.att_weight12)
            att = F.softmax(board / self.temp, dim=-2)
            x = self.proj_with_att(torch.matmul(att.squeeze(-1), x)) + self.proj_without_att(x)
            s = x.size()
            x = self.act(self.bn(x.reshape(-1, s[-1])).reshape(s))
            return x[:, :n1], x[:, n1 : n1 + n2], master

    class GraphPool(nn.Module):
        def __init__(self, k, in_dim):
            super().__init__()
            self.k = k
            self.proj = nn.Linear(in_dim, 1)

        def forward(self, h):
            scores = torch.sigmoid(self.proj(h))
            n = max(int(h.size(1) * self.k), 1)
            _, idx = torch.topk(scores, n, dim=1)
            return torch.gather(h * scores, 1, idx.expand(-1, -1, h.size(2)))

    class SincConv(nn.Module):
        def __init__(self, out_channels, kernel_size, sample_rate=16000):
            super().__init__()
            if kernel_size % 2 == 0:
                kernel_size += 1
            to_mel = lambda hz: 2595 * np.log10(1 + hz / 700)  # noqa: E731
            to_hz = lambda mel: 700 * (10 ** (mel / 2595) - 1)  # noqa: E731
            fmel = to_mel(int(sample_rate / 2) * np.linspace(0, 1, 257))
            band = to_hz(np.linspace(fmel.min(), fmel.max(), out_channels + 1))
            hsupp = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1)
            filt = np.zeros((out_channels, kernel_size), dtype=np.float32)
            for i in range(out_channels):
                lo, hi = band[i], band[i + 1]
                ideal = 2 * hi / sample_rate * np.sinc(2 * hi * hsupp / sample_rate) - 2 * lo / sample_rate * np.sinc(2 * lo * hsupp / sample_rate)
                filt[i] = np.hamming(kernel_size) * ideal
            # fixed, not learned: the published model rebuilds these from the config
            self.register_buffer("filters", torch.from_numpy(filt).unsqueeze(1), persistent=False)

        def forward(self, x):
            return F.conv1d(x, self.filters)

    class ResidualBlock(nn.Module):
        def __init__(self, nb_filts, first=False):
            super().__init__()
            self.first = first
            if not first:
                self.bn1 = nn.BatchNorm2d(nb_filts[0])
            self.conv1 = nn.Conv2d(nb_filts[0], nb_filts[1], kernel_size=(2, 3), padding=(1, 1))
            self.selu = nn.SELU()
            self.bn2 = nn.BatchNorm2d(nb_filts[1])
            self.conv2 = nn.Conv2d(nb_filts[1], nb_filts[1], kernel_size=(2, 3), padding=(0, 1))
            self.downsample = nb_filts[0] != nb_filts[1]
            if self.downsample:
                self.conv_downsample = nn.Conv2d(nb_filts[0], nb_filts[1], padding=(0, 1), kernel_size=(1, 3))
            self.mp = nn.MaxPool2d((1, 3))

        def forward(self, x):
            # the published block discards bn1/selu (conv1 reads x): reproduced, not fixed
            out = self.conv2(self.selu(self.bn2(self.conv1(x))))
            identity = self.conv_downsample(x) if self.downsample else x
            return self.mp(out + identity)

    filts, gat_dims, pool_ratios, temps = _CONFIGS[variant]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_time = SincConv(filts[0], 128)
            self.first_bn = nn.BatchNorm2d(1)
            self.selu = nn.SELU()
            self.encoder = nn.Sequential(
                nn.Sequential(ResidualBlock(filts[1], first=True)),
                nn.Sequential(ResidualBlock(filts[2])),
                nn.Sequential(ResidualBlock(filts[3])),
                nn.Sequential(ResidualBlock(filts[4])),
                nn.Sequential(ResidualBlock(filts[4])),
                nn.Sequential(ResidualBlock(filts[4])),
            )
            self.pos_S = nn.Parameter(torch.zeros(1, 23, filts[-1][-1]))
            self.master1 = nn.Parameter(torch.zeros(1, 1, gat_dims[0]))
            self.master2 = nn.Parameter(torch.zeros(1, 1, gat_dims[0]))
            self.GAT_layer_S = GraphAttentionLayer(filts[-1][-1], gat_dims[0], temps[0])
            self.GAT_layer_T = GraphAttentionLayer(filts[-1][-1], gat_dims[0], temps[1])
            self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(gat_dims[0], gat_dims[1], temps[2])
            self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(gat_dims[1], gat_dims[1], temps[2])
            self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(gat_dims[0], gat_dims[1], temps[2])
            self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(gat_dims[1], gat_dims[1], temps[2])
            self.pool_S = GraphPool(pool_ratios[0], gat_dims[0])
            self.pool_T = GraphPool(pool_ratios[1], gat_dims[0])
            self.pool_hS1 = GraphPool(pool_ratios[2], gat_dims[1])
            self.pool_hT1 = GraphPool(pool_ratios[2], gat_dims[1])
            self.pool_hS2 = GraphPool(pool_ratios[2], gat_dims[1])
            self.pool_hT2 = GraphPool(pool_ratios[2], gat_dims[1])
            self.out_layer = nn.Linear(5 * gat_dims[1], 2)

        def forward(self, x):
            x = self.conv_time(x.unsqueeze(1)).unsqueeze(1)
            x = self.selu(self.first_bn(F.max_pool2d(torch.abs(x), (3, 3))))
            e = self.encoder(x)
            e_S = torch.max(torch.abs(e), dim=3)[0].transpose(1, 2) + self.pos_S
            out_S = self.pool_S(self.GAT_layer_S(e_S))
            e_T = torch.max(torch.abs(e), dim=2)[0].transpose(1, 2)
            out_T = self.pool_T(self.GAT_layer_T(e_T))

            def branch(l1, l2, pS, pT, master):
                t1, s1, m1 = l1(out_T, out_S, master)
                s1, t1 = pS(s1), pT(t1)
                ta, sa, ma = l2(t1, s1, m1)
                return t1 + ta, s1 + sa, m1 + ma

            t1, s1, m1 = branch(self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1, self.master1)
            t2, s2, m2 = branch(self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2, self.master2)
            out_T, out_S, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
            hidden = torch.cat(
                [torch.max(torch.abs(out_T), dim=1)[0], out_T.mean(dim=1), torch.max(torch.abs(out_S), dim=1)[0], out_S.mean(dim=1),
                 master.squeeze(1).expand(out_T.size(0), -1)],
                dim=1,
            )
            return self.out_layer(hidden)

    return Model()


def repeat_pad(x: np.ndarray, n: int = NB_SAMP) -> np.ndarray:
    """The published ``pad``: first ``n`` samples, tiled when the audio is shorter."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) >= n:
        return x[:n]
    return np.tile(x, int(np.ceil(n / max(1, len(x)))))[:n]


class AasistModel:
    """A published AASIST checkpoint behind the voice detector's model interface."""

    window_s = NB_SAMP / 16000
    hop_s = 2.0

    def __init__(self, path: str | Path) -> None:
        import torch

        p = Path(path)
        data = p.read_bytes()
        self.sha256 = hashlib.sha256(data).hexdigest()
        state = torch.load(p, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        width = state["pos_S"].shape[-1]
        self.variant = "AASIST-L" if width == 24 else "AASIST"
        self.tag = self.variant.lower()
        self.net = build_model(self.variant)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
        torch.set_num_threads(min(2, torch.get_num_threads()))

    def window_logits(self, windows: list[np.ndarray]) -> np.ndarray:
        """``logit[spoof] - logit[bona fide]`` per window (> 0 = spoof)."""
        import torch

        x = torch.from_numpy(np.stack([repeat_pad(w) for w in windows]))
        with torch.no_grad():
            out = self.net(x).numpy()
        return (out[:, 0] - out[:, 1]).astype(np.float64)

    def probability(self, logit: float | np.ndarray) -> np.ndarray:
        # softmax over two classes = sigmoid of their difference: uncalibrated, as published
        return sigmoid(np.asarray(logit, dtype=np.float64))
