"""A small HiFi-GAN-style neural vocoder trained here, briefly, to make neural copy-synthesis spoofs.

``python -m unmask.training.voice_vocoder train [--minutes 8] [--variant tconv|upsample]``
``python -m unmask.training.voice_vocoder synth`` (adds ``<out>/feats/neural-*.npz``)

Real neural vocoders (HiFi-GAN, MelGAN, WaveGlow, Parallel WaveGAN) are what the
dev set and real-world clones use, and no spoof corpus can be downloaded here.
Wang & Yamagishi (ICASSP 2023) showed that copy-synthesis through vocoders trained
on bona fide speech makes good spoof training data; a generator trained for only
minutes is far from natural, but it already carries the traces its architecture
leaves (periodic up-sampling artifacts, smeared harmonics, noisy high band).

Architecture (HiFi-GAN V3-like, ≈ 0.2 M parameters): 80-band log-mel (hop 200 =
12.5 ms at 16 kHz) → Conv1d 128 → three up-sampling stages ×5 ×5 ×8 (transposed
convolutions, or nearest-neighbour + convolution for ``--variant upsample``), each
followed by a dilated residual block → Conv1d → tanh. Loss: multi-resolution STFT
(spectral convergence + log magnitude) + mel L1; no discriminator (too slow on two
CPU cores). Trained on the training speakers only (``voice_data.is_val_speaker``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unmask.training.voice_data import DEFAULT_SHARED, _render, _save, excerpt, is_val_speaker, read_speech, speaker_of

SR = 16_000
N_FFT, HOP, N_MELS = 800, 200, 80


def mel_basis() -> torch.Tensor:
    from unmask.training.voice_spoofs import _mel_basis

    return torch.from_numpy(_mel_basis(N_FFT, N_MELS).astype(np.float32))


def log_mel(x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(b, n) waveform → (b, 80, n // 200 + 1) log-mel."""
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True, center=True).abs()
    return torch.log(torch.clamp(basis @ spec, min=1e-5))


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(ch, ch, 3, dilation=d, padding=d) for d in (1, 3, 9)])

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, 0.1))
        return x


class Generator(nn.Module):
    def __init__(self, variant: str = "tconv", ch: int = 128, rates: tuple[int, ...] = (5, 5, 8)) -> None:
        super().__init__()
        self.pre = nn.Conv1d(N_MELS, ch, 7, padding=3)
        self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
        for r in rates:
            if variant == "tconv":
                up = nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2)
            else:
                up = nn.Sequential(nn.Upsample(scale_factor=r, mode="nearest"), nn.Conv1d(ch, ch // 2, 2 * r + 1, padding=r))
            self.ups.append(up)
            ch //= 2
            self.blocks.append(ResBlock(ch))
        self.post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, mel):
        x = self.pre(mel)
        for up, blk in zip(self.ups, self.blocks):
            x = blk(up(F.leaky_relu(x, 0.1)))
        return torch.tanh(self.post(F.leaky_relu(x, 0.1))).squeeze(1)


def stft_loss(y, x):
    loss = 0.0
    for n_fft, hop in ((512, 128), (1024, 256), (256, 64)):
        w = torch.hann_window(n_fft)
        sy = torch.stft(y, n_fft, hop, window=w, return_complex=True).abs().clamp(min=1e-7)
        sx = torch.stft(x, n_fft, hop, window=w, return_complex=True).abs().clamp(min=1e-7)
        loss = loss + torch.norm(sx - sy) / torch.norm(sx) + F.l1_loss(torch.log(sy), torch.log(sx))
    return loss / 3


def _train_audio(shared: Path) -> list[np.ndarray]:
    import soundfile as sf

    out = []
    for p in sorted(Path(shared, "data", "speech").glob("*/*.flac")):
        if not is_val_speaker(speaker_of(p)):
            x, _ = sf.read(p, dtype="float32")
            out.append(x / max(1e-3, float(np.abs(x).max())) * 0.9)
    return out


def train(shared: Path, out: Path, minutes: float, variant: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    audio = _train_audio(shared)
    g = Generator(variant)
    opt = torch.optim.AdamW(g.parameters(), lr=2e-3, betas=(0.8, 0.99))
    basis = mel_basis()
    ck = out / f"vocoder-{variant}.pt"
    step = 0
    if ck.exists():
        st = torch.load(ck, weights_only=False)
        g.load_state_dict(st["g"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
    seg = 8000
    t_end = time.time() + 60 * minutes
    while time.time() < t_end:
        batch = []
        for _ in range(8):
            x = audio[int(rng.integers(len(audio)))]
            a = int(rng.integers(0, max(1, len(x) - seg)))
            batch.append(np.pad(x[a : a + seg], (0, max(0, seg - len(x[a : a + seg])))))
        x = torch.from_numpy(np.stack(batch))
        mel = log_mel(x, basis)
        y = g(mel)[:, :seg]
        loss = stft_loss(y, x) + F.l1_loss(log_mel(y, basis), mel) * 0.5
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
            torch.save({"g": g.state_dict(), "opt": opt.state_dict(), "step": step}, ck)
    torch.save({"g": g.state_dict(), "opt": opt.state_dict(), "step": step}, ck)
    print("saved", ck, "at step", step)


@torch.no_grad()
def vocode(g: Generator, x: np.ndarray, basis: torch.Tensor) -> np.ndarray:
    peak = max(1e-3, float(np.abs(x).max()))
    xt = torch.from_numpy((x / peak * 0.9).astype(np.float32))[None]
    y = g(log_mel(xt, basis))[0, : len(x)].numpy()
    return (y * peak / 0.9).astype(np.float32)


def synth(shared: Path, out: Path, variants: list[str]) -> None:
    torch.set_num_threads(1)
    basis = mel_basis()
    feats_dir = out / "feats"
    gens = {}
    for v in variants:
        st = torch.load(out / f"vocoder-{v}.pt", weights_only=False)
        g = Generator(v)
        g.load_state_dict(st["g"])
        g.eval()
        gens[v] = (g, st["step"])
    for v, (g, step) in gens.items():
        for i, p in enumerate(sorted(Path(shared, "data", "speech").glob("*/*.flac"))):
            dst = feats_dir / f"neural-{v}__{p.parent.name}__{p.stem}.npz"
            if dst.exists():
                continue
            rng = np.random.default_rng(9000 + i)
            clips = [(vocode(g, excerpt(read_speech(p), 8.0, rng), basis), 1, f"neural-{v}-{step}steps")]
            _save(dst, *_render(clips, rng), speaker=speaker_of(p))
            if i % 50 == 0:
                print(v, i, flush=True)
    print(json.dumps({v: s for v, (_, s) in gens.items()}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["train", "synth"])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--variant", default="tconv", choices=["tconv", "upsample"])
    ap.add_argument("--variants", default="tconv,upsample")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.action == "train":
        train(Path(args.shared), out, args.minutes, args.variant)
    else:
        synth(Path(args.shared), out, [v for v in args.variants.split(",") if (out / f"vocoder-{v}.pt").exists()])


if __name__ == "__main__":
    main()
