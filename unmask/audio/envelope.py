"""Speech envelope sampled at video frame times, for audio-visual synchrony (``lip-sync``).

The mouth opens and closes with the syllables, so the loudness of the voiced band
(300-3000 Hz: first and second formants, where mouth opening changes the energy
most) rises and falls with the lips. ``speech_envelope`` measures it in 25 ms
frames every 10 ms and averages those over each video frame's own interval, so
that audio sample *k* of the result belongs to video frame *k*.

Imports numpy only.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE_HZ = 16_000
FRAME_S = 0.025
HOP_S = 0.010
N_FFT = 512
BAND_HZ = (300.0, 3000.0)
# Bands for the multi-band envelope: low formant, high formant, fricatives. Unvoiced
# consonants (s, f, t) are loud above 3 kHz while the mouth is nearly closed, so the
# bands carry information a single envelope mixes away.
BANDS_HZ = ((150.0, 700.0), (700.0, 1800.0), (1800.0, 3500.0), (3500.0, 7500.0))


def _stft_power(x: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    frame, hop = int(FRAME_S * sample_rate_hz), int(HOP_S * sample_rate_hz)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    fr = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop] * np.hanning(frame).astype(np.float32)
    return np.abs(np.fft.rfft(fr, N_FFT, axis=1)) ** 2  # (frames, N_FFT/2+1); frame i centred at i*hop + frame/2


def band_log_energy(waveform: np.ndarray, bands_hz=BANDS_HZ, sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Log energy per band every 10 ms: ``(centres_s (n,), log_energy (n, bands))``."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    power = _stft_power(x, sample_rate_hz)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate_hz)
    cols = []
    for lo, hi in bands_hz:
        sel = (freqs >= lo) & (freqs < hi)
        cols.append(np.log(power[:, sel].sum(axis=1) + 1e-8))
    centres = (np.arange(len(power)) * HOP_S * sample_rate_hz + FRAME_S * sample_rate_hz / 2) / sample_rate_hz
    return centres, np.stack(cols, axis=1)


def speech_envelope(
    waveform: np.ndarray,
    frame_times_s: np.ndarray,
    frame_period_s: float,
    *,
    bands_hz=BANDS_HZ,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Band log energies averaged over each video frame's interval.

    Parameters
    ----------
    waveform : (n,) float ndarray
        16 kHz mono audio, time 0 = the video's time 0.
    frame_times_s : (T,) float ndarray
        Presentation time of each video frame; frame *k* covers
        ``[t_k - period/2, t_k + period/2)``.
    frame_period_s : float
        1 / fps.

    Returns
    -------
    (T, bands) float64 ndarray
        Log energy per band; frames beyond the end of the audio get the quietest value seen.
    """
    centres, loge = band_log_energy(waveform, bands_hz, sample_rate_hz)
    t = np.asarray(frame_times_s, dtype=np.float64)
    # cumulative sums make every frame's mean one subtraction, whatever the frame rate
    csum = np.concatenate([np.zeros((1, loge.shape[1])), np.cumsum(loge, axis=0)])
    lo = np.searchsorted(centres, t - frame_period_s / 2)
    hi = np.searchsorted(centres, t + frame_period_s / 2)
    hi = np.maximum(hi, np.minimum(lo + 1, len(centres)))
    count = (hi - lo)[:, None]
    floor = loge.min(axis=0) if len(loge) else np.zeros(loge.shape[1])
    out = np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), floor[None, :])
    return out
