"""Robustness perturbations: re-encode one file the way it would be degraded in the wild.

Each perturbation writes a new file into a folder the caller owns (usually a
temporary one) and never touches the original. A perturbation applies to some
media kinds only (JPEG to images, H.264 to video, MP3 to audio); the runner
skips the others and reports how many it skipped.

Spec syntax (``--perturb``), comma-separated::

    jpeg:75      JPEG at quality 75                                (images)
    resize:0.5   rescale both sides by 0.5 (bicubic), saved as PNG  (images)
    h264:crf28   H.264 (libx264) at CRF 28, audio to AAC 128k       (video)
    mp3:64k      MP3 at 64 kbit/s, mono                            (audio)
    opus:16k     Opus at 16 kbit/s, mono 48 kHz, in Ogg            (audio)
    tel8k        telephone band: 8 kHz, 300–3400 Hz, G.711 µ-law    (audio)

PyAV is imported inside the functions that need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unmask.core import MediaKind
from unmask.errors import DecodeError, UsageError

_IMAGE = frozenset({MediaKind.IMAGE})
_VIDEO = frozenset({MediaKind.VIDEO})
_AUDIO = frozenset({MediaKind.AUDIO})
# G.711 passes 300–3400 Hz (ITU-T G.712); narrow-band codecs and phone lines cut the rest.
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_RATE_HZ = 8000
OPUS_RATE_HZ = 48000  # libopus only encodes 8/12/16/24/48 kHz; 48 kHz is what apps send


@dataclass(frozen=True, slots=True)
class Perturbation:
    """One parsed ``--perturb`` entry, e.g. ``Perturbation("jpeg:75", "jpeg", 75.0)``."""

    name: str  # the spec as written: "jpeg:75"; used in cache keys and file names
    codec: str  # "jpeg" | "resize" | "h264" | "mp3" | "opus" | "tel8k"
    value: float | None = None  # quality, scale, CRF or kbit/s
    kinds: frozenset[MediaKind] = frozenset()

    def applies_to(self, kind: MediaKind) -> bool:
        return kind in self.kinds

    @property
    def slug(self) -> str:
        """File-name-safe form: "jpeg-75"."""
        return re.sub(r"[^A-Za-z0-9.]+", "-", self.name)


def _number(spec: str, text: str, unit: str = "") -> float:
    m = re.fullmatch(rf"(\d+(?:\.\d+)?){unit}", text.strip().lower())
    if not m:
        raise UsageError(f"bad perturbation {spec!r}", hint=_HINT)
    return float(m.group(1))


_HINT = "write e.g. jpeg:75,resize:0.5,h264:crf28,mp3:64k,opus:16k,tel8k"


def parse_perturbation(spec: str) -> Perturbation:
    """Parse one entry such as ``jpeg:75`` or ``tel8k``; raises ``UsageError`` with the accepted forms."""
    spec = spec.strip()
    codec, _, arg = spec.partition(":")
    codec = codec.lower()
    if codec == "jpeg":
        q = _number(spec, arg)
        if not 1 <= q <= 100:
            raise UsageError(f"JPEG quality must be 1–100, got {q:g}", hint=_HINT)
        return Perturbation(spec, "jpeg", q, _IMAGE)
    if codec == "resize":
        f = _number(spec, arg)
        if not 0.05 <= f <= 4:
            raise UsageError(f"resize factor must be between 0.05 and 4, got {f:g}", hint=_HINT)
        return Perturbation(spec, "resize", f, _IMAGE)
    if codec == "h264":
        crf = _number(spec, arg.lower().removeprefix("crf"))
        if not 0 <= crf <= 51:
            raise UsageError(f"H.264 CRF must be 0–51, got {crf:g}", hint=_HINT)
        return Perturbation(spec, "h264", crf, _VIDEO)
    if codec in ("mp3", "opus"):
        kbps = _number(spec, arg, "k?")
        if not 6 <= kbps <= 320:
            raise UsageError(f"{codec} bitrate must be 6–320 kbit/s, got {kbps:g}", hint=_HINT)
        return Perturbation(spec, codec, kbps, _AUDIO)
    if codec == "tel8k" and not arg:
        return Perturbation(spec, "tel8k", None, _AUDIO)
    raise UsageError(f"unknown perturbation {spec!r}", hint=_HINT)


def parse_perturbations(specs: str | None) -> tuple[Perturbation, ...]:
    """Parse a comma-separated ``--perturb`` value; None or "" gives ()."""
    if not specs:
        return ()
    out = tuple(parse_perturbation(s) for s in specs.split(",") if s.strip())
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise UsageError(f"perturbation listed twice in {specs!r}")
    return out


def apply_perturbation(perturbation: Perturbation, source: Path, kind: MediaKind, out_dir: Path) -> Path:
    """Write ``source`` re-encoded by ``perturbation`` into ``out_dir`` and return the new path.

    Raises ``ValueError`` when the perturbation does not apply to ``kind`` and
    ``DecodeError`` when the source cannot be decoded.
    """
    if not perturbation.applies_to(kind):
        raise ValueError(f"{perturbation.name} does not apply to {kind.value} files")
    stem = f"{source.stem}.{perturbation.slug}"
    c = perturbation.codec
    if c == "jpeg":
        return _jpeg(source, out_dir / f"{stem}.jpg", int(perturbation.value or 75))
    if c == "resize":
        return _resize(source, out_dir / f"{stem}.png", float(perturbation.value or 0.5))
    if c == "h264":
        return _h264(source, out_dir / f"{stem}.mp4", int(perturbation.value or 23))
    if c == "mp3":
        x, rate = _decode_mono(source, None)
        return _encode_audio(x, rate, out_dir / f"{stem}.mp3", "libmp3lame", int(perturbation.value or 64) * 1000)
    if c == "opus":
        x, rate = _decode_mono(source, OPUS_RATE_HZ)
        return _encode_audio(x, rate, out_dir / f"{stem}.ogg", "libopus", int(perturbation.value or 16) * 1000)
    if c == "tel8k":
        x, rate = _decode_mono(source, TELEPHONE_RATE_HZ)
        x = band_pass(x, rate, *TELEPHONE_BAND_HZ)
        return _encode_audio(x, rate, out_dir / f"{stem}.wav", "pcm_mulaw", None)
    raise AssertionError(c)


# -- images --------------------------------------------------------------------------------------
def _open_rgb(source: Path):  # noqa: ANN202 - PIL type imported lazily
    from PIL import Image, ImageOps

    try:
        with Image.open(source) as im:
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"{source}: cannot decode image for perturbation ({exc})") from exc


def _jpeg(source: Path, dest: Path, quality: int) -> Path:
    # Metadata is dropped on purpose: platforms that recompress also strip it.
    _open_rgb(source).save(dest, "JPEG", quality=quality)
    return dest


def _resize(source: Path, dest: Path, factor: float) -> Path:
    from PIL import Image

    im = _open_rgb(source)
    size = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
    im.resize(size, Image.Resampling.BICUBIC).save(dest, "PNG")
    return dest


# -- video ---------------------------------------------------------------------------------------
def _h264(source: Path, dest: Path, crf: int) -> Path:
    import av

    try:
        with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
            vin = inp.streams.video[0]
            ain = inp.streams.audio[0] if inp.streams.audio else None
            rate = vin.average_rate or vin.guessed_rate or 25
            vout = out.add_stream("libx264", rate=rate)
            # libx264 with yuv420p needs even dimensions.
            vout.width = (vin.codec_context.width // 2) * 2
            vout.height = (vin.codec_context.height // 2) * 2
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": str(crf), "preset": "veryfast"}
            vout.time_base = vin.time_base
            vout.codec_context.time_base = vin.time_base
            aout = None
            resampler = None
            if ain is not None:
                aout = out.add_stream("aac", rate=ain.codec_context.sample_rate or 44100)
                aout.bit_rate = 128_000
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=aout.codec_context.sample_rate)
            streams = [vin] + ([ain] if ain is not None else [])
            for frame in inp.decode(*streams):
                if isinstance(frame, av.VideoFrame):
                    img = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                    # Keep the source timestamps: variable frame rates and gaps must survive.
                    img.pts, img.time_base = frame.pts, vin.time_base
                    out.mux(vout.encode(img))
                elif aout is not None and resampler is not None:
                    frame.pts = None
                    for rf in resampler.resample(frame):
                        out.mux(aout.encode(rf))
            out.mux(vout.encode(None))
            if aout is not None:
                out.mux(aout.encode(None))
    except av.FFmpegError as exc:
        raise DecodeError(f"{source}: cannot re-encode video ({exc})") from exc
    return dest


# -- audio ---------------------------------------------------------------------------------------
def _decode_mono(source: Path, rate_hz: int | None) -> tuple[np.ndarray, int]:
    """Whole first audio track as mono float32 at ``rate_hz`` (None keeps the source rate, capped at 48 kHz)."""
    import av

    try:
        with av.open(str(source)) as inp:
            stream = inp.streams.audio[0]
            src_rate = stream.codec_context.sample_rate or 16000
            rate = rate_hz or min(src_rate, 48000)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = []
            for frame in inp.decode(stream):
                frame.pts = None
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except (av.FFmpegError, IndexError) as exc:
        raise DecodeError(f"{source}: cannot decode audio for perturbation ({exc})") from exc
    x = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return x.astype(np.float32), rate


def band_pass(x: np.ndarray, rate_hz: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero the spectrum outside [low_hz, high_hz] with 50 Hz cosine skirts (one FFT over the whole signal)."""
    if x.size == 0:
        return x
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(x.size, 1.0 / rate_hz)
    skirt = 50.0  # soft edges avoid the ringing a brick-wall mask adds
    gain = np.clip((f - (low_hz - skirt)) / skirt, 0, 1) * np.clip(((high_hz + skirt) - f) / skirt, 0, 1)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spec * gain, n=x.size).astype(np.float32)


def _encode_audio(x: np.ndarray, rate_hz: int, dest: Path, codec: str, bit_rate: int | None) -> Path:
    import av

    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    with av.open(str(dest), "w") as out:
        stream = out.add_stream(codec, rate=rate_hz)
        stream.layout = "mono"
        if bit_rate:
            stream.bit_rate = bit_rate
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=rate_hz)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, x.size, frame_size):
            chunk = x[start : start + frame_size]
            if codec == "libopus" and chunk.size < frame_size:
                # Opus takes whole frames only; pad the tail with silence.
                chunk = np.pad(chunk, (0, frame_size - chunk.size))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate_hz
            for rf in resampler.resample(frame):
                out.mux(stream.encode(rf))
        for rf in resampler.resample(None):
            out.mux(stream.encode(rf))
        out.mux(stream.encode(None))
    return dest
