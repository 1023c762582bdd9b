"""Fixtures shared by the media tests: the real CLI in a subprocess, and a set of good media files."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_unmask(*args: str, timeout_s: float = 60.0, prefix: tuple[str, ...] = (), cwd: str | None = None) -> CliRun:
    """Run ``python -m unmask ARGS`` (optionally under ``prefix``, e.g. setpriv) and time it."""
    t0 = time.perf_counter()
    proc = subprocess.run([*prefix, sys.executable, "-m", "unmask", *args], check=False, capture_output=True, text=True, timeout=timeout_s, cwd=cwd)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def good_media(tmp_path_factory) -> dict[str, Path]:
    """One small, valid file per format, keyed by format name (made once per session)."""
    from unmask.testing import media as m

    d = tmp_path_factory.mktemp("good")
    out: dict[str, Path] = {}
    for fmt in m.IMAGE_FORMATS:
        out[fmt] = m.make_image(d / f"image.{fmt}", fmt, (64, 48))
    for c in m.VIDEO_CONTAINERS:
        out[c] = m.make_video(d / f"video.{c}", c, seconds=2.0, fps=25, with_audio=True)
    out["mp4-faststart"] = m.make_video(d / "faststart.mp4", "mp4", seconds=2.0, with_audio=True, faststart=True)
    for a in m.AUDIO_FORMATS:
        out[a] = m.make_audio(d / f"audio.{a}", a, seconds=2.0, sample_rate_hz=48_000 if a == "opus" else 16_000)
    return out
