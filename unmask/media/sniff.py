"""Recognise a file's format from its first bytes, never from its name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unmask.core import MediaKind

HEAD_BYTES = 4096  # enough for every signature below, including Ogg's first page


@dataclass(frozen=True, slots=True)
class Sniffed:
    format: str
    kind: MediaKind  # a first guess: containers such as MP4 or WebM can hold audio only; probing corrects it
    mime: str


_IMAGE, _VIDEO, _AUDIO = MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO

# ISO base media (MP4 family) major brands that mean a still image or audio only.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def sniff(head: bytes) -> Sniffed | None:
    """Return the format the bytes start with, or None when unmask does not read it."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("jpeg", _IMAGE, "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("png", _IMAGE, "image/png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("gif", _IMAGE, "image/gif")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed("tiff", _IMAGE, "image/tiff")
    if head[:2] == b"BM" and len(head) >= 26 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return Sniffed("bmp", _IMAGE, "image/bmp")
    if head[:4] == b"RIFF" and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return Sniffed("webp", _IMAGE, "image/webp")
        if form == b"WAVE":
            return Sniffed("wav", _AUDIO, "audio/wav")
        if form == b"AVI ":
            return Sniffed("avi", _VIDEO, "video/x-msvideo")
        return None
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(len(head), int.from_bytes(head[:4], "big")), 4)}
        if brand in _AVIF_BRANDS:
            return Sniffed("avif", _IMAGE, "image/avif")
        if brand in _HEIF_BRANDS or (brand not in (b"isom", b"mp41", b"mp42", b"qt  ") and compatible & _HEIF_BRANDS):
            return Sniffed("heic", _IMAGE, "image/heic")
        if brand in _AUDIO_BRANDS:
            return Sniffed("m4a", _AUDIO, "audio/mp4")
        if brand == b"qt  ":
            return Sniffed("mov", _VIDEO, "video/quicktime")
        return Sniffed("mp4", _VIDEO, "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head[:64]:
            return Sniffed("webm", _VIDEO, "video/webm")
        return Sniffed("mkv", _VIDEO, "video/x-matroska")
    if head.startswith(b"\x00\x00\x01\xba"):  # MPEG program stream pack header (.mpg, .vob, DVD)
        return Sniffed("mpeg", _VIDEO, "video/mpeg")
    if len(head) >= 4 * 188 and all(head[i] == 0x47 for i in range(0, 4 * 188, 188)):
        # MPEG transport stream (.ts, broadcast, HLS segments): a 0x47 sync byte every 188 bytes;
        # four in a row leave random data one chance in 4 billion.
        return Sniffed("ts", _VIDEO, "video/mp2t")
    if head.startswith(b"fLaC"):
        return Sniffed("flac", _AUDIO, "audio/flac")
    if head.startswith(b"OggS"):
        if b"OpusHead" in head[:128]:
            return Sniffed("opus", _AUDIO, "audio/ogg; codecs=opus")
        if b"\x01vorbis" in head[:128]:
            return Sniffed("ogg", _AUDIO, "audio/ogg")
        if b"theora" in head[:128]:
            return Sniffed("ogv", _VIDEO, "video/ogg")
        if b"FLAC" in head[:128]:
            return Sniffed("ogg", _AUDIO, "audio/ogg")
        return None
    if head.startswith(b"ID3"):
        return Sniffed("mp3", _AUDIO, "audio/mpeg")
    if len(head) >= 4 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        # A bare frame sync is 11 set bits: one random file in 2000 starts with one. Real
        # streams repeat it, so require a second valid header where the first frame ends.
        if (head[1] & 0x06) == 0:  # layer bits 00 = ADTS AAC
            if _frames_chain(head, _adts_frame_len):
                return Sniffed("aac", _AUDIO, "audio/aac")
            return None
        if _frames_chain(head, _mpeg_audio_frame_len):
            return Sniffed("mp3", _AUDIO, "audio/mpeg")
    return None


# kbit/s by [MPEG-1?][layer 1..3][index]; index 0 (free format) and 15 (invalid) are refused.
_BITRATES_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits


def _mpeg_audio_frame_len(h: bytes) -> int | None:
    """Bytes in the MPEG audio frame whose 4-byte header is ``h``, or None if the header is invalid."""
    if h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version, layer_bits = (h[1] >> 3) & 3, (h[1] >> 1) & 3
    bitrate_i, rate_i, padding = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or bitrate_i in (0, 15) or rate_i == 3:
        return None
    layer = 4 - layer_bits
    bitrate = _BITRATES_KBPS[(version == 3, layer)][bitrate_i] * 1000
    rate = _SAMPLE_RATES_HZ[version][rate_i]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if layer == 2 or version == 3 else 72
    return per_frame * bitrate // rate + padding


def _adts_frame_len(h: bytes) -> int | None:
    if len(h) < 7 or h[0] != 0xFF or (h[1] & 0xF6) != 0xF0 or ((h[2] >> 2) & 0xF) > 12:
        return None
    length = ((h[3] & 3) << 11) | (h[4] << 3) | (h[5] >> 5)
    return length if length >= 7 else None


def _frames_chain(head: bytes, frame_len: Callable[[bytes], int | None]) -> bool:
    first = frame_len(head[:7])
    if first is None:
        return False
    if len(head) < first + 7:
        return True  # a file shorter than two frames: nothing more to check
    second = frame_len(head[first : first + 7])
    return second is not None and (head[first + 1] & 0xFE) == (head[1] & 0xFE)
