"""Makers of real media files, broken ones included, for tests, examples and benchmarks.

Everything here writes genuine files with Pillow, PyAV or soundfile, so a test that
opens them exercises the same decoders a scan uses, and the ground truth (format,
size, duration, sample rate) is known by construction. The corruptors and special
builders produce the malformed inputs ``unmask.media`` must reject with a typed
error: truncated files, flipped bytes, decompression bombs, absurd declared
durations, a broken C2PA (JUMBF) segment and unreadable files.

Nothing here is imported by a scan.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "AUDIO_FORMATS",
    "IMAGE_FORMATS",
    "VIDEO_CONTAINERS",
    "copy_with_suffix",
    "flip_bytes",
    "make_audio",
    "make_flac_absurd_samples",
    "make_image",
    "make_image_declaring_size",
    "make_jpeg_corrupt_c2pa",
    "make_mkv_absurd_duration",
    "make_mp4_absurd_duration",
    "make_png_bomb",
    "make_unreadable",
    "make_video",
    "make_wav_absurd_length",
    "make_wav_header_only",
    "png_chunk",
    "tone",
    "truncate",
    "video_frame",
]

# Pillow format names for the suffixes the makers accept.
IMAGE_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF", "tiff": "TIFF", "bmp": "BMP"}
VIDEO_CONTAINERS = ("mp4", "mov", "mkv", "webm", "avi", "mpeg", "ts")
AUDIO_FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a")

# (video codec, audio codec) per container: the common pairing a phone or browser writes,
# restricted to encoders the PyAV wheels ship (libx264, libvpx, mpeg4, aac, libopus, lame).
_VIDEO_CODECS = {"mp4": ("libx264", "aac"), "mov": ("libx264", "aac"), "mkv": ("libx264", "aac"), "webm": ("libvpx", "libopus"), "avi": ("mpeg4", "libmp3lame"), "mpeg": ("mpeg2video", "mp2"), "ts": ("libx264", "aac")}
_AV_FORMAT = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm", "avi": "avi", "mpeg": "mpeg", "ts": "mpegts", "m4a": "ipod"}


# --------------------------------------------------------------------------------------------
# content


def _picture(width_px: int, height_px: int, seed: int = 0, shift_px: int = 0) -> np.ndarray:
    """A smooth gradient with a moving square and mild noise: compresses like a photo, not like flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height_px, 0:width_px]
    rgb = np.empty((height_px, width_px, 3), dtype=np.float32)
    rgb[..., 0] = 255 * x / max(1, width_px - 1)
    rgb[..., 1] = 255 * y / max(1, height_px - 1)
    rgb[..., 2] = 128
    side = max(2, min(width_px, height_px) // 4)
    x0 = shift_px % max(1, width_px - side)
    rgb[height_px // 3 : height_px // 3 + side, x0 : x0 + side] = (240, 240, 40)
    rgb += rng.normal(0, 6, rgb.shape)
    return rgb.clip(0, 255).astype(np.uint8)


def tone(seconds: float, sample_rate_hz: int, channels: int = 1, *, start_hz: float = 300.0, end_hz: float = 3000.0) -> np.ndarray:
    """A linear chirp at half full scale.

    Returns
    -------
    (samples, channels) float32 ndarray in [-0.5, 0.5]
        ``samples = round(seconds * sample_rate_hz)``; channel ``c`` is delayed by ``c`` samples
        so stereo is not trivially mono.
    """
    n = round(seconds * sample_rate_hz)
    t = np.arange(n + channels, dtype=np.float64) / sample_rate_hz
    sweep = start_hz + (end_hz - start_hz) * t / (2 * max(seconds, 1e-9))
    mono = 0.5 * np.sin(2 * np.pi * sweep * t)
    return np.stack([mono[c : c + n] for c in range(channels)], axis=1).astype(np.float32)


# --------------------------------------------------------------------------------------------
# well-formed media


def make_image(path: str | os.PathLike[str], fmt: str = "png", size: tuple[int, int] = (64, 48), *, seed: int = 0) -> Path:
    """Write a photo-like image.

    Parameters
    ----------
    path : path
        Where to write; the suffix is not consulted (tests name files wrongly on purpose).
    fmt : {"jpeg", "png", "webp", "gif", "tiff", "bmp"}, default="png"
    size : (width_px, height_px), default=(64, 48)
    seed : int, default=0
        Seed of the noise, so two images can differ.
    """
    path = Path(path)
    from PIL import Image

    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"fmt must be one of {sorted(IMAGE_FORMATS)}, got {fmt!r}")
    im = Image.fromarray(_picture(size[0], size[1], seed))
    kwargs: dict[str, object] = {}
    if fmt == "jpeg" or fmt == "webp":
        kwargs = {"quality": 90}
    elif fmt == "gif":
        im = im.quantize(64)
    im.save(path, format=IMAGE_FORMATS[fmt], **kwargs)
    return path


def video_frame(index: int, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """The RGB picture ``make_video`` encodes as frame ``index``: the base picture rolled 2 px right per frame.

    Returns
    -------
    (height_px, width_px, 3) uint8 ndarray
        Lets a test check that a decoded frame stamped ``t`` really is frame ``round(t * fps)``.
    """
    return np.roll(_picture(size[0], size[1], seed=1), 2 * index, axis=1)


def make_video(
    path: str | os.PathLike[str],
    container: str = "mp4",
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (96, 64),
    *,
    with_audio: bool = False,
    codec: str | None = None,
    audio_rate_hz: int = 48_000,
    audio_channels: int = 2,
    faststart: bool = False,
) -> Path:
    """Encode a short clip with PyAV: a moving square on a gradient, optionally with a chirp soundtrack.

    Parameters
    ----------
    container : {"mp4", "mov", "mkv", "webm", "avi", "mpeg", "ts"}, default="mp4"
    seconds : float, default=2.0
        Video length; ``round(seconds * fps)`` frames with pts ``i / fps``.
    fps : int, default=25
    size : (width_px, height_px), default=(96, 64)
        Even numbers (4:2:0 chroma needs them).
    with_audio : bool, default=False
        Add an audio track of the same length (``audio_rate_hz``, ``audio_channels``).
    codec : str, optional
        Video encoder; defaults to libx264 (mp4/mov/mkv), libvpx (webm), mpeg4 (avi).
    faststart : bool, default=False
        mp4/mov only: put the ``moov`` index before the media data, as streaming sites do
        (a truncated faststart file still opens; one with ``moov`` last does not).
    """
    import av

    path = Path(path)
    if container not in _VIDEO_CODECS:
        raise ValueError(f"container must be one of {VIDEO_CONTAINERS}, got {container!r}")
    vcodec, acodec = _VIDEO_CODECS[container]
    vcodec = codec or vcodec
    width_px, height_px = size
    n_frames = round(seconds * fps)
    options = {"movflags": "faststart"} if faststart and container in ("mp4", "mov") else {}
    with av.open(str(path), "w", format=_AV_FORMAT[container], options=options) as out:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width_px, height_px, "yuv420p"
        vs.codec_context.time_base = Fraction(1, fps)
        if vcodec == "libx264":
            vs.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif vcodec in ("libvpx", "libvpx-vp9"):
            vs.options = {"deadline": "realtime", "cpu-used": "8"}
        astream = None
        if with_audio:
            astream = out.add_stream(acodec, rate=audio_rate_hz, layout="stereo" if audio_channels == 2 else "mono")
        for i in range(n_frames):
            img = video_frame(i, size)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if astream is not None:
            encode_audio(out, astream, tone(n_frames / fps, audio_rate_hz, audio_channels), audio_rate_hz)
    return path


def encode_audio(out: object, stream: object, samples: np.ndarray, sample_rate_hz: int) -> None:
    """Encode (samples, channels) float32 into a PyAV stream, converting to the encoder's sample format."""
    import av

    layout = "stereo" if samples.shape[1] == 2 else "mono"
    cc = stream.codec_context  # type: ignore[attr-defined]
    resampler = av.AudioResampler(format=cc.format.name, layout=layout, rate=sample_rate_hz, frame_size=cc.frame_size or 1024)
    block = 4096
    for start in range(0, len(samples), block):
        chunk = np.ascontiguousarray(samples[start : start + block].T)  # planar (channels, samples)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = sample_rate_hz
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate_hz)
        for f in resampler.resample(frame):
            out.mux(stream.encode(f))  # type: ignore[attr-defined]
    for f in resampler.resample(None):
        out.mux(stream.encode(f))  # type: ignore[attr-defined]
    out.mux(stream.encode(None))  # type: ignore[attr-defined]


def make_audio(path: str | os.PathLike[str], fmt: str = "wav", seconds: float = 1.0, sample_rate_hz: int = 16_000, channels: int = 1) -> Path:
    """Write a chirp (see ``tone``) as a recording.

    Parameters
    ----------
    fmt : {"wav", "flac", "mp3", "ogg", "opus", "m4a"}, default="wav"
        wav/flac/ogg (Vorbis) are written by soundfile; mp3 (LAME), opus and m4a (AAC) by PyAV.
        Opus only takes 8, 12, 16, 24 or 48 kHz.
    seconds : float, default=1.0
    sample_rate_hz : int, default=16000
    channels : {1, 2}, default=1
    """
    path = Path(path)
    samples = tone(seconds, sample_rate_hz, channels)
    if fmt in ("wav", "flac", "ogg"):
        import soundfile as sf

        sub = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}[fmt]
        sf.write(str(path), samples, sample_rate_hz, format=fmt.upper(), subtype=sub)
        return path
    import av

    codec, container = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "ogg"), "m4a": ("aac", "ipod")}.get(fmt, (None, None))
    if codec is None:
        raise ValueError(f"fmt must be one of {AUDIO_FORMATS}, got {fmt!r}")
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate_hz, layout="stereo" if channels == 2 else "mono")
        encode_audio(out, stream, samples, sample_rate_hz)
    return path


