"""Waveform → speech: voice-activity detection, silence trimming, windows and features.

Everything here works on 16 kHz mono float32 arrays (what ``MediaItem.audio()``
returns) with numpy only, so the voice detector, the trainers and the streaming
listener share one front end. Nothing here imports onnxruntime, torch or PyAV.

- ``vad``       energy + voicing voice-activity detection, music/noise rejection, speech windows
- ``features``  LFCC features the ``voice`` model reads; polyphase resampling
"""

from unmask.audio.features import lfcc, normalise_level, resample
from unmask.audio.vad import SAMPLE_RATE_HZ, SpeechActivity, SpeechWindow, detect_speech, speech_windows, trim_silence

__all__ = ["SAMPLE_RATE_HZ", "SpeechActivity", "SpeechWindow", "detect_speech", "lfcc", "normalise_level", "resample", "speech_windows", "trim_silence"]
