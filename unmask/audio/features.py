"""LFCC and log-spectrum features for the ``voice`` model (numpy only; training and inference share this code).

Linear-frequency cepstral coefficients keep the 4-8 kHz band at the same
resolution as the low band, which is where vocoders leave most of their traces
(Sahidullah et al., Interspeech 2015; the ASVspoof 2019/2021 LFCC baselines).
Configuration, following the ASVspoof 2021 LFCC-LCNN baseline except where noted:
20 ms Hann frames every 10 ms, 512-point FFT, 40 triangular filters spread
linearly over 0-8 kHz, 20 cepstra (c0 included) + deltas + delta-deltas = 60 values
per frame (``N_FEATURES``).

``log_spectrum`` keeps what LFCC's 200 Hz filters average away: the harmonic fine
structure and the noise between harmonics, where vocoders differ from speech
(a 32 ms Hann frame, 128 bands of 62.5 Hz, ``N_SPECTRUM_BANDS``), on the same
10 ms frame grid as ``lfcc``. ``FEATURES`` names every front end a voice model
may read; an ONNX model's input names say which ones it needs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

FRAME = 320  # 20 ms
HOP = 160  # 10 ms → 100 frames per second
N_FFT = 512
N_FILTERS = 40
N_CEPS = 20
N_FEATURES = 3 * N_CEPS
SPECTRUM_FRAME = 512  # 32 ms: a Hann main lobe of ±62.5 Hz separates the harmonics of most voices
N_SPECTRUM_BANDS = 128  # pairs of 512-point FFT bins, 31.25 Hz-8 kHz
TARGET_RMS_DBFS = -26.0  # speech level every input is normalised to (ITU-T P.56 active level convention)


@lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    edges = np.linspace(0, N_FFT // 2, N_FILTERS + 2)
    bins = np.arange(N_FFT // 2 + 1)[None, :]
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid))).astype(np.float32)


@lru_cache(maxsize=1)
def _dct() -> np.ndarray:
    n = np.arange(N_FILTERS)
    k = np.arange(N_CEPS)[:, None]
    m = np.cos(np.pi / N_FILTERS * (n + 0.5) * k) * np.sqrt(2.0 / N_FILTERS)
    m[0] /= np.sqrt(2.0)
    return m.T.astype(np.float32)  # (filters, ceps)


def _delta(c: np.ndarray, width: int = 2) -> np.ndarray:
    pad = np.pad(c, ((width, width), (0, 0)), mode="edge")
    num = sum(k * (pad[width + k : len(c) + width + k] - pad[width - k : len(c) + width - k]) for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def normalise_level(waveform: np.ndarray) -> np.ndarray:
    """Scale so the loudest half of 20 ms frames has ``TARGET_RMS_DBFS``: gain is never a cue."""
    x = np.asarray(waveform, dtype=np.float32)
    if len(x) < FRAME:
        return x
    fr = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]
    e = np.mean(fr.astype(np.float64) ** 2, axis=1)
    loud = e[e >= np.median(e)]
    rms = np.sqrt(np.mean(loud)) if len(loud) else 0.0
    if rms < 1e-6:
        return x
    return (x * (10 ** (TARGET_RMS_DBFS / 20) / rms)).astype(np.float32)


def lfcc(waveform: np.ndarray) -> np.ndarray:
    """LFCC + Δ + ΔΔ of 16 kHz mono audio.

    Parameters
    ----------
    waveform : (n,) float32 ndarray
        16 kHz mono; call ``normalise_level`` first.

    Returns
    -------
    (frames, 60) float32 ndarray
        One row per 10 ms; ``1 + (n - 320) // 160`` rows (at least one).
    """
    x = _pre_emphasis(waveform, FRAME)
    fr = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP] * np.hanning(FRAME).astype(np.float32)
    power = np.abs(np.fft.rfft(fr, N_FFT, axis=1)) ** 2
    logfb = np.log(power.astype(np.float32) @ _filterbank().T + 1e-8)
    c = logfb @ _dct()
    return np.concatenate([c, _delta(c), _delta(_delta(c))], axis=1).astype(np.float32)


def _pre_emphasis(x: np.ndarray, min_len: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if len(x) < min_len:
        x = np.pad(x, (0, min_len - len(x)))
    # as in the ASVspoof baselines: lifts the weak high band the model needs
    return np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])


def log_spectrum(waveform: np.ndarray) -> np.ndarray:
    """Log power in 128 bands of 62.5 Hz (31.25 Hz-8 kHz) of 16 kHz mono audio, 32 ms Hann frames every 10 ms.

    Frames are centred where ``lfcc``'s are, so both give the same number of rows for one waveform
    (``1 + (n - 320) // 160``, at least one) and can be stacked side by side.

    Returns
    -------
    (frames, 128) float32 ndarray
    """
    x = _pre_emphasis(waveform, FRAME)
    pad = (SPECTRUM_FRAME - FRAME) // 2
    x = np.pad(x, (pad, pad))
    fr = np.lib.stride_tricks.sliding_window_view(x, SPECTRUM_FRAME)[::HOP] * np.hanning(SPECTRUM_FRAME).astype(np.float32)
    power = np.abs(np.fft.rfft(fr, SPECTRUM_FRAME, axis=1)[:, 1:]) ** 2  # drop DC: 256 bins up to Nyquist
    bands = power.reshape(len(power), N_SPECTRUM_BANDS, -1).sum(axis=2)
    return np.log(bands.astype(np.float32) + 1e-8)


FEATURES = {"lfcc": (lfcc, N_FEATURES), "logspec": (log_spectrum, N_SPECTRUM_BANDS)}  # input name → (function, width)


def resample(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Polyphase resampling (scipy), float32 out."""
    if from_hz == to_hz:
        return np.asarray(x, dtype=np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(from_hz), int(to_hz))
    return resample_poly(np.asarray(x, dtype=np.float64), to_hz // g, from_hz // g).astype(np.float32)
