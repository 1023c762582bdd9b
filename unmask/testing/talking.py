"""Talking-face test media for ``lip-sync``: read any clip raw, write an MP4 with a chosen audio track.

- ``read_clip``        every frame (RGB) + times + fps + 16 kHz mono audio of a file PyAV can open
                       (GRID's MPEG-PS ``.mpg`` included), without ``unmask.media``'s limits
- ``write_clip``       H.264 + AAC MP4 from frames and 16 kHz audio
- ``shift_audio``      the audio delayed (> 0) or advanced (< 0) by some seconds, same length
- ``synthetic_mouth``  frames of a drawn mouth whose opening follows a known envelope, and a
                       voice-like audio track with that envelope (the sync core's ground truth)
- ``grid_words``       the sentence a GRID file name encodes (bbaf2n → "bin blue at f two now")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from unmask.testing.media import encode_audio

SAMPLE_RATE_HZ = 16_000


def read_clip(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], np.ndarray, float, np.ndarray]:
    """``(frames RGB uint8, times_s, fps, audio 16 kHz mono float32)`` of a video with sound."""
    import av

    frames, times = [], []
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        fps = float(vs.average_rate or 25)
        for f in c.decode(vs):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * vs.time_base) if f.pts is not None else len(times) / fps)
    chunks = []
    with av.open(str(path)) as c:
        if c.streams.audio:
            rs = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE_HZ)
            for f in c.decode(c.streams.audio[0]):
                for o in rs.resample(f):
                    chunks.append(o.to_ndarray().reshape(-1))
            for o in rs.resample(None):
                chunks.append(o.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    t = np.asarray(times) - (times[0] if times else 0.0)
    return frames, t, fps, audio


def write_clip(path: str | os.PathLike[str], frames: list[np.ndarray], fps: float, audio: np.ndarray, *, crf: int = 18) -> Path:
    """Encode RGB frames (even width and height) at ``fps`` and 16 kHz mono ``audio`` into an MP4."""
    import av
    from fractions import Fraction

    from unmask.testing.voice import resample

    h, w = frames[0].shape[:2]
    a48 = resample(np.asarray(audio, dtype=np.float32), SAMPLE_RATE_HZ, 48_000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        vs.options = {"crf": str(crf)}
        aus = out.add_stream("aac", rate=48_000)
        aus.layout = "mono"
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2]), format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        encode_audio(out, aus, np.clip(a48, -1, 1).astype(np.float32)[:, None], 48_000)
    return Path(path)


def shift_audio(audio: np.ndarray, seconds: float, *, wrap: bool = True) -> np.ndarray:
    """``audio`` delayed by ``seconds`` (advanced when negative), same length.

    ``wrap`` moves the part pushed off one end to the other (short clips keep their
    speech); otherwise the gap is silence.
    """
    n = int(round(seconds * SAMPLE_RATE_HZ))
    if wrap:
        return np.roll(audio, n)
    out = np.zeros_like(audio)
    if n >= 0:
        out[n:] = audio[: len(audio) - n]
    else:
        out[:n] = audio[-n:]
    return out


_GRID = {
    0: {"b": "bin", "l": "lay", "p": "place", "s": "set"},
    1: {"b": "blue", "g": "green", "r": "red", "w": "white"},
    2: {"a": "at", "b": "by", "i": "in", "w": "with"},
    4: {"z": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine"},
    5: {"a": "again", "n": "now", "p": "please", "s": "soon"},
}


def grid_words(name: str) -> str:
    """The sentence a GRID corpus file name encodes.

    >>> grid_words("bbaf2n.mpg")
    'bin blue at f two now'
    """
    code = Path(name).stem
    return " ".join(code[i] if i == 3 else _GRID[i][code[i]] for i in range(6))


def synthetic_mouth(
    seconds: float = 6.0, *, fps: float = 25.0, size: tuple[int, int] = (96, 96), seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """A drawn mouth opening with a syllable-like envelope, and audio with that envelope.

    Returns ``(frames RGB, frame times_s, audio 16 kHz, points5 (5, 2))``: the five
    points (eyes, nose, mouth corners) where a face detector would put them, so the
    sync core can be run without a detector. Syllables are 120-300 ms bumps at
    random times (3-6 per second); the audio is a buzz (120 Hz pulse train through
    a formant filter) whose loudness follows the envelope.
    """
    rng = np.random.default_rng(seed)
    n_audio = int(seconds * SAMPLE_RATE_HZ)
    t_audio = np.arange(n_audio) / SAMPLE_RATE_HZ
    env = np.zeros(n_audio)
    t = 0.2
    while t < seconds - 0.3:
        dur = rng.uniform(0.12, 0.3)
        amp = rng.uniform(0.4, 1.0)
        sel = (t_audio >= t) & (t_audio < t + dur)
        env[sel] += amp * np.sin(np.pi * (t_audio[sel] - t) / dur) ** 2
        t += dur + rng.uniform(0.03, 0.25)
        if rng.random() < 0.12:
            t += rng.uniform(0.3, 0.6)  # a pause between phrases
    buzz = (np.mod(t_audio * 120.0, 1.0) < 0.05).astype(np.float64) - 0.05
    from scipy.signal import lfilter

    for f_hz, bw in ((700.0, 130.0), (1200.0, 200.0)):
        r = np.exp(-np.pi * bw / SAMPLE_RATE_HZ)
        th = 2 * np.pi * f_hz / SAMPLE_RATE_HZ
        buzz = lfilter([1 - r], [1, -2 * r * np.cos(th), r * r], buzz)
    audio = buzz / (np.abs(buzz).max() + 1e-9) * env * 0.5 + rng.normal(0, 0.002, n_audio)
    w, h = size
    times = np.arange(int(seconds * fps)) / fps
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = w / 2, h * 0.62
    half_w = w * 0.18
    frames = []
    for ft in times:
        # the mouth shows the envelope at the frame's own time (mean over the frame)
        a, b = int(max(0.0, ft - 0.5 / fps) * SAMPLE_RATE_HZ), int(min(seconds, ft + 0.5 / fps) * SAMPLE_RATE_HZ)
        o = float(env[a:b].mean()) if b > a else 0.0
        img = np.full((h, w, 3), (205, 170, 150), np.float64)
        img += rng.normal(0, 2.0, (h, w, 1))
        gap = 1.0 + o * h * 0.12
        inside = ((xx - cx) / half_w) ** 2 + ((yy - cy) / gap) ** 2 <= 1.0
        lips = ((xx - cx) / (half_w + 2)) ** 2 + ((yy - cy) / (gap + 3)) ** 2 <= 1.0
        img[lips] = (160, 60, 70)
        img[inside] = (40, 15, 20)
        for ex in (w * 0.35, w * 0.65):
            img[((xx - ex) / 5) ** 2 + ((yy - h * 0.35) / 3) ** 2 <= 1.0] = (50, 40, 30)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    points5 = np.array([[w * 0.35, h * 0.35], [w * 0.65, h * 0.35], [w / 2, h * 0.48], [cx - half_w, cy], [cx + half_w, cy]])
    return frames, times, audio.astype(np.float32), points5
