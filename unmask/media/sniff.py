"""Recognise a file's format from its first bytes, never from its name."""

from __future__ import annotations

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
        if (head[1] & 0x06) == 0:  # layer bits 00 = ADTS AAC
            return Sniffed("aac", _AUDIO, "audio/aac")
        # MPEG audio frame sync; require a valid bitrate and sample-rate index to avoid random-byte matches
        if (head[2] >> 4) not in (0, 15) and ((head[2] >> 2) & 0x3) != 3:
            return Sniffed("mp3", _AUDIO, "audio/mpeg")
    return None