# --------------------------------------------------------------------------------------------
# corruptors


def truncate(src: str | os.PathLike[str], dst: str | os.PathLike[str], fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes (at least one) to ``dst``: an interrupted download."""
    data = Path(src).read_bytes()
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    Path(dst).write_bytes(data[: max(1, int(len(data) * fraction))])
    return Path(dst)


def flip_bytes(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, count: int = 16, start_fraction: float = 0.2, end_fraction: float = 1.0, seed: int = 0
) -> Path:
    """Copy ``src`` to ``dst`` with ``count`` bytes inverted at random offsets in ``[start_fraction, end_fraction)`` of the file.

    Offsets start after the header by default so the format is still recognised and the
    decoder, not the sniffer, meets the damage.
    """
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    lo, hi = (int(len(data) * start_fraction), max(int(len(data) * end_fraction), int(len(data) * start_fraction) + 1))
    for off in rng.integers(lo, hi, size=count):
        data[int(off)] ^= 0xFF
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def copy_with_suffix(src: str | os.PathLike[str], dst_dir: str | os.PathLike[str], suffix: str) -> Path:
    """Copy ``src`` into ``dst_dir`` under its stem with another extension (``.mp3`` on a PNG)."""
    dst = Path(dst_dir) / (Path(src).stem + suffix)
    shutil.copyfile(src, dst)
    return dst


def make_unreadable(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy ``src`` to ``dst`` and remove every permission bit (mode 000).

    Root ignores the mode; run the reader as an unprivileged user to see the error.
    """
    shutil.copyfile(src, dst)
    os.chmod(dst, 0)
    return Path(dst)


# --------------------------------------------------------------------------------------------
# special builders: headers that lie


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with a valid CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png_bomb(path: str | os.PathLike[str], width_px: int = 30_000, height_px: int = 30_000, *, rows: int = 16) -> Path:
    """A tiny PNG whose IHDR declares ``width_px`` x ``height_px`` RGB pixels (a decompression bomb).

    The header and every chunk CRC are valid and the IDAT holds the first ``rows`` rows of
    zeros, compressed (a few hundred bytes); a decoder that trusts the header allocates
    ``width_px * height_px * 3`` bytes (2.7 GB at 30000 x 30000) before noticing anything.
    """
    ihdr = struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width_px)  # filter byte 0 + black pixels
    idat = b"".join(comp.compress(row) for _ in range(rows)) + comp.flush(zlib.Z_SYNC_FLUSH)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    Path(path).write_bytes(data)
    return Path(path)


