"""Speech, spoofs and degradations for tests, training and benchmarks of the voice detector.

Makers
------
- ``espeak``            espeak-ng formant TTS (Debian package ``espeak-ng``) → 16 kHz float32
- ``world_resynthesis`` WORLD vocoder copy-synthesis (``pyworld``, train extra)
- ``music`` / ``noise`` non-speech inputs the VAD must reject

Degradations (applied identically to real and fake training audio, and used to
measure false positives after a channel): ``codec_roundtrip`` (MP3, Opus, AAC via
PyAV), ``telephone``, ``add_noise``, ``add_reverb``, ``resample_roundtrip``.

All functions take and return 16 kHz mono float32 arrays.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import types

import numpy as np

from unmask.audio.features import resample
from unmask.testing.media import encode_audio

SAMPLE_RATE_HZ = 16_000

SENTENCES = (
    "Please transfer two million Hong Kong dollars to the supplier account before noon today.",
    "This is your chief executive speaking, the acquisition must stay confidential.",
    "I am calling from the bank about a suspicious payment on your card.",
    "The quarterly results will be published next Thursday after the board meeting.",
    "Could you confirm the wire details and send me the reference number by email?",
    "We need the funds released immediately, I will sign the paperwork tomorrow.",
    "The weather in the mountains changed quickly, and the climbers turned back.",
    "She opened the window and listened to the rain falling on the garden.",
    "My grandmother always said that patience is the most underrated virtue.",
    "The train to the airport leaves from platform four every twenty minutes.",
    "Thank you for calling, all of our agents are busy helping other customers.",
    "He read the letter twice before folding it carefully into his pocket.",
    "A large crowd gathered outside the museum to watch the opening ceremony.",
    "If the results hold up, the new treatment could help thousands of patients.",
    "Remember to lock the back door and feed the cat before you leave.",
    "The committee rejected the proposal after a long and heated debate.",
)

ESPEAK_VOICES = ("en-us", "en-gb", "en-us+m3", "en-gb+f2", "en-us+f4", "en-gb-x-rp", "en-029", "en-gb-scotland")


def _espeak_exe() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    return exe


def espeak_ipa(text: str, *, voice: str = "en-us") -> str:
    """espeak-ng's IPA transcription of ``text`` (stress marks, one line per clause), as Piper TTS phonemises."""
    return subprocess.run([_espeak_exe(), "-q", "-v", voice, "--ipa"], input=text, check=True, capture_output=True, text=True, timeout=60).stdout


