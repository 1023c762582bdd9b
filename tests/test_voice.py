"""The voice detector end to end on audio the tests make: espeak-ng speech, WORLD resynthesis,
silence, music, noise; the shipped ONNX model; streaming; the AASIST checkpoint loader."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import unmask
from unmask.config import ScanOptions
from unmask.core import FindingStatus, MediaKind, Signal
from unmask.detectors import voice as V
from unmask.media import open_media
from unmask.testing import voice as tv

SHARED = Path(__file__).resolve().parents[2] / "shared"
SR = 16_000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
needs_pyworld = pytest.mark.skipif(importlib.util.find_spec("pyworld") is None, reason="pyworld (train extra) not installed")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch (train extra) not installed")


def _card():
    from unmask.detectors._registry import get_card

    return get_card("voice")


@pytest.fixture(scope="module")
def detector():
    return V.create(_card(), ScanOptions())


@pytest.fixture(scope="module")
def tts() -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    return tv.espeak(" ".join(tv.SENTENCES[:3]), voice="en-gb")


def _wav(path: Path, x: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, x, sr, subtype="PCM_16")
    return path


def test_card_and_weights():
    card = _card()
    assert card.family == "ml" and card.accepts(MediaKind.AUDIO) and card.accepts(MediaKind.VIDEO) and not card.accepts(MediaKind.IMAGE)
    meta = json.loads((V.WEIGHTS_DIR / "voice.json").read_text())
    data = (V.WEIGHTS_DIR / meta["weights"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert len(data) < 10 * 1024 * 1024
    model = V.ShippedModel()
    rng = np.random.default_rng(0)
    wins = [tv.noise(4.0, seed=1), 0.1 * rng.standard_normal(SR).astype(np.float32)]  # 4 s and a shorter window
    a, b = model.window_logits(wins), model.window_logits(wins)
    assert a.shape == (2,) and np.isfinite(a).all() and np.array_equal(a, b)
    p = model.probability(a)
    assert ((0 < p) & (p < 1)).all()


@pytest.mark.parametrize(
    ("make", "reason"),
    [(lambda: np.zeros(4 * SR, np.float32), "silence"), (lambda: tv.music(6.0, seed=2), "music"), (lambda: tv.noise(4.0), "stationary-noise")],
)
def test_no_speech_is_not_applicable(tmp_path, detector, make, reason):
    f = detector.analyze(open_media(_wav(tmp_path / "x.wav", make())))
    assert f.status is FindingStatus.NOT_APPLICABLE
    assert f.abstain_reason == "no-speech"
    assert f.probability_fake is None
    assert "No speech found" in f.summary
    assert {e.label: e.value for e in f.evidence}["vad_reason"] == reason


@needs_espeak
def test_tts_scored_with_timeline(tmp_path, detector, tts):
    padded = np.concatenate([np.zeros(SR, np.float32), tts, np.zeros(2 * SR, np.float32)])
    f = detector.analyze(open_media(_wav(tmp_path / "tts.wav", padded)))
    assert f.status is FindingStatus.SCORED and f.signal is Signal.ML
    # espeak-ng is formant synthesis: nothing about it is natural speech
    assert f.probability_fake > 0.5, f
    assert len(f.timeline) >= 2
    # timeline spans are in the padded recording's time: no window starts in the leading second of silence
    assert all(0.9 <= p.start_s < p.end_s <= len(padded) / SR for p in f.timeline)
    ev = {e.label: e.value for e in f.evidence}
    assert ev["windows"] == len(f.timeline)
    assert ev["speech_s"] < len(padded) / SR - 2.5  # silence was removed before scoring


@needs_espeak
@needs_pyworld
def test_world_resynthesis_scored_synthetic(tmp_path, detector, tts):
    y = tv.world_resynthesis(tts)
    f = detector.analyze(open_media(_wav(tmp_path / "world.wav", y)))
    assert f.status is FindingStatus.SCORED
    assert f.probability_fake > 0.5, f


@needs_pyworld
@pytest.mark.skipif(not (SHARED / "data/speech/librispeech").is_dir(), reason="../shared absent")
def test_world_copy_synthesis_scores_above_its_source(tmp_path, detector):
    """Held-out speaker (id % 5 == 0, never trained on): the vocoded copy scores higher than the original."""
    src = next(p for p in sorted((SHARED / "data/speech/librispeech").glob("*.flac")) if int(p.stem.split("-")[0]) % 5 == 0)
    x = open_media(src).audio()
    real = detector.analyze(open_media(src))
    fake = detector.analyze(open_media(_wav(tmp_path / "w.wav", tv.world_resynthesis(np.asarray(x)))))
    assert real.status is fake.status is FindingStatus.SCORED
    assert fake.probability_fake > real.probability_fake
    assert real.probability_fake < 0.5


@needs_espeak
def test_scan_reports_voice_on_video_audio(tmp_path, tts):
    """The real scan on a video whose audio track is TTS (AAC, 48 kHz stereo): the voice finding is scored."""
    path = tv.make_video_with_speech(tmp_path / "v.mp4", tts)
    item = open_media(path)
    assert item.kind is MediaKind.VIDEO and item.info.has_audio
    report = unmask.scan(path, options=ScanOptions(detectors=("voice",)))
    f = next(f for f in report.findings if f.detector == "voice")
    assert f.status is FindingStatus.SCORED and f.probability_fake > 0.5


@needs_espeak
def test_scan_end_to_end(tmp_path, tts):
    path = _wav(tmp_path / "call.wav", tts)
    report = unmask.scan(path, options=ScanOptions(detectors=("voice",)))
    f = next(f for f in report.findings if f.detector == "voice")
    assert f.status is FindingStatus.SCORED and f.probability_fake > 0.5
    d = report.to_dict()
    assert d["findings"][0]["timeline"] and json.dumps(d)


@needs_espeak
def test_listen_streams_one_line_per_window(tts):
    x = np.concatenate([tts, np.zeros(5 * SR, np.float32)])
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="PCM_16")
    buf.seek(0)
    lines = list(V.listen(buf, window_s=4.0, hop_s=2.0))
    n_s = len(x) / SR
    assert len(lines) == int((n_s - 4.0) // 2.0) + 1 + (1 if (n_s - 4.0) % 2.0 >= 1.0 else 0)
    assert [ln["start_s"] for ln in lines[:3]] == [0.0, 2.0, 4.0]
    assert lines[0]["speech"] and 0 <= lines[0]["probability_fake"] <= 1
    assert not lines[-1]["speech"] and "probability_fake" not in lines[-1]  # the last window lies in the trailing 5 s of silence
    assert all(ln["latency_ms"] >= 0 for ln in lines)
    # raw PCM at 8 kHz stereo is read, resampled and scored the same way
    x8 = tv.resample(tts, SR, 8000)
    raw = io.BytesIO((np.repeat(x8[:, None], 2, axis=1) * 32767).astype("<i2").tobytes())
    raw_lines = list(V.listen(raw, sample_rate_hz=8000, channels=2))
    assert raw_lines and raw_lines[0]["speech"]


def test_unknown_model_spec():
    from unmask.errors import UsageError

    with pytest.raises(UsageError, match="unknown voice model"):
        V.load_model("wavlm:x")


@needs_torch
@pytest.mark.skipif(not (SHARED / "models/aasist/AASIST-L.pth").is_file(), reason="../shared/models/aasist absent")
@pytest.mark.parametrize("variant", ["AASIST", "AASIST-L"])
def test_aasist_checkpoint_loads_and_separates_asvspoof(variant):
    """The published checkpoints load strictly and separate the ASVspoof 2019 files they were trained for."""
    from unmask.detectors.aasist import AasistModel, repeat_pad

    m = AasistModel(SHARED / f"models/aasist/{variant}.pth")
    assert m.variant == variant
    dev = SHARED / "data/dev/audio"
    bona = open_media(dev / "real/asv19__database__ASVspoof2019_LA_train__flac__LA_T_1272637.flac").audio()
    spoof = open_media(dev / "fake/asv19__database__ASVspoof2019_LA_eval__flac__LA_E_6163791.flac").audio()
    lb, ls = m.window_logits([repeat_pad(bona), repeat_pad(spoof)])
    # index 1 = bona fide in the original: our logit (spoof - bona fide) is negative for bona fide
    assert lb < 0 < ls
    assert len(repeat_pad(np.ones(1000, np.float32))) == 64_600


@needs_torch
@pytest.mark.skipif(not (SHARED / "models/aasist/AASIST-L.pth").is_file(), reason="../shared/models/aasist absent")
def test_scan_with_aasist_model(tmp_path):
    path = SHARED / "data/dev/audio/fake/asv19__database__ASVspoof2019_LA_eval__flac__LA_E_6163791.flac"
    opts = ScanOptions(detectors=("voice",), voice_model=f"aasist:{SHARED / 'models/aasist/AASIST-L.pth'}")
    f = next(f for f in unmask.scan(path, options=opts).findings if f.detector == "voice")
    assert f.status is FindingStatus.SCORED and f.version.endswith("+aasist-l")
    assert f.probability_fake > 0.5
