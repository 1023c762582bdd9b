"""The speech front end on audio the tests make: espeak-ng speech, silence, music, noise."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from unmask.audio import detect_speech, lfcc, normalise_level, speech_windows, trim_silence
from unmask.audio.features import N_FEATURES
from unmask.testing import voice as tv

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
SR = 16_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    return tv.espeak(tv.SENTENCES[0] + " " + tv.SENTENCES[3])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: np.zeros(3 * SR, np.float32), "silence"),
        (lambda: tv.noise(3.0, colour="white"), "stationary-noise"),
        (lambda: tv.noise(3.0, colour="pink", level_dbfs=-30), "stationary-noise"),
        (lambda: tv.music(6.0, seed=1), "music"),
        (lambda: tv.music(6.0, seed=3), "music"),
        (lambda: np.zeros(100, np.float32), "silence"),
    ],
)
def test_no_speech(make, reason):
    act = detect_speech(make())
    assert not act.has_speech
    assert act.reason == reason


@needs_espeak
def test_speech_found_and_silence_trimmed(speech):
    padded = np.concatenate([np.zeros(2 * SR, np.float32), speech, np.zeros(3 * SR, np.float32)])
    act = detect_speech(padded + tv.noise(len(padded) / SR, level_dbfs=-70)[: len(padded)])
    assert act.has_speech, act
    first, last = act.segments_s[0][0], act.segments_s[-1][1]
    # the 2 s of leading and 3 s of trailing silence are outside every segment
    assert 1.8 <= first <= 2.3
    assert len(padded) / SR - 3.3 <= last <= len(padded) / SR - 2.7
    assert 0.5 * len(speech) / SR <= act.speech_s <= len(speech) / SR + 0.3


@needs_espeak
def test_speech_survives_channels(speech):
    rng = np.random.default_rng(0)
    for y in (tv.codec_roundtrip(speech, "mp3", 64), tv.telephone(speech), tv.add_noise(speech, 15, rng), 0.01 * speech):
        assert detect_speech(y).has_speech


@needs_espeak
def test_windows_cover_speech(speech):
    act = detect_speech(speech)
    wins = speech_windows(speech, act, window_s=2.0, hop_s=1.0)
    assert len(wins) >= 3
    assert all(len(w.samples) == 2 * SR for w in wins)
    assert wins[0].start_s == pytest.approx(act.segments_s[0][0], abs=0.02)
    assert wins[-1].end_s == pytest.approx(act.segments_s[-1][1], abs=0.02)
    assert all(a.start_s < b.start_s for a, b in zip(wins, wins[1:]))
    short = speech_windows(speech, act, window_s=60.0, hop_s=30.0)
    assert len(short) == 1 and len(short[0].samples) == pytest.approx(act.speech_s * SR, rel=0.01)
    assert np.array_equal(short[0].samples, trim_silence(speech, act))
    with pytest.raises(ValueError, match="hop_s"):
        speech_windows(speech, act, window_s=1.0, hop_s=2.0)


def test_lfcc_shape_and_level_invariance():
    x = tv.noise(1.0, colour="pink", seed=3)
    f = lfcc(normalise_level(x))
    assert f.shape == (1 + (SR - 320) // 160, N_FEATURES)
    assert np.isfinite(f).all()
    # gain never reaches the model: 30 dB quieter input gives the same features after normalisation
    g = lfcc(normalise_level(x * 10 ** (-30 / 20)))
    assert np.allclose(f, g, atol=1e-3)
    assert lfcc(np.zeros(10, np.float32)).shape == (1, N_FEATURES)


def test_log_spectrum_resolves_harmonics_that_lfcc_averages_away():
    """The log spectrum's 62.5 Hz bands show a 250 Hz voice's harmonics and the gaps between them, on LFCC's frame grid."""
    from unmask.audio.features import N_SPECTRUM_BANDS, log_spectrum

    t = np.arange(SR) / SR
    x = sum(np.sin(2 * np.pi * 250 * h * t) / h for h in range(1, 9)).astype(np.float32)
    spec = log_spectrum(normalise_level(x))
    assert spec.shape == (len(lfcc(x)), N_SPECTRUM_BANDS) and np.isfinite(spec).all()
    mean = spec[5:-5].mean(axis=0)  # band j holds FFT bins 2j+1 and 2j+2 (31.25 Hz each): 250·h Hz is band 4h - 1
    for h in range(1, 5):
        peak, gap = 4 * h - 1, 4 * h + 1  # gap: halfway to the next harmonic
        assert mean[peak] - mean[gap] > np.log(100), (h, mean[peak], mean[gap])  # ≥ 20 dB between harmonic and gap
    assert log_spectrum(np.zeros(10, np.float32)).shape == (1, N_SPECTRUM_BANDS)


def test_codec_roundtrips_keep_length_and_content():
    x = tv.music(2.0, seed=0)
    for codec, kb in (("mp3", 64), ("opus", 24), ("aac", 64)):
        y = tv.codec_roundtrip(x, codec, kb)
        assert len(y) == len(x)
        assert np.corrcoef(x, y)[0, 1] > 0.9, codec
    t = tv.telephone(x)
    spec = np.abs(np.fft.rfft(t))
    freqs = np.fft.rfftfreq(len(t), 1 / SR)
    assert spec[freqs > 4200].max() < 0.01 * spec.max()  # nothing above the 8 kHz channel's Nyquist


def test_media_item_speech_is_cached_and_matches_detect_speech(tmp_path, speech):
    """Voice and lip-sync share one VAD pass per file through MediaItem.speech()."""
    import soundfile as sf

    from unmask.media import open_media

    path = tmp_path / "s.wav"
    sf.write(path, np.concatenate([np.zeros(8000, np.float32), speech]), 16000, subtype="PCM_16")
    item = open_media(path)
    first = item.speech()
    assert first is item.speech()
    direct = detect_speech(np.asarray(item.audio()))
    assert first.segments_s == direct.segments_s and first.has_speech
