"""Container headers checked against the file itself, before any decoder runs.

RIFF (WAV, AVI, WebP), ISO base media (MP4, MOV, M4A, HEIC) and EBML (MKV, WebM)
declare how many bytes they hold. FFmpeg quietly trusts the bytes that are there
instead: a WAV cut at 10 % decodes as a shorter WAV, a faststart MP4 cut in its
``mdat`` plays until the data stops, and an MP4 whose ``mvhd`` claims 40 days
reports the length of its sample tables. A scan would then score a different file
from the one the user has, so a size or duration the header declares and the file
cannot back is an input error, found here by reading a few box headers.

Imports nothing heavy; raises only ``unmask.errors`` types.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from unmask.errors import DecodeError

# RIFF writers that stream (and cannot seek back to patch the size) write one of these.
_RIFF_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# A RIFF chunk is padded to an even length; some writers leave the pad byte off.
_PAD_BYTES = 1
# Bound the header walk so a crafted file of a million empty boxes cannot stall it.
_MAX_BOXES = 10_000
# Box types are four ASCII letters, digits or spaces (QuickTime adds the copyright sign);
# anything else after the last box is padding or junk, not a box whose size we can trust.
_BOX_TYPE = re.compile(rb"[A-Za-z0-9 \xa9_.-]{4}")


@dataclass(frozen=True, slots=True)
class Declared:
    """What the container header promises, for the caller to check against its limits."""

    duration_s: float | None = None  # movie duration from mvhd (ISO) or the data chunk (WAV)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.0f} B"


def fmt_duration(seconds: float) -> str:
    """``0.5 s``, ``12.0 min``, ``74.6 h``: the unit a person reads fastest."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def check_structure(fh: BinaryIO, fmt: str, file_bytes: int, name: str) -> Declared:
    """Raise ``DecodeError`` when the container declares more bytes than the file holds.

    Parameters
    ----------
    fh : binary file open for reading (position is not preserved)
    fmt : str
        The sniffed format (``unmask.media.sniff``).
    file_bytes : int
        The file's size.
    name : str
        The file's name as the user gave it, for messages.

    Returns
    -------
    Declared
        Header facts the caller checks against ``Limits``.
    """
    if fmt in ("wav", "avi", "webp"):
        return _check_riff(fh, fmt, file_bytes, name)
    if fmt in ("mp4", "mov", "m4a", "heic", "avif"):
        return _check_bmff(fh, fmt, file_bytes, name)
    if fmt in ("mkv", "webm"):
        return _check_ebml(fh, fmt, file_bytes, name)
    if fmt in ("ogg", "opus", "ogv"):
        return _check_ogg(fh, fmt, file_bytes, name)
    return Declared()


def _truncated(name: str, fmt: str, what: str, declared: int, file_bytes: int) -> DecodeError:
    return DecodeError(
        f"{name} is truncated: its {fmt.upper()} {what} declares {_fmt_bytes(declared)} but the file has {_fmt_bytes(file_bytes)}",
        hint="an interrupted download or copy; get the complete file",
    )


def _check_riff(fh: BinaryIO, fmt: str, file_bytes: int, name: str) -> Declared:
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12:
        raise DecodeError(f"{name} is truncated: {file_bytes} bytes is too short for a {fmt.upper()} header")
    (riff_size,) = struct.unpack_from("<I", head, 4)
    declared = None
    if fmt == "wav":
        declared = _check_wav_chunks(fh, file_bytes, name)
    if riff_size not in _RIFF_UNKNOWN_SIZES and 8 + riff_size > file_bytes + _PAD_BYTES:
        raise _truncated(name, fmt, "RIFF header", 8 + riff_size, file_bytes)
    return Declared(duration_s=declared)


def _check_wav_chunks(fh: BinaryIO, file_bytes: int, name: str) -> float | None:
    """Walk the WAV chunks; the data chunk's size over the byte rate is the declared duration."""
    pos, byte_rate = 12, 0
    for _ in range(_MAX_BOXES):
        fh.seek(pos)
        hdr = fh.read(8)
        if len(hdr) < 8:
            return None
        kind, size = hdr[:4], struct.unpack_from("<I", hdr, 4)[0]
        if kind == b"fmt ":
            fmt_body = fh.read(16)
            if len(fmt_body) >= 12:
                byte_rate = struct.unpack_from("<I", fmt_body, 8)[0]
        elif kind == b"data":
            if size in _RIFF_UNKNOWN_SIZES or not byte_rate:
                return None  # streamed WAV: the length is whatever the file holds
            have = file_bytes - (pos + 8)
            declared_s = size / byte_rate
            if size > have + _PAD_BYTES:
                raise DecodeError(
                    f"{name} is truncated or its header is wrong: it declares {fmt_duration(declared_s)} of audio "
                    f"but the file holds {fmt_duration(max(0, have) / byte_rate)}",
                    hint="an interrupted download or copy; get the complete file",
                )
            return declared_s
        pos += 8 + size + (size & 1)
        if pos >= file_bytes:
            return None
    return None