def make_image_declaring_size(path: str | os.PathLike[str], fmt: str, width_px: int, height_px: int) -> Path:
    """A small real image whose header is patched to declare ``width_px`` x ``height_px``.

    fmt : {"gif", "bmp", "jpeg", "tiff", "webp"}
        GIF and JPEG hold 16-bit sizes (at most 65535); WebP (lossless VP8L) at most 16384.
        The pixel data is that of a 32 x 32 image, so the file is also truncated:
        a reader must refuse on the declared size before it tries to decode.
    """
    path = Path(path)
    make_image(path, fmt, (32, 32))
    data = bytearray(path.read_bytes())
    if fmt == "gif":
        struct.pack_into("<HH", data, 6, width_px, height_px)  # logical screen
        i = data.index(b"\x2c", 13 + 3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 13)
        struct.pack_into("<HH", data, i + 5, width_px, height_px)  # image descriptor
    elif fmt == "bmp":
        struct.pack_into("<ii", data, 18, width_px, height_px)
    elif fmt == "jpeg":
        i = data.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
        struct.pack_into(">HH", data, i + 5, height_px, width_px)
    elif fmt == "tiff":
        # Pillow writes an uncompressed little-endian TIFF; rewrite tags 256/257 (width, length).
        (ifd,) = struct.unpack_from("<I", data, 4)
        (n,) = struct.unpack_from("<H", data, ifd)
        for k in range(n):
            e = ifd + 2 + 12 * k
            tag, _typ = struct.unpack_from("<HH", data, e)
            if tag in (256, 257):
                value = width_px if tag == 256 else height_px
                struct.pack_into("<HHII", data, e, tag, 4, 1, value)  # as LONG so 30000+ fits
    elif fmt == "webp":
        # Re-encode losslessly (VP8L) and rewrite the 14-bit width-1 / height-1 fields after the 0x2f signature.
        from PIL import Image

        Image.open(path).save(path, format="WEBP", lossless=True)
        data = bytearray(path.read_bytes())
        s = data.index(b"VP8L") + 8
        bits = int.from_bytes(data[s + 1 : s + 5], "little")
        bits = (bits & ~((1 << 28) - 1)) | (width_px - 1) | ((height_px - 1) << 14)
        data[s + 1 : s + 5] = bits.to_bytes(4, "little")
    else:
        raise ValueError(f"fmt must be gif, bmp, jpeg, tiff or webp, got {fmt!r}")
    path.write_bytes(bytes(data))
    return path


