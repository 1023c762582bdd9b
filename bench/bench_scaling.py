"""How scan cost grows with media length, per modality: time, ratio to decode-only, peak memory.

    python bench/bench_scaling.py                 # audio 1/10/60 min, video 10 s/1 min/10 min (720p)
    python bench/bench_scaling.py --quick         # audio 1/10 min, video 10 s/1 min

Every measurement runs in a fresh Python process so that its peak resident
memory (VmHWM) is its own. "decode-only" is the same file fully decoded
(video frames to RGB, audio resampled to 16 kHz) in the same kind of process.
Constant ratios and flat memory across lengths mean the scan streams.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
kind, mode, path = sys.argv[1:4]
t0 = time.perf_counter()
if mode == "scan":
    import unmask
    unmask.scan(path)
elif kind == "video":
    import av
    with av.open(path) as c:
        s = c.streams.video[0]; s.thread_type = "AUTO"
        for f in c.decode(s):
            f.to_ndarray(format="rgb24")
else:
    import av
    with av.open(path) as c:
        r = av.AudioResampler(format="flt", layout="mono", rate=16000)
        for f in c.decode(c.streams.audio[0]):
            r.resample(f)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"s": time.perf_counter() - t0, "peak_mib": hwm_kib / 1024}))
"""


def measure(kind: str, mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from unmask.testing.media import make_audio, make_video

    audio_min = (1, 10) if args.quick else (1, 10, 60)
    video_s = (10, 60) if args.quick else (10, 60, 600)
    tmp = Path(tempfile.mkdtemp(prefix="unmask-scaling-"))
    rows = []
    for minutes in audio_min:
        p = tmp / f"audio_{minutes}min.flac"
        make_audio(p, fmt="flac", seconds=minutes * 60.0, sample_rate_hz=16000)
        scan, dec = measure("audio", "scan", p), measure("audio", "decode", p)
        rows.append(("audio (16 kHz FLAC)", f"{minutes} min", minutes * 60.0, scan, dec))
    for seconds in video_s:
        p = tmp / f"video_{seconds}s.mp4"
        make_video(p, container="mp4", seconds=float(seconds), fps=25, size=(1280, 720), with_audio=True)
        scan, dec = measure("video", "scan", p), measure("video", "decode", p)
        rows.append(("video (720p H.264 + AAC)", f"{seconds} s", float(seconds), scan, dec))

    print("| media | length | scan | decode-only | ratio | × real time | scan peak RSS | decode peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, length, secs, scan, dec in rows:
        print(
            f"| {kind} | {length} | {scan['s']:.2f} s | {dec['s']:.2f} s | {scan['s'] / dec['s']:.2f}× | {secs / scan['s']:.0f}× | "
            f"{scan['peak_mib']:.0f} MiB | {dec['peak_mib']:.0f} MiB |"
        )


if __name__ == "__main__":
    main()