def _check_bmff(fh: BinaryIO, fmt: str, file_bytes: int, name: str) -> Declared:
    pos, duration_s = 0, None
    for _ in range(_MAX_BOXES):
        if pos >= file_bytes:
            break
        fh.seek(pos)
        hdr = fh.read(16)
        if len(hdr) < 8:
            raise DecodeError(f"{name} is truncated: a {fmt.upper()} box header is cut off at byte {pos}")
        size, kind = struct.unpack_from(">I4s", hdr)
        header = 8
        if size == 1:
            if len(hdr) < 16:
                raise DecodeError(f"{name} is truncated: a {fmt.upper()} box header is cut off at byte {pos}")
            (size,) = struct.unpack_from(">Q", hdr, 8)
            header = 16
        elif size == 0:  # the last box runs to the end of the file
            size = file_bytes - pos
        if size < header or not _BOX_TYPE.fullmatch(kind):
            break  # not a box: trailing padding or damage FFmpeg will report in its own words
        label = kind.decode("latin-1")
        if pos + size > file_bytes:
            raise _truncated(name, fmt, f"'{label}' box", pos + size, file_bytes)
        if kind == b"moov":
            duration_s = _mvhd_duration_s(fh, pos + header, pos + size)
        pos += size
    return Declared(duration_s=duration_s)


def _mvhd_duration_s(fh: BinaryIO, start: int, end: int) -> float | None:
    """The movie duration the mvhd box declares (None when absent, zero or unknown)."""
    pos = start
    for _ in range(64):  # mvhd is the first child in every writer we know; do not walk far
        if pos + 8 > end:
            return None
        fh.seek(pos)
        hdr = fh.read(8)
        size, kind = struct.unpack(">I4s", hdr)
        if kind == b"mvhd":
            body = fh.read(32)
            if len(body) < 20:
                return None
            if body[0] == 1:
                if len(body) < 32:
                    return None
                timescale, duration = struct.unpack_from(">IQ", body, 20)
                unknown = 0xFFFFFFFFFFFFFFFF
            else:
                timescale, duration = struct.unpack_from(">II", body, 12)
                unknown = 0xFFFFFFFF
            if not timescale or not duration or duration == unknown:  # fragmented or live: no total
                return None
            return duration / timescale
        if size < 8:
            return None
        pos += size
    return None


# An Ogg page is at most 27 + 255 + 255 * 255 bytes, so the last page starts within this tail.
_OGG_MAX_PAGE_BYTES = 27 + 255 + 255 * 255


def _check_ogg(fh: BinaryIO, fmt: str, file_bytes: int, name: str) -> Declared:
    """A complete Ogg stream ends with a whole page flagged end-of-stream; a cut one does not.

    Ogg declares no total size or length (FFmpeg takes the duration from the last page it
    finds), so the end-of-stream flag is the only sign that the tail is missing.
    """
    tail_start = max(0, file_bytes - _OGG_MAX_PAGE_BYTES)
    fh.seek(tail_start)
    tail = fh.read()
    end = len(tail)
    for _ in range(64):  # "OggS" can also occur inside packet data; try the last few matches
        i = tail.rfind(b"OggS", 0, end)
        if i < 0:
            break
        end = i + 3
        if len(tail) - i < 27 or tail[i + 4] != 0:
            continue
        n_segments = tail[i + 26]
        lacing = tail[i + 27 : i + 27 + n_segments]
        page_end = i + 27 + n_segments + sum(lacing)
        if len(lacing) < n_segments or page_end > len(tail):
            continue  # a page cut short, or a false match: keep looking for the last whole page
        if page_end != len(tail):
            continue  # a false match inside a packet
        if not tail[i + 5] & 0x04:
            raise DecodeError(
                f"{name} is truncated: the {fmt.upper()} stream stops without its end-of-stream page",
                hint="an interrupted download, copy or recording; get the complete file",
            )
        return Declared()
    raise DecodeError(
        f"{name} is truncated: the {fmt.upper()} stream ends inside a page", hint="an interrupted download, copy or recording; get the complete file"
    )


def _read_vint(fh: BinaryIO) -> tuple[int, int, bool] | None:
    """An EBML variable-length integer: (value, length, all value bits set = unknown size)."""
    first = fh.read(1)
    if not first:
        return None
    b = first[0]
    length = 1
    while length <= 8 and not b & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        return None
    rest = fh.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = b & (0xFF >> length)
    for c in rest:
        value = (value << 8) | c
    return value, length, value == (1 << (7 * length)) - 1


def _check_ebml(fh: BinaryIO, fmt: str, file_bytes: int, name: str) -> Declared:
    fh.seek(4)  # past the EBML header ID 1A 45 DF A3
    header_size = _read_vint(fh)
    if header_size is None:
        raise DecodeError(f"{name} is truncated: the {fmt.upper()} header is cut off")
    fh.seek(fh.tell() + header_size[0])
    for _ in range(16):  # Void elements (ID EC) may pad the space before the segment
        if fh.read(1) != b"\xec":
            fh.seek(fh.tell() - 1)
            break
        void = _read_vint(fh)
        if void is None:
            break
        fh.seek(fh.tell() + void[0])
    seg_id = fh.read(4)
    if len(seg_id) < 4:
        raise DecodeError(f"{name} is truncated: the {fmt.upper()} file ends before its first segment")
    if seg_id != b"\x18\x53\x80\x67":
        raise DecodeError(f"{name}: the {fmt.upper()} structure is broken (no segment after the header)")
    seg_size = _read_vint(fh)
    if seg_size is None:
        raise DecodeError(f"{name} is truncated: the {fmt.upper()} segment header is cut off")
    size, _, unknown = seg_size
    if not unknown and fh.tell() + size > file_bytes:
        raise _truncated(name, fmt, "segment", fh.tell() + size, file_bytes)
    return Declared()