def espeak(text: str, *, voice: str = "en-us", speed_wpm: int = 160, pitch: int = 50) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng and return 16 kHz mono float32.

    Raises
    ------
    FileNotFoundError
        espeak-ng is not installed.
    """
    exe = _espeak_exe()
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "tts.wav")
        subprocess.run([exe, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", out, text], check=True, capture_output=True, timeout=60)
        x, sr = sf.read(out, dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), sr, SAMPLE_RATE_HZ)


def _import_pyworld():
    # pyworld 0.3.x imports pkg_resources only to read its own version; setuptools >= 81
    # no longer ships it, so stand in a stub rather than pin an old setuptools.
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            stub = types.ModuleType("pkg_resources")

            class _Dist:
                version = "unknown"

            stub.get_distribution = lambda name: _Dist()  # type: ignore[attr-defined]
            sys.modules["pkg_resources"] = stub
    import pyworld

    return pyworld


def world_resynthesis(
    x: np.ndarray, *, frame_period_ms: float = 5.0, f0_method: str = "dio", coded_dims: int | None = None, f0_scale: float = 1.0
) -> np.ndarray:
    """WORLD analysis → (optionally coded) synthesis of 16 kHz speech: a DSP vocoder spoof.

    ``coded_dims`` squeezes the spectral envelope through ``code_spectral_envelope``
    (as statistical parametric TTS does); ``f0_scale`` shifts the pitch.
    """
    pw = _import_pyworld()
    xd = np.asarray(x, dtype=np.float64)
    if f0_method == "harvest":
        f0, t = pw.harvest(xd, SAMPLE_RATE_HZ, frame_period=frame_period_ms)
    else:
        f0, t = pw.dio(xd, SAMPLE_RATE_HZ, frame_period=frame_period_ms)
        f0 = pw.stonemask(xd, f0, t, SAMPLE_RATE_HZ)
    sp = pw.cheaptrick(xd, f0, t, SAMPLE_RATE_HZ)
    ap = pw.d4c(xd, f0, t, SAMPLE_RATE_HZ)
    if coded_dims:
        fft = pw.get_cheaptrick_fft_size(SAMPLE_RATE_HZ)
        sp = pw.decode_spectral_envelope(np.ascontiguousarray(pw.code_spectral_envelope(sp, SAMPLE_RATE_HZ, coded_dims)), SAMPLE_RATE_HZ, fft)
        ap = pw.decode_aperiodicity(np.ascontiguousarray(pw.code_aperiodicity(ap, SAMPLE_RATE_HZ)), SAMPLE_RATE_HZ, fft)
    y = pw.synthesize(f0 * f0_scale, sp, ap, SAMPLE_RATE_HZ, frame_period_ms)
    return _fit(y, len(x))


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)[:n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


def music(seconds: float = 4.0, *, seed: int = 0) -> np.ndarray:
    """Synthetic piano-like music: held chords of harmonic notes with decaying envelopes."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE_HZ)
    t = np.arange(n) / SAMPLE_RATE_HZ
    y = np.zeros(n)
    note_s = 0.5
    for start in np.arange(0, seconds, note_s):
        root = 48 + int(rng.integers(0, 12))
        for semi in (0, 4, 7):
            f = 440.0 * 2 ** ((root + semi - 69) / 12)
            a, b = int(start * SAMPLE_RATE_HZ), min(n, int((start + note_s) * SAMPLE_RATE_HZ))
            tt = t[a:b] - start
            env = np.exp(-tt * 3.0) * np.minimum(1.0, tt / 0.01)
            y[a:b] += sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, 6)) * env
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def noise(seconds: float = 4.0, *, colour: str = "white", level_dbfs: float = -20.0, seed: int = 0) -> np.ndarray:
    """Stationary white or pink noise at an RMS level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE_HZ)
    w = rng.standard_normal(n)
    if colour == "pink":
        spec = np.fft.rfft(w)
        spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
        w = np.fft.irfft(spec, n)
    w *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(w**2))
    return w.astype(np.float32)


# --------------------------------------------------------------------------------------------
# channel degradations

_CODECS = {
    # name: (container, encoder, sample rate the encoder runs at)
    "mp3": ("mp3", "libmp3lame", 16_000),
    "opus": ("ogg", "libopus", 16_000),
    "aac": ("adts", "aac", 16_000),
}


def codec_roundtrip(x: np.ndarray, codec: str = "mp3", bitrate_kbps: int = 64) -> np.ndarray:
    """Encode with a lossy codec in memory (PyAV) and decode back to 16 kHz float32 of the same length."""
    import av

    container, encoder, rate = _CODECS[codec]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        st = out.add_stream(encoder, rate=rate)
        st.bit_rate = int(bitrate_kbps * 1000)
        st.layout = "mono"
        pcm = np.clip(np.asarray(x, dtype=np.float32), -1, 1)
        frame_len = 4096
        for a in range(0, len(pcm), frame_len):
            fr = av.AudioFrame.from_ndarray(pcm[None, a : a + frame_len].copy(), format="flt", layout="mono")
            fr.sample_rate = rate
            for p in st.encode(fr):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as inp:
        res = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
        for fr in inp.decode(audio=0):
            for r in res.resample(fr):
                chunks.append(r.to_ndarray().reshape(-1))
        for r in res.resample(None):
            chunks.append(r.to_ndarray().reshape(-1))
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    # encoders add priming samples at the start; align by cross-correlation over the first 0.1 s
    lag = _lag(x, y)
    return _fit(y[lag:], len(x))


def _lag(x: np.ndarray, y: np.ndarray, max_lag: int = 2400) -> int:
    n = min(len(x), len(y) - max_lag, 32000)
    if n <= 1000:
        return 0
    xs = x[:n]
    c = [float(np.dot(xs, y[k : k + n])) for k in range(0, max_lag, 8)]
    k0 = int(np.argmax(c)) * 8
    best = max(range(max(0, k0 - 8), k0 + 9), key=lambda k: float(np.dot(xs, y[k : k + n])))
    return best


def telephone(x: np.ndarray, *, mu_law: bool = True) -> np.ndarray:
    """Narrowband telephone channel: 300-3400 Hz, 8 kHz, 8-bit mu-law (G.711), back to 16 kHz."""
    from scipy.signal import butter, sosfilt

    y = resample(x, SAMPLE_RATE_HZ, 8000)
    y = sosfilt(butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos"), y)
    if mu_law:
        mu = 255.0
        c = np.sign(y) * np.log1p(mu * np.minimum(np.abs(y), 1.0)) / np.log1p(mu)
        c = np.round(c * 127) / 127
        y = np.sign(c) * ((1 + mu) ** np.abs(c) - 1) / mu
    return _fit(resample(y.astype(np.float32), 8000, SAMPLE_RATE_HZ), len(x))


# The fixed channels the voice issue names for false positives on real speech (clean, MP3 64 kbit/s, telephone band):
# the trainer sets its threshold on them and the bench reports them.
EVAL_CHANNELS = {
    "clean": lambda x: x,
    "mp3-64k": lambda x: codec_roundtrip(x, "mp3", 64),
    "telephone": telephone,
}


def resample_roundtrip(x: np.ndarray, via_hz: int) -> np.ndarray:
    return _fit(resample(resample(x, SAMPLE_RATE_HZ, via_hz), via_hz, SAMPLE_RATE_HZ), len(x))


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    colour = "pink" if rng.random() < 0.5 else "white"
    n = noise(len(x) / SAMPLE_RATE_HZ + 0.01, colour=colour, seed=int(rng.integers(1 << 30)))[: len(x)]
    p_sig = np.mean(np.asarray(x, np.float64) ** 2) + 1e-12
    n = n * np.sqrt(p_sig / (np.mean(n.astype(np.float64) ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return (x + n).astype(np.float32)


def add_reverb(x: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: exponentially decaying noise after a direct path."""
    from scipy.signal import fftconvolve

    n = int(rt60_s * SAMPLE_RATE_HZ)
    t = np.arange(n) / SAMPLE_RATE_HZ
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 0.3
    ir[0] = 1.0
    y = fftconvolve(x, ir)[: len(x)]
    return (y * np.sqrt(np.mean(x**2) / (np.mean(y**2) + 1e-12))).astype(np.float32)


