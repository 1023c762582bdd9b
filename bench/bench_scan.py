"""Scan speed as ratios to decode-only speed, measured in the same run, plus CLI cold start.

    python bench/bench_scan.py            # prints a Markdown table (copy it into the README)
    python bench/bench_scan.py --quick    # shorter media, fewer repeats

Each figure is the median of several runs. "decode-only" is the cheapest
possible pass over the same file: Pillow decoding the image, PyAV decoding
every video frame, PyAV decoding and resampling the audio to 16 kHz. A ratio of
1.2 means a scan costs 20 % more than just decoding the file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def decode_image(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.convert("RGB").load()


def decode_video(path: Path) -> None:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            frame.to_ndarray(format="rgb24")


def decode_audio(path: Path) -> None:
    import av

    with av.open(str(path)) as c:
        r = av.AudioResampler(format="flt", layout="mono", rate=16000)
        for frame in c.decode(c.streams.audio[0]):
            r.resample(frame)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 3 if args.quick else 5

    from PIL import Image

    import unmask
    from unmask._scan import Scanner
    from unmask.testing.media import make_audio, make_video

    tmp = Path(tempfile.mkdtemp(prefix="unmask-bench-"))
    rng = np.random.default_rng(0)
    # A 1-megapixel photo-like image: smooth gradients plus noise compress like a camera JPEG.
    yy, xx = np.mgrid[0:1000, 0:1000]
    base = np.stack([(xx / 4) % 256, (yy / 4) % 256, ((xx + yy) / 8) % 256], axis=-1)
    img = (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
    image_path = tmp / "photo_1mp.jpg"
    Image.fromarray(img).save(image_path, quality=90)

    video_s = 5.0 if args.quick else 20.0
    video_path = tmp / "clip_720p.mp4"
    make_video(video_path, container="mp4", seconds=video_s, fps=25, size=(1280, 720), with_audio=True)
    audio_s = 30.0 if args.quick else 120.0
    audio_path = tmp / "voice.flac"
    make_audio(audio_path, fmt="flac", seconds=audio_s, sample_rate_hz=16000)

    scanner = Scanner()
    scanner.scan(image_path)  # warm: detector modules imported, models loaded
    rows = []

    t_dec = median_time(lambda: decode_image(image_path), repeats)
    t_scan = median_time(lambda: scanner.scan(image_path), repeats)
    rows.append(("1 MP JPEG scan latency", f"{t_scan * 1000:.0f} ms", f"{t_dec * 1000:.0f} ms", f"{t_scan / t_dec:.2f}×", f"{1 / t_scan:.1f} images/s"))

    t_dec = median_time(lambda: decode_video(video_path), max(1, repeats - 2))
    t_scan = median_time(lambda: scanner.scan(video_path), max(1, repeats - 2))
    rows.append(
        (f"720p H.264 {video_s:.0f} s video", f"{t_scan:.2f} s", f"{t_dec:.2f} s", f"{t_scan / t_dec:.2f}×", f"{video_s / t_scan:.0f}× real time")
    )

    t_dec = median_time(lambda: decode_audio(audio_path), repeats)
    t_scan = median_time(lambda: scanner.scan(audio_path), repeats)
    rows.append((f"16 kHz FLAC {audio_s:.0f} s voice", f"{t_scan:.3f} s", f"{t_dec:.3f} s", f"{t_scan / t_dec:.2f}×", f"{audio_s / t_scan:.0f}× real time"))

    env = dict(os.environ)
    cold = lambda *a: subprocess.run([sys.executable, "-m", "unmask", *a], capture_output=True, env=env, check=False)
    t_python = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeats)
    t_help = median_time(lambda: cold("--help"), repeats)
    t_one = median_time(lambda: cold("scan", str(image_path)), repeats)
    rows.append(("CLI cold start: `unmask --help`", f"{t_help:.2f} s", f"{t_python:.2f} s (bare python)", f"{t_help / t_python:.1f}×", "target ≤ 2 s"))
    rows.append(("CLI cold start: one-image scan", f"{t_one:.2f} s", f"{t_python:.2f} s (bare python)", f"{t_one / t_python:.1f}×", "target ≤ 2 s"))

    print(f"unmask {unmask.__version__}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, detectors: "
          + ", ".join(c.name for c in scanner.cards))
    print()
    print("| measurement | scan | decode-only baseline | ratio | throughput |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
