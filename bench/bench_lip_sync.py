"""What ``lip-sync`` adds to the scan time of a talking-head video.

    python bench/bench_lip_sync.py                      # the longest real talking clips of ../shared, native and 720p
    python bench/bench_lip_sync.py --repeats 3

Each clip is scanned (in this process, models warmed up first) with the detectors a
video gets when the experimental ones are named -- c2pa, watermark, metadata, ai-image,
face-swap, voice -- and again with ``lip-sync`` added; the table gives the medians of
``--repeats`` runs and their ratio, in wall time and in this process's CPU time (all
threads; steadier than wall time when neighbours load the machine). The 720p row is the same clip scaled to 1280x720
(H.264 CRF 20), since the shared clips are small face crops (224 px) whose decoding
costs almost nothing. Needs ../shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BASE = ("c2pa", "watermark", "metadata", "ai-image", "face-swap", "voice")


def _scan_s(path: Path, detectors: tuple[str, ...], repeats: int) -> tuple[float, float, dict]:
    import unmask
    from unmask.config import ScanOptions

    opts = ScanOptions(detectors=detectors)
    unmask.scan(path, options=opts)  # warm-up: model loading is not per-file cost
    times, cpu, last = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        last = unmask.scan(path, options=opts)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    lip = next((f for f in last.findings if f.detector == "lip-sync"), None)
    return statistics.median(times), statistics.median(cpu), (lip.timings_ms if lip else {})


def _to_720p(src: Path, dst: Path) -> Path:
    import numpy as np
    from PIL import Image

    from unmask.testing.talking import read_clip, write_clip

    frames, _, fps, audio = read_clip(src)
    big = [np.asarray(Image.fromarray(f).resize((1280, 720), Image.Resampling.BILINEAR)) for f in frames]
    return write_clip(dst, big, fps, audio, crf=20)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if not SHARED.exists():
        print("needs ../shared/data/talking", file=sys.stderr)
        return 2
    import unmask

    clips = [SHARED / "talking/Hangz-nju-cuhk__Talking-Face_PC-AVS/741400163.mp4", SHARED / "talking/smeetrs__deep_avsr/00016.mp4"]
    print(f"# unmask {unmask.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"median of {args.repeats} scans after a warm-up")
    print("| clip | size | length | wall without lip-sync | wall with | added (wall) | CPU without | CPU with | added (CPU) | lip-sync stages (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(c, "native") for c in clips] + [(_to_720p(clips[0], Path(tmp) / "talking_720p.mp4"), "1280x720")]
        for path, size in rows:
            from unmask.media import open_media

            dur = open_media(path).info.duration_s or 0.0
            base, base_cpu, _ = _scan_s(path, BASE, args.repeats)
            full, full_cpu, stages = _scan_s(path, BASE + ("lip-sync",), args.repeats)
            st = ", ".join(f"{k} {v:.0f}" for k, v in stages.items())
            print(f"| {path.name} | {size} | {dur:.1f} s | {base:.2f} s | {full:.2f} s | {100 * (full / base - 1):+.0f} % | "
                  f"{base_cpu:.2f} s | {full_cpu:.2f} s | {100 * (full_cpu / base_cpu - 1):+.0f} % | {st} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