def make_wav_header_only(path: str | os.PathLike[str], sample_rate_hz: int = 16_000) -> Path:
    """A 44-byte WAV: a valid 16-bit mono header with an empty data chunk (zero samples)."""
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate_hz, 2 * sample_rate_hz, 2, 16)
    data = b"RIFF" + struct.pack("<I", 36) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 0)
    Path(path).write_bytes(data)
    return Path(path)


def make_wav_absurd_length(path: str | os.PathLike[str], *, seconds: float = 0.5, sample_rate_hz: int = 8_000, declared_bytes: int = 0xFFFFFFF0) -> Path:
    """A short 16-bit mono WAV whose RIFF and data chunk sizes declare ``declared_bytes`` of samples.

    At the defaults the header promises 0xFFFFFFF0 / (2 * 8000) s = 74.6 h of audio while the
    file holds ``seconds`` of it.
    """
    samples = (tone(seconds, sample_rate_hz)[:, 0] * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate_hz, 2 * sample_rate_hz, 2, 16)
    riff_size = min(0xFFFFFFFF, 36 + declared_bytes)
    data = b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", declared_bytes) + samples
    Path(path).write_bytes(data)
    return Path(path)


def _iter_boxes(data: bytes | bytearray, start: int, end: int):
    """(type, offset, header_size, size) of each ISO-BMFF box in data[start:end]."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, i + 8)
            header = 16
        elif size == 0:
            size = end - i
        if size < header:
            return
        yield kind, i, header, size
        i += size


def make_mp4_absurd_duration(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, declared_s: float = 40 * 24 * 3600.0, boxes: tuple[str, ...] = ("mvhd", "tkhd", "mdhd")
) -> Path:
    """Copy an MP4/MOV and patch the duration fields of its ``mvhd``/``tkhd``/``mdhd`` boxes to ``declared_s``.

    Each field is rewritten in its own box's timescale (clamped to 32 bits for version-0 boxes),
    so the header promises ``declared_s`` (40 days by default) while the samples last seconds.
    """
    data = bytearray(Path(src).read_bytes())
    movie_timescale = 1000

    def patch(start: int, end: int) -> None:
        nonlocal movie_timescale
        for kind, off, hdr, size in _iter_boxes(data, start, end):
            name = kind.decode("latin-1")
            body = off + hdr
            if name in ("moov", "trak", "mdia"):
                patch(body, off + size)
            elif name in ("mvhd", "mdhd", "tkhd"):
                version = data[body]
                if name == "tkhd":  # tkhd: ver/flags, ctime, mtime, track id, reserved, duration (movie timescale)
                    scale = movie_timescale
                    dur_off = body + (4 + 8 + 8 + 4 + 4 if version == 1 else 4 + 4 + 4 + 4 + 4)
                else:  # mvhd/mdhd: ver/flags, ctime, mtime, timescale, duration
                    ts_off = body + (4 + 8 + 8 if version == 1 else 4 + 4 + 4)
                    (scale,) = struct.unpack_from(">I", data, ts_off)
                    if name == "mvhd":
                        movie_timescale = scale
                    dur_off = ts_off + 4
                if name not in boxes:
                    continue
                value = int(declared_s * scale)
                if version == 1:
                    struct.pack_into(">Q", data, dur_off, min(value, 2**63 - 1))
                else:
                    struct.pack_into(">I", data, dur_off, min(value, 0xFFFFFFFE))

    patch(0, len(data))
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def make_mkv_absurd_duration(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, declared_s: float = 40 * 24 * 3600.0) -> Path:
    """Copy a Matroska/WebM file with its Segment Info ``Duration`` rewritten to ``declared_s``.

    Assumes the default TimecodeScale (1 ms), which every writer we use keeps.
    """
    data = bytearray(Path(src).read_bytes())
    i = data.find(b"\x44\x89")  # Duration element ID; a 4- or 8-byte float follows its size byte
    if i < 0 or data[i + 2] not in (0x84, 0x88):
        raise ValueError(f"{src} has no Matroska Duration element")
    if data[i + 2] == 0x88:
        struct.pack_into(">d", data, i + 3, declared_s * 1000)
    else:
        struct.pack_into(">f", data, i + 3, declared_s * 1000)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def make_flac_absurd_samples(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, declared_samples: int = 2**36 - 1) -> Path:
    """Copy a FLAC file with STREAMINFO's 36-bit total-samples field set to ``declared_samples``.

    At 16 kHz the default (2**36 - 1 samples) declares 49.7 days of audio.
    """
    data = bytearray(Path(src).read_bytes())
    if data[:4] != b"fLaC" or (data[4] & 0x7F) != 0:
        raise ValueError(f"{src} does not start with a FLAC STREAMINFO block")
    # STREAMINFO body starts at 8; bytes 10..17 of it pack rate(20) channels(3) bps(5) total(36).
    packed = int.from_bytes(data[8 + 10 : 8 + 18], "big")
    packed = (packed & ~((1 << 36) - 1)) | (declared_samples & ((1 << 36) - 1))
    data[8 + 10 : 8 + 18] = packed.to_bytes(8, "big")
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def make_jpeg_corrupt_c2pa(path: str | os.PathLike[str], size: tuple[int, int] = (64, 48), *, seed: int = 0) -> Path:
    """A decodable JPEG carrying an APP11 segment that looks like a C2PA JUMBF store but holds garbage.

    The segment has the JPEG XT header a C2PA reader looks for (``JP``, instance 1, sequence 1)
    and a ``jumb`` superbox whose ``jumd`` description box claims the ``c2pa`` label, then
    random bytes where the manifest's boxes should be, and box sizes that overrun the segment.
    """
    path = Path(path)
    make_image(path, "jpeg", size, seed=seed)
    data = path.read_bytes()
    rng = np.random.default_rng(seed)
    garbage = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    c2pa_uuid = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa" + ISO suffix
    jumd = b"jumd" + c2pa_uuid + b"\x03" + b"c2pa\x00"
    jumd = struct.pack(">I", 4 + len(jumd)) + jumd
    # The superbox claims far more bytes than the segment holds.
    jumb = struct.pack(">I", 0x00FFFFFF) + b"jumb" + jumd + struct.pack(">I", 0x7FFFFFFF) + b"jumb" + garbage
    payload = b"JP" + struct.pack(">HI", 1, 1) + jumb
    segment = b"\xff\xeb" + struct.pack(">H", 2 + len(payload)) + payload
    path.write_bytes(data[:2] + segment + data[2:])
    return path


def write_video(path: str | os.PathLike[str], frames: list[np.ndarray], *, fps: int = 4, crf: int = 10, pix_fmt: str = "yuv420p") -> Path:
    """Encode RGB frames into an H.264 MP4 with libx264.

    Parameters
    ----------
    path : Path
    frames : list of (height, width, 3) uint8 ndarray
        Width and height even (4:2:0 needs them so).
    fps : int, default=4
    crf : int, default=10
        x264 constant rate factor: 0 is lossless in YUV, 18 "visually lossless", 23 the default.
    pix_fmt : str, default="yuv420p"
        What players expect; the chroma the watermark lives in is subsampled 2x2.

    Returns
    -------
    Path
    """
    import av

    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