def random_channel(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One random chain of degradations (possibly none); returns the audio and a description."""
    steps = []
    y = np.asarray(x, dtype=np.float32)
    if rng.random() < 0.2:
        rt = float(rng.uniform(0.15, 0.6))
        y = add_reverb(y, rt, rng)
        steps.append(f"reverb{rt:.2f}s")
    if rng.random() < 0.3:
        snr = float(rng.uniform(10, 35))
        y = add_noise(y, snr, rng)
        steps.append(f"noise{snr:.0f}dB")
    if rng.random() < 0.15:
        via = int(rng.choice([8000, 11025, 22050, 44100]))
        y = resample_roundtrip(y, via)
        steps.append(f"resample{via}")
    r = rng.random()
    if r < 0.2:
        kb = int(rng.choice([32, 48, 64, 96, 128]))
        y = codec_roundtrip(y, "mp3", kb)
        steps.append(f"mp3-{kb}k")
    elif r < 0.32:
        kb = int(rng.choice([12, 16, 24, 32]))
        y = codec_roundtrip(y, "opus", kb)
        steps.append(f"opus-{kb}k")
    elif r < 0.44:
        kb = int(rng.choice([32, 48, 64, 96]))
        y = codec_roundtrip(y, "aac", kb)
        steps.append(f"aac-{kb}k")
    elif r < 0.56:
        y = telephone(y, mu_law=bool(rng.random() < 0.7))
        steps.append("telephone")
    gain_db = float(rng.uniform(-20, 3))
    y = y * 10 ** (gain_db / 20)
    return np.clip(y, -1, 1).astype(np.float32), "+".join(steps) or "clean"


def make_video_with_speech(path: str | os.PathLike[str], speech: np.ndarray, *, fps: int = 10, size: tuple[int, int] = (64, 48)) -> str:
    """An MP4 (H.264 + AAC 48 kHz stereo) whose audio track is ``speech`` (16 kHz mono) and whose frames are flat grey."""
    import av

    audio = resample(speech, SAMPLE_RATE_HZ, 48_000)
    seconds = len(audio) / 48_000
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        aus = out.add_stream("aac", rate=48_000)
        aus.layout = "stereo"
        frame = np.full((size[1], size[0], 3), 128, np.uint8)
        for i in range(int(seconds * fps) + 1):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        encode_audio(out, aus, np.repeat(np.clip(audio, -1, 1)[:, None], 2, axis=1).astype(np.float32), 48_000)
    return str(path)
