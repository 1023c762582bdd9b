"""A generated corpus of malformed inputs: each one gets a typed error and a one-line message, fast.

Every case is run twice: through ``open_media`` (the right ``InputError`` subclass and
message) and through the real CLI in a subprocess (exit code 3, the message on the
output, no traceback, under 5 s wall time including interpreter start-up).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import run_unmask

from unmask.config import Limits
from unmask.errors import DecodeError, FileAccessError, InputError, LimitExceededError, UnsupportedMediaError
from unmask.media import open_media
from unmask.testing import media as m

CASE_TIMEOUT_S = 5.0

Builder = Callable[[Path, dict[str, Path]], Path]  # (folder, good media) -> malformed file


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    error: type[InputError]
    message: str  # regex the one-line message must match
    cli_args: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)


def _bytes(name: str, data: bytes) -> Builder:
    def build(d: Path, good: dict[str, Path]) -> Path:
        (d / name).write_bytes(data)
        return d / name

    return build


def _random(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _truncated(src: str, fraction: float, suffix: str) -> Builder:
    return lambda d, good: m.truncate(good[src], d / f"cut{suffix}", fraction)


def _png_flipped_idat(d: Path, good: dict[str, Path]) -> Path:
    data = good["png"].read_bytes()
    start = data.index(b"IDAT") + 4
    end = start + struct.unpack(">I", data[start - 8 : start - 4])[0]
    out = d / "flipped.png"
    out.write_bytes(data)
    return m.flip_bytes(out, out, count=24, start_fraction=start / len(data), end_fraction=end / len(data), seed=3)


def _png_zero_size(d: Path, good: dict[str, Path]) -> Path:
    ihdr = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"")
    (d / "empty.png").write_bytes(b"\x89PNG\r\n\x1a\n" + m.png_chunk(b"IHDR", ihdr) + m.png_chunk(b"IDAT", idat) + m.png_chunk(b"IEND", b""))
    return d / "empty.png"


def _fifo(d: Path, good: dict[str, Path]) -> Path:
    os.mkfifo(d / "pipe.wav")  # opening it would block until a writer comes: must be refused unopened
    return d / "pipe.wav"


def _dangling(d: Path, good: dict[str, Path]) -> Path:
    (d / "gone.mp4").symlink_to(d / "nowhere.mp4")
    return d / "gone.mp4"


SIGNATURES = {
    ".jpg": b"\xff\xd8\xff\xe0",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".gif": b"GIF89a",
    ".tif": b"II*\x00",
    ".bmp": b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00",
    ".webp": b"RIFF\x00\x10\x00\x00WEBP",
    ".wav": b"RIFF\x00\x10\x00\x00WAVE",
    ".avi": b"RIFF\x00\x10\x00\x00AVI ",
    ".mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    ".m4a": b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00isomiso2",
    ".mkv": b"\x1a\x45\xdf\xa3",
    ".webm": b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm",
    ".flac": b"fLaC",
    ".ogg": b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis",
    ".opus": b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead",
    ".mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
}

BROKEN = r"truncated|broken|cut off|no audio|no video|holds no"

CASES: list[Case] = [
    # zero bytes under every kind of name
    *[
        Case(f"zero-byte{ext}", _bytes(f"zero{ext}", b""), DecodeError, r"is empty \(0 bytes\)")
        for ext in (".jpg", ".png", ".gif", ".mp4", ".webm", ".wav", ".mp3", ".flac")
    ],
    # random bytes named as media
    *[
        Case(f"random{ext}", _bytes(f"random{ext}", _random(20_000, seed)), UnsupportedMediaError, "not a supported image, video or audio format")
        for seed, ext in enumerate((".jpg", ".png", ".webp", ".tiff", ".mp4", ".mov", ".mkv", ".avi", ".wav", ".ogg", ".m4a", ".heic"))
    ],
    # a real signature followed by random bytes: the decoder, not the sniffer, meets them
    *[
        Case(f"signature-then-random{ext}", _bytes(f"sig{ext}", sig + _random(50_000, 100 + i)), InputError, r".")
        for i, (ext, sig) in enumerate(SIGNATURES.items())
    ],
    # truncated downloads
    Case("truncated-jpeg-half", _truncated("jpeg", 0.5, ".jpg"), DecodeError, BROKEN),
    Case("truncated-jpeg-header", _truncated("jpeg", 0.05, ".jpg"), DecodeError, BROKEN),
    Case("truncated-png-half", _truncated("png", 0.5, ".png"), DecodeError, BROKEN),
    Case("truncated-png-header", _truncated("png", 0.02, ".png"), DecodeError, BROKEN),
    Case("truncated-gif", _truncated("gif", 0.5, ".gif"), DecodeError, BROKEN),
    Case("truncated-gif-header", _truncated("gif", 0.1, ".gif"), DecodeError, BROKEN),
    Case("truncated-webp", _truncated("webp", 0.5, ".webp"), DecodeError, BROKEN),
    Case("truncated-tiff", _truncated("tiff", 0.5, ".tiff"), DecodeError, BROKEN),
    Case("truncated-bmp", _truncated("bmp", 0.5, ".bmp"), DecodeError, BROKEN),
    Case("truncated-mp4-half", _truncated("mp4", 0.5, ".mp4"), DecodeError, "truncated"),
    Case("truncated-mp4-last-tenth", _truncated("mp4", 0.9, ".mp4"), DecodeError, "truncated"),
    Case("truncated-mp4-faststart", _truncated("mp4-faststart", 0.6, ".mp4"), DecodeError, "truncated"),
    Case("truncated-mp4-faststart-last-tenth", _truncated("mp4-faststart", 0.9, ".mp4"), DecodeError, "truncated"),
    Case("truncated-mov", _truncated("mov", 0.5, ".mov"), DecodeError, "truncated"),
    Case("truncated-mkv", _truncated("mkv", 0.5, ".mkv"), DecodeError, "truncated"),
    Case("truncated-webm-last-tenth", _truncated("webm", 0.9, ".webm"), DecodeError, "truncated"),
    Case("truncated-avi", _truncated("avi", 0.5, ".avi"), DecodeError, "truncated"),
    Case("truncated-avi-last-tenth", _truncated("avi", 0.9, ".avi"), DecodeError, "truncated"),
    Case("truncated-wav", _truncated("wav", 0.5, ".wav"), DecodeError, r"truncated .* declares 2\.0 s of audio but the file holds 1\.0 s"),
    Case("truncated-wav-last-tenth", _truncated("wav", 0.9, ".wav"), DecodeError, "truncated"),
    Case("truncated-flac", _truncated("flac", 0.5, ".flac"), DecodeError, BROKEN),
    Case("truncated-flac-last-tenth", _truncated("flac", 0.9, ".flac"), DecodeError, BROKEN),
    Case("truncated-mp3", _truncated("mp3", 0.5, ".mp3"), DecodeError, r"truncated: it declares 2\.0 s of audio but holds only (0\.9|1\.0) s"),
    Case("truncated-ogg", _truncated("ogg", 0.5, ".ogg"), DecodeError, BROKEN),
    Case("truncated-opus", _truncated("opus", 0.5, ".opus"), DecodeError, BROKEN),
    Case("truncated-m4a", _truncated("m4a", 0.5, ".m4a"), DecodeError, "truncated"),
    # damaged but complete
    Case("png-flipped-idat-bytes", _png_flipped_idat, DecodeError, BROKEN),
    Case("png-zero-width", _png_zero_size, DecodeError, "broken|empty size"),
    Case("wav-header-only", lambda d, g: m.make_wav_header_only(d / "silence.wav"), DecodeError, "no audio could be decoded"),
    # not media at all, named as media
    Case(
        "pdf-named-jpg",
        _bytes("doc.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
        UnsupportedMediaError,
        r"not a supported .* \(content starts with 25 50 44 46",
    ),
    Case("zip-named-mp4", _bytes("archive.mp4", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + _random(3000, 7)), UnsupportedMediaError, "not a supported"),
    Case("html-named-png", _bytes("page.png", b"<!doctype html><html><body>hello</body></html>\n"), UnsupportedMediaError, "not a supported"),
    Case("text-named-wav", _bytes("notes.wav", b"just some notes\n" * 50), UnsupportedMediaError, "not a supported"),
    Case("svg-named-png", _bytes("icon.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), UnsupportedMediaError, "not a supported"),
    Case("script-named-mp3", _bytes("run.mp3", b"#!/bin/sh\necho hi\n"), UnsupportedMediaError, "not a supported"),
    # decompression bombs: tiny files, huge declared pixel counts
    Case("png-bomb-30000x30000", lambda d, g: m.make_png_bomb(d / "bomb.png"), LimitExceededError, r"30000x30000 pixels \(900 MP\) is above the 100 MP limit"),
    Case(
        "gif-bomb-65535x65535",
        lambda d, g: m.make_image_declaring_size(d / "bomb.gif", "gif", 65535, 65535),
        LimitExceededError,
        r"65535x65535 .* 100 MP limit",
    ),
    Case(
        "bmp-bomb-30000x30000",
        lambda d, g: m.make_image_declaring_size(d / "bomb.bmp", "bmp", 30000, 30000),
        LimitExceededError,
        r"30000x30000 .* 100 MP limit",
    ),
    Case(
        "jpeg-bomb-65500x65500",
        lambda d, g: m.make_image_declaring_size(d / "bomb.jpg", "jpeg", 65500, 65500),
        LimitExceededError,
        r"65500x65500 .* 100 MP limit",
    ),
    Case(
        "tiff-bomb-30000x30000",
        lambda d, g: m.make_image_declaring_size(d / "bomb.tif", "tiff", 30000, 30000),
        LimitExceededError,
        r"30000x30000 .* 100 MP limit",
    ),
    Case(
        "webp-bomb-16384x16384",
        lambda d, g: m.make_image_declaring_size(d / "bomb.webp", "webp", 16384, 16384),
        LimitExceededError,
        r"16384x16384 .* 100 MP limit",
    ),
    # headers that declare absurd durations
    Case("wav-declares-74-hours", lambda d, g: m.make_wav_absurd_length(d / "long.wav"), DecodeError, r"declares 74\.6 h of audio but the file holds 0\.5 s"),
    Case(
        "mp4-mvhd-mdhd-declare-40-days",
        lambda d, g: m.make_mp4_absurd_duration(g["mp4"], d / "long.mp4"),
        LimitExceededError,
        r"declares a duration of 960\.0 h, above the 2\.0 h limit",
    ),
    Case(
        "mov-mvhd-declares-40-days",
        lambda d, g: m.make_mp4_absurd_duration(g["mov"], d / "long.mov", boxes=("mvhd",)),
        LimitExceededError,
        r"960\.0 h, above the 2\.0 h limit",
    ),
    Case(
        "m4a-mvhd-declares-40-days", lambda d, g: m.make_mp4_absurd_duration(g["m4a"], d / "long.m4a"), LimitExceededError, r"960\.0 h, above the 2\.0 h limit"
    ),
    Case(
        "mp4-mvhd-declares-1-hour-of-2-s",
        lambda d, g: m.make_mp4_absurd_duration(g["mp4"], d / "hour.mp4", declared_s=3600.0),
        DecodeError,
        r"declares 60\.0 min but the streams hold 2\.0 s",
    ),
    Case("mkv-declares-40-days", lambda d, g: m.make_mkv_absurd_duration(g["mkv"], d / "long.mkv"), LimitExceededError, r"960\.0 h, above the 2\.0 h limit"),
    Case(
        "flac-streaminfo-declares-49-days",
        lambda d, g: m.make_flac_absurd_samples(g["flac"], d / "long.flac"),
        LimitExceededError,
        r"1193\.0 h, above the 2\.0 h limit",
    ),
    # files that are not there or not files
    Case("missing-file", lambda d, g: d / "never-made.jpg", FileAccessError, "no such file"),
    Case("dangling-symlink", _dangling, FileAccessError, "no such file"),
    Case("named-pipe", _fifo, FileAccessError, "not a regular file"),
    # good files over a limit the user set
    Case(
        "over-file-size-limit",
        lambda d, g: shutil.copy(g["wav"], d / "big.wav"),
        LimitExceededError,
        r"above the 10\.0 KiB file-size limit",
        ("--max-file-mb", str(10 / 1024)),
        Limits(max_file_bytes=10 * 1024),
    ),
    Case(
        "over-pixel-limit",
        lambda d, g: shutil.copy(g["png"], d / "wide.png"),
        LimitExceededError,
        r"64x48 pixels .* above the 0 MP limit",
        ("--max-megapixels", "0.001"),
        Limits(max_image_pixels=1000),
    ),
    Case(
        "over-duration-limit",
        lambda d, g: shutil.copy(g["flac"], d / "long.flac"),
        LimitExceededError,
        r"2\.0 s, above the 1\.2 s limit",
        ("--max-duration-min", "0.02"),
        Limits(max_duration_s=1.2),
    ),
]


@pytest.fixture()
def case_file(request, tmp_path, good_media) -> tuple[Case, Path]:
    case: Case = request.param
    return case, case.build(tmp_path, good_media)


def test_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case_file", CASES, ids=[c.id for c in CASES], indirect=True)
def test_malformed_input_gives_a_typed_error(case_file):
    case, path = case_file
    with pytest.raises(InputError) as exc:
        open_media(path, case.limits)
    assert isinstance(exc.value, case.error), f"{type(exc.value).__name__}: {exc.value}"
    text = str(exc.value)
    assert "\n" not in text and len(text) < 300
    assert re.search(case.message, text), text
    assert exc.value.exit_code == 3


@pytest.mark.parametrize("case_file", CASES, ids=[c.id for c in CASES], indirect=True)
def test_malformed_input_cli_exits_3_with_a_message_fast(case_file):
    case, path = case_file
    run = run_unmask("scan", str(path), *case.cli_args, timeout_s=CASE_TIMEOUT_S)
    assert run.returncode == 3, run.output
    assert "Traceback" not in run.output
    assert run.wall_s < CASE_TIMEOUT_S
    lines = [ln for ln in run.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("ERROR") and str(path) in lines[0]
    assert re.search(case.message, run.stdout.replace("\n", " ")) or re.search(case.message, run.stdout), run.output


def test_unreadable_file_is_an_access_error(good_media):
    """Mode 000: root reads it anyway, so when root the CLI runs as the unprivileged user 65534."""
    d = Path(tempfile.mkdtemp(prefix="unmask-perm-"))  # not under pytest's root-only tmp folder
    try:
        os.chmod(d, 0o755)
        path = m.make_unreadable(good_media["jpeg"], d / "secret.jpg")
        prefix: tuple[str, ...] = ()
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if not setpriv:
                pytest.skip("running as root and setpriv is missing: cannot drop privileges to see a permission error")
            prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
            probe = run_unmask("--version", prefix=prefix, cwd="/", timeout_s=CASE_TIMEOUT_S)
            if probe.returncode != 0:
                pytest.skip(f"user 65534 cannot run this interpreter/venv: {probe.output.strip()[:200]}")
        else:
            with pytest.raises(FileAccessError, match="permission denied"):
                open_media(path)
        run = run_unmask("scan", str(path), prefix=prefix, cwd="/", timeout_s=CASE_TIMEOUT_S)
        assert run.returncode == 3, run.output
        assert "Traceback" not in run.output and run.wall_s < CASE_TIMEOUT_S
        assert "permission denied" in run.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_corrupt_c2pa_segment_still_gives_a_normal_report(tmp_path):
    path = m.make_jpeg_corrupt_c2pa(tmp_path / "signed.jpg")
    data = path.read_bytes()
    assert data[2:4] == b"\xff\xeb" and b"jumb" in data[:600] and b"c2pa" in data[:600]
    item = open_media(path)  # the picture itself is intact
    assert item.image().size == (64, 48)
    run = run_unmask("scan", str(path), "--json", timeout_s=60)
    assert "Traceback" not in run.output
    assert run.returncode not in (3, 70), run.output
    report = json.loads(run.stdout)
    assert report["verdict"] != "error"
    c2pa = [f for f in report["findings"] if f["detector"] == "c2pa"]
    if c2pa and c2pa[0]["status"] != "error":
        # The reader must learn that a manifest is there but could not be read.
        assert re.search(r"(manifest|c2pa).*(unreadable|corrupt|broken|invalid|damaged)", c2pa[0]["summary"], re.IGNORECASE), c2pa[0]


def test_a_batch_with_bad_files_still_scans_the_good_ones(tmp_path, good_media):
    folder = tmp_path / "batch"
    folder.mkdir()
    good = {
        "photo.jpg": good_media["jpeg"],
        "screenshot.png": good_media["png"],
        "clip.mp4": good_media["mp4"],
        "voice.flac": good_media["flac"],
        "note.wav": good_media["wav"],
    }
    for name, src in good.items():
        shutil.copy(src, folder / name)
    (folder / "empty.jpg").write_bytes(b"")
    m.truncate(good_media["mp4"], folder / "cut.mp4", 0.5)
    m.make_png_bomb(folder / "bomb.png")
    (folder / "noise.wav").write_bytes(_random(5000, 1))
    bad = {"empty.jpg": "decode-failed", "cut.mp4": "decode-failed", "bomb.png": "limit-exceeded", "noise.wav": "unsupported-media"}

    run = run_unmask("scan", str(folder), "--json", "--no-progress", timeout_s=300)
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.output
    reports = {Path(r["source"]).name: r for r in json.loads(run.stdout)}
    assert sorted(reports) == sorted([*good, *bad])
    for name in good:
        assert reports[name]["verdict"] != "error", reports[name]
        assert reports[name]["media"]["size_bytes"] == (folder / name).stat().st_size
    for name, reference in bad.items():
        assert reports[name]["verdict"] == "error"
        assert reports[name]["error"]["reference"] == reference, reports[name]["error"]


def test_fifo_is_never_opened(tmp_path):
    """A named pipe with no writer would block open() forever; it must be refused from stat alone."""
    path = _fifo(tmp_path, {})
    assert stat.S_ISFIFO(path.lstat().st_mode)
    with pytest.raises(FileAccessError, match="not a regular file"):
        open_media(path)
