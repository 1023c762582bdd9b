"""Spoof generation paths for the ``voice`` model: copy-synthesis of real speech, plus TTS.

No spoof corpus can be downloaded here, so, as Wang & Yamagishi (ICASSP 2023,
"Spoofed training data for speech spoofing countermeasure can be efficiently
created using neural vocoders") did, we make spoofs by analysing real speech and
resynthesising it: the content, speaker and channel stay those of the real
utterance and only the generator's traces differ, which is exactly what the
model must learn. Paths (each a function ``(x, rng) -> y`` on 16 kHz float32):

- ``world``        WORLD vocoder (pyworld): dio/harvest F0, CheapTrick, D4C; optionally
                   the envelope coded to 40-60 dims as statistical parametric TTS does
- ``griffin_lim``  80-band mel spectrogram → pseudo-inverse → Griffin-Lim phase
                   (Tacotron 1's vocoder), 8-64 iterations, two hop sizes
- ``lpc``          source-filter: order-18 LPC envelopes excited by a pulse train at the
                   WORLD F0 (voiced) or noise (unvoiced), as classic parametric vocoders do
- ``espeak``       espeak-ng formant TTS, eight voices, varied speed and pitch (not copy-synthesis)

Needs numpy, scipy and pyworld (train extra); no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from unmask.testing import voice as tv

SR = tv.SAMPLE_RATE_HZ


def world(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    fp = float(rng.choice([5.0, 5.0, 10.0]))
    method = "harvest" if rng.random() < 0.2 else "dio"
    coded = int(rng.choice([40, 60])) if rng.random() < 0.4 else None
    y = tv.world_resynthesis(x, frame_period_ms=fp, f0_method=method, coded_dims=coded)
    return y, f"world-{method}-{fp:g}ms" + (f"-coded{coded}" if coded else "")


# ----------------------------------------------------------------------------- STFT helpers


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    w = np.hanning(n_fft + 1)[:-1]
    xp = np.pad(x, (n_fft // 2, n_fft // 2 + n_fft), mode="reflect" if len(x) > n_fft else "constant")
    n = 1 + (len(xp) - n_fft) // hop
    fr = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n] * w
    return np.fft.rfft(fr, axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    w = np.hanning(n_fft + 1)[:-1]
    fr = np.fft.irfft(spec, n_fft, axis=1) * w
    out = np.zeros(hop * (len(fr) - 1) + n_fft)
    norm = np.zeros_like(out)
    for i, f in enumerate(fr):
        out[i * hop : i * hop + n_fft] += f
        norm[i * hop : i * hop + n_fft] += w**2
    out = out / np.maximum(norm, 1e-8)
    return out[n_fft // 2 : n_fft // 2 + length]


@lru_cache(maxsize=4)
def _mel_basis(n_fft: int, n_mels: int = 80, fmax_hz: float = 8000.0) -> np.ndarray:
    def hz2mel(f):
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    def mel2hz(m):
        return 700 * (10 ** (np.asarray(m) / 2595) - 1)

    freqs = np.linspace(0, SR / 2, n_fft // 2 + 1)
    pts = mel2hz(np.linspace(hz2mel(0), hz2mel(fmax_hz), n_mels + 2))
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    fb = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return fb * (2.0 / (hi - lo))  # Slaney area normalisation, as librosa/HiFi-GAN use


def griffin_lim(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    n_fft, hop = (1024, 256) if rng.random() < 0.5 else (800, 200)
    iters = int(rng.choice([8, 16, 32, 64]))
    mag = np.abs(_stft(x, n_fft, hop))
    fb = _mel_basis(n_fft)
    mel = mag @ fb.T
    # log-compress and quantise as a TTS acoustic model's output would be
    mel = np.exp(np.round(np.log(np.maximum(mel, 1e-5)) * 20) / 20)
    lin = np.maximum(mel @ np.linalg.pinv(fb).T, 0.0)
    phase = np.exp(2j * np.pi * rng.random(lin.shape))
    y = np.zeros(len(x))
    for _ in range(iters):
        y = _istft(lin * phase, n_fft, hop, len(x))
        phase = np.exp(1j * np.angle(_stft(y, n_fft, hop)))
    y = _istft(lin * phase, n_fft, hop, len(x))
    return y.astype(np.float32), f"griffin-lim-{n_fft}/{hop}-{iters}it"


def lpc(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from scipy.linalg import solve_toeplitz
    from scipy.signal import lfilter

    pw = tv._import_pyworld()
    order, frame, hop = 18, 400, 200
    xd = np.asarray(x, dtype=np.float64)
    f0, t = pw.dio(xd, SR, frame_period=hop / SR * 1000)
    f0 = pw.stonemask(xd, f0, t, SR)
    pre = np.concatenate([xd[:1], xd[1:] - 0.9 * xd[:-1]])
    n = 1 + max(0, len(xd) - frame) // hop
    win = np.hanning(frame)
    out = np.zeros(len(xd) + frame)
    phase = 0.0
    noise_mix = float(rng.uniform(0.0, 0.3))
    for i in range(n):
        seg = pre[i * hop : i * hop + frame]
        if len(seg) < frame:
            seg = np.pad(seg, (0, frame - len(seg)))
        s = seg * win
        r = np.correlate(s, s, "full")[frame - 1 : frame + order]
        if r[0] < 1e-9:
            continue
        r[0] *= 1.0001
        a = solve_toeplitz(r[:order], r[1 : order + 1])
        err = max(r[0] - np.dot(a, r[1 : order + 1]), 1e-12)
        f = f0[min(i, len(f0) - 1)]
        if f > 0:
            exc = np.zeros(frame)
            period = SR / f
            k = phase
            while k < frame:
                exc[int(k)] = 1.0
                k += period
            phase = (k - hop) % period if k - hop >= 0 else 0.0
            exc = exc - exc.mean() + noise_mix * rng.standard_normal(frame) * np.sqrt(1.0 / period)
        else:
            exc = rng.standard_normal(frame)
        exc *= np.sqrt(err / frame / (np.mean(exc**2) + 1e-12))
        y = lfilter([1.0], np.concatenate([[1.0], -a]), exc)
        out[i * hop : i * hop + frame] += y * win
    y = lfilter([1.0], [1.0, -0.9], out[: len(xd)])
    return y.astype(np.float32), f"lpc-{order}-pulse" + (f"+noise{noise_mix:.2f}" if noise_mix > 0.05 else "")


def espeak(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    voice = str(rng.choice(tv.ESPEAK_VOICES))
    text = " ".join(rng.choice(tv.SENTENCES, size=2, replace=False))
    speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 80))
    return tv.espeak(text, voice=voice, speed_wpm=speed, pitch=pitch), f"espeak-{voice}"


COPY_SYNTHESIS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]]] = {
    "world": world,
    "griffin-lim": griffin_lim,
    "lpc": lpc,
}
