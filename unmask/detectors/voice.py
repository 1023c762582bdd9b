"""Cloned / synthetic voice detector: VAD → silence trimmed → windowed scores → timeline.

Pipeline (``VoiceDetector.analyze``):

1. ``item.audio()``: 16 kHz mono float32 (a recording, or a video's audio track).
2. ``item.speech()`` (``unmask.audio.detect_speech``, cached on the item for lip-sync): energy + voicing VAD. No speech (silence,
   stationary noise, music, too little activity) → ``not_applicable("no-speech")``,
   never a score. Silence is removed before scoring because public spoof corpora
   leak the label through silence length.
3. The speech is level-normalised and cut into 4 s windows every 2 s
   (``WINDOW_S``/``HOP_S``; speech shorter than 4 s gives one shorter window).
4. Each window gets a logit from the model (> 0 = synthetic); the file logit is
   the **mean of the window logits** (every window holds the same amount of speech,
   so this is a duration-weighted average), mapped through the model's Platt
   calibration to ``probability_fake``. The per-window calibrated probabilities
   form ``Finding.timeline`` (spans in the original recording's time), which the
   HTML report draws; the evidence lists the most suspicious window, since a
   spliced recording may be fake in one place only.

Models (``ScanOptions.voice_model``):

- ``None`` / ``"lcnn"`` (``"lfcc-lcnn"`` until 0.4.0): the shipped ONNX model (``weights/voice.onnx``,
  card ``unmask/models/voice.md``): an LCNN on the log spectrum (0.5.0; 0.3.0-0.4.0: the
  mean logit of two LFCC-LCNNs), trained on spoofs made from LibriSpeech (DSP and
  pretrained-vocoder copy-synthesis, espeak, neural TTS);
  each ONNX input names the front end it reads (``unmask.audio.features.FEATURES``:
  LFCC, log spectrum), so the detector computes exactly those; sha256 checked on
  load; onnxruntime only.
- ``"aasist:PATH"``: a published AASIST / AASIST-L checkpoint
  (``unmask.detectors.aasist``; needs torch, the train extra). The windows are the
  published 64,600 samples; probability_fake = softmax(output)[0] because index 1
  is bona fide in the original code.

``listen`` scores a live stream (WAV or raw 16-bit PCM on a binary stream) and
yields one dict per window as audio arrives.

Imports: numpy at module level; onnxruntime inside functions.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from unmask.audio import (
    SpeechActivity,
    detect_speech,
    normalise_level,
    speech_windows,
    trim_silence,
)
from unmask.audio.features import FEATURES
from unmask.core import Evidence, Finding, Signal, TimelinePoint
from unmask.detectors._base import (
    DetectorCard,
    Stopwatch,
    failed,
    not_applicable,
    scored,
)
from unmask.detectors._onnx import load_shipped_model
from unmask.errors import DecodeError, UsageError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WINDOW_S = 4.0  # the training crop length (2-4 s crops; validation scored 4 s windows)
HOP_S = 2.0  # 50 % overlap: every second of speech is in two windows


class ShippedModel:
    """The shipped LCNN ONNX model with its Platt calibration (``weights/voice.json``); reads LFCC and/or the log spectrum."""

    tag = "lcnn"
    aliases = ("lfcc-lcnn",)  # the tag until 0.4.0, when every shipped network read LFCC
    window_s = WINDOW_S
    hop_s = HOP_S

    def __init__(self, weights_dir: Path = WEIGHTS_DIR) -> None:
        # One thread: voice windows are small, and `listen` must not compete with the capture.
        model = load_shipped_model("voice.json", weights_dir=weights_dir, label="voice", threads=1)
        self.session, self.sha256 = model.session, model.sha256
        self.probability = model.probability
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = [n for n in self.inputs if n not in FEATURES]
        if unknown:
            raise UsageError(f"voice model reads unknown features {unknown}", hint=f"known front ends: {sorted(FEATURES)}")

    def window_logits(self, windows: list[np.ndarray]) -> np.ndarray:
        """Raw logits (> 0 = synthetic) of level-normalised 16 kHz windows."""
        feats = [{n: FEATURES[n][0](w) for n in self.inputs} for w in windows]
        out = np.zeros(len(feats))
        by_len: dict[int, list[int]] = {}
        for i, f in enumerate(feats):
            by_len.setdefault(len(f[self.inputs[0]]), []).append(i)
        for idx in by_len.values():  # one run per window length: all full windows go in one batch
            batch = {n: np.stack([feats[i][n] for i in idx]) for n in self.inputs}
            out[idx] = self.session.run(None, batch)[0].reshape(-1)
        return out


def load_model(spec: str | None):
    """``None``/``"lcnn"`` → shipped model; ``"aasist:PATH"`` → published AASIST checkpoint."""
    if spec in (None, "", "default", ShippedModel.tag, *ShippedModel.aliases):
        return ShippedModel()
    kind, _, path = spec.partition(":")
    if kind == "aasist" and path:
        from unmask.detectors.aasist import AasistModel

        return AasistModel(path)
    raise UsageError(f"unknown voice model {spec!r}", hint="use 'lcnn' (the default) or 'aasist:PATH/TO/AASIST.pth'")


def _level_gain(activity: SpeechActivity, x: np.ndarray) -> float:
    """One gain for the whole recording so windows keep their relative loudness."""
    speech = trim_silence(x, activity)
    y = normalise_level(speech)
    ref = float(np.max(np.abs(speech))) if len(speech) else 0.0
    return float(np.max(np.abs(y)) / ref) if ref > 0 else 1.0


class VoiceDetector:
    def __init__(self, card: DetectorCard, options: "ScanOptions") -> None:
        self.card = card
        self.spec = getattr(options, "voice_model", None)
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.spec)
        return self._model

    def analyze(self, item: "MediaItem") -> Finding:
        watch = Stopwatch()
        try:
            with watch.stage("decode"):
                x = item.audio()
        except DecodeError as exc:
            return not_applicable(self.card, "no-audio", f"No audio to analyse: {exc}", timings_ms=watch.timings_ms)
        with watch.stage("vad"):
            activity = item.speech()
        if not activity.has_speech:
            return not_applicable(
                self.card,
                "no-speech",
                f"No speech found ({_REASONS.get(activity.reason or '', activity.reason)}), so the voice was not scored.",
                evidence=(Evidence("duration_s", round(activity.duration_s, 2)), Evidence("vad_reason", activity.reason)),
                timings_ms=watch.timings_ms,
            )
        try:
            model = self.model
        except (OSError, ValueError, RuntimeError, ImportError) as exc:
            return failed(self.card, f"voice model could not be loaded ({exc})")
        with watch.stage("score"):
            finding = score_recording(self.card, model, x, activity)
        return _with_timings(finding, watch.timings_ms)


_REASONS = {
    "silence": "the recording is silent",
    "stationary-noise": "only steady noise",
    "too-little-activity": "less than half a second of sound above the noise floor",
    "unvoiced": "sound, but almost none of it voiced like speech",
    "music": "held musical pitches rather than speech",
}


def _with_timings(finding: Finding, timings_ms: dict[str, float]) -> Finding:
    return replace(finding, timings_ms=dict(timings_ms))


def score_recording(card: DetectorCard, model, x: np.ndarray, activity: SpeechActivity) -> Finding:
    """Score the speech of one recording with ``model``; returns the scored finding."""
    gain = _level_gain(activity, x)
    wins = speech_windows(x, activity, window_s=model.window_s, hop_s=model.hop_s)
    samples = [np.clip(w.samples * gain, -4.0, 4.0).astype(np.float32) for w in wins]
    logits = model.window_logits(samples)
    probs = model.probability(logits)
    p_file = float(model.probability(float(np.mean(logits))))
    timeline = tuple(TimelinePoint(round(w.start_s, 3), round(w.end_s, 3), float(np.clip(p, 0.0, 1.0))) for w, p in zip(wins, probs))
    worst = int(np.argmax(probs))
    share = float(np.mean(probs >= 0.5))
    if p_file >= 0.5:
        summary = f"The voice has traces of speech synthesis: {share:.0%} of {len(wins)} speech windows score as synthetic."
    else:
        summary = f"The voice shows no clear traces of speech synthesis ({share:.0%} of {len(wins)} speech windows score as synthetic)."
    version = card.version if model.tag == ShippedModel.tag else f"{card.version}+{model.tag}"
    finding = scored(
        card,
        min(1.0, max(0.0, p_file)),
        summary,
        signal=Signal.ML,
        evidence=(
            Evidence("model", model.tag, note=f"weights sha256 {model.sha256[:16]}"),
            Evidence("speech_s", round(activity.speech_s, 2), note=f"of {activity.duration_s:.2f} s; silence removed before scoring"),
            Evidence("windows", len(wins), note=f"{model.window_s:g} s every {model.hop_s:g} s of speech; file score = mean window logit"),
            Evidence("most_synthetic_window_s", [round(wins[worst].start_s, 2), round(wins[worst].end_s, 2)], note=f"P(synthetic) {probs[worst]:.2f}"),
            Evidence("windows_flagged", round(share, 3), note="share of windows with P(synthetic) >= 0.5"),
            Evidence("voiced_fraction", round(activity.voiced_fraction, 3)),
        ),
        timeline=timeline,
    )
    return replace(finding, version=version) if version != card.version else finding


def create(card: DetectorCard, options: "ScanOptions") -> VoiceDetector:
    return VoiceDetector(card, options)


# ----------------------------------------------------------------------------- streaming


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def _wav_header(stream: BinaryIO, first: bytes) -> tuple[int, int, int, str]:
    """Parse a RIFF/WAVE header (already read: the first 12 bytes); returns (rate, channels, bytes per sample, dtype)."""
    rate, channels, bits, fmt_tag = 16000, 1, 16, 1
    while True:
        head = _read_exact(stream, 8)
        if len(head) < 8:
            raise DecodeError("WAV stream ended before its data chunk")
        cid, size = head[:4], struct.unpack("<I", head[4:])[0]
        if cid == b"data":
            break
        body = _read_exact(stream, size + (size & 1))
        if cid == b"fmt ":
            fmt_tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if fmt_tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: real tag in the sub-format GUID
                fmt_tag = struct.unpack("<H", body[24:26])[0]
    if fmt_tag == 3 and bits == 32:
        return rate, channels, 4, "<f4"
    if fmt_tag == 1 and bits == 16:
        return rate, channels, 2, "<i2"
    raise DecodeError(f"WAV stream is format {fmt_tag} with {bits}-bit samples; send 16-bit PCM or 32-bit float")


def listen(
    stream: BinaryIO,
    *,
    model=None,
    sample_rate_hz: int = 16000,
    channels: int = 1,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
) -> Iterator[dict]:
    """Score a live stream window by window.

    Parameters
    ----------
    stream : binary file object
        A WAV stream (header parsed; 16-bit PCM or 32-bit float, any rate) or, if it
        does not start with ``RIFF``, raw signed 16-bit little-endian PCM at
        ``sample_rate_hz`` with ``channels`` interleaved channels.
    model : optional
        A loaded voice model; default the shipped one.
    window_s, hop_s : float
        Every ``hop_s`` of new audio, the last ``window_s`` are scored.

    Yields
    ------
    dict
        ``{"start_s", "end_s", "speech": bool, "probability_fake" (if speech),
        "speech_s", "latency_ms"}``; ``latency_ms`` is the processing time from the
        window's last sample arriving to the result (the window itself adds
        ``window_s`` of algorithmic delay).
    """
    model = model or ShippedModel()
    first = _read_exact(stream, 12)
    dtype, width = "<i2", 2
    if first[:4] == b"RIFF" and first[8:12] == b"WAVE":
        sample_rate_hz, channels, width, dtype = _wav_header(stream, first)
        pending = b""
    else:
        pending = first
    from unmask.audio.features import resample

    win, hop = int(window_s * 16000), int(hop_s * 16000)
    block_in = max(1, int(hop_s * sample_rate_hz)) * channels * width
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # 16 kHz sample index of buf[0] in the stream
    next_end = win  # end of the next window to score
    while True:
        data = pending + _read_exact(stream, block_in - len(pending))
        pending = b""
        eof = len(data) < block_in
        usable = len(data) - len(data) % (channels * width)
        if usable:
            x = np.frombuffer(data[:usable], dtype=dtype).astype(np.float32)
            if dtype == "<i2":
                x /= 32768.0
            x = x.reshape(-1, channels).mean(axis=1)
            buf = np.concatenate([buf, resample(x, sample_rate_hz, 16000)])
        arrived = time.perf_counter()
        while buf_start + len(buf) >= next_end:
            a = next_end - win - buf_start
            yield _score_stream_window(model, buf[a : a + win], (next_end - win) / 16000, arrived)
            next_end += hop
            # keep one window of history for the tail window at end of stream
            drop = max(0, next_end - 2 * win - buf_start)
            buf, buf_start = buf[drop:], buf_start + drop
        if eof:
            end = buf_start + len(buf)
            last_end = next_end - hop if next_end > win else 0
            # score what arrived after the last full window if it is at least half a hop
            if end - last_end >= hop // 2 and end > 0:
                a = max(0, end - win - buf_start)
                yield _score_stream_window(model, buf[a:], (buf_start + a) / 16000, arrived)
            return


def _score_stream_window(model, seg: np.ndarray, start_s: float, arrived: float) -> dict:
    act = detect_speech(seg)
    out: dict = {"start_s": round(start_s, 3), "end_s": round(start_s + len(seg) / 16000, 3), "speech": act.has_speech}
    if act.has_speech:
        logit = float(model.window_logits([normalise_level(trim_silence(seg, act))])[0])
        out["probability_fake"] = round(float(model.probability(logit)), 4)
        out["speech_s"] = round(act.speech_s, 2)
    else:
        out["reason"] = act.reason
    out["latency_ms"] = round((time.perf_counter() - arrived) * 1000, 1)
    return out

