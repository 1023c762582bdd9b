"""`unmask batch` on many small files: single process vs local processes vs Ray (2 local workers).

    python bench/bench_batch.py              # 1,000 files
    python bench/bench_batch.py --files 300 --size-px 512

Each mode runs the real `unmask batch` command in a fresh process, writing JSONL;
the figure is wall time including start-up (Ray's start-up is part of its cost),
as a ratio to the single-process run measured in the same invocation. The
records of every mode are compared with each other (verdict, probability and
findings per file must be identical).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(folder: Path, out: Path, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "unmask", "batch", str(folder), "--out", str(out), "--json", *extra], check=True, capture_output=True)
    return time.perf_counter() - t0


def records(out: Path) -> dict[str, tuple]:
    rows = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        rep = r["report"]
        rows[r["path"]] = (rep["verdict"], rep["probability"], tuple(f["summary"] for f in rep["findings"]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--size-px", type=int, default=32, help="side of each PNG (larger files make per-file work dominate)")
    args = ap.parse_args()
    from unmask.batch.testing import make_small_images

    tmp = Path(tempfile.mkdtemp(prefix="unmask-bench-batch-"))
    folder = tmp / "files"
    make_small_images(folder, args.files, size_px=args.size_px)
    modes = {
        "single process": (),
        "2 local processes (--workers 2)": ("--workers", "2"),
        "Ray Data, 2 local actors (--ray local --workers 2)": ("--ray", "local", "--workers", "2"),
    }
    results = {}
    for name, extra in modes.items():
        out = tmp / f"{len(results)}.jsonl"
        results[name] = (run(folder, out, *extra), records(out))
    base_s, base_rec = results["single process"]
    print(f"{args.files} files of {args.size_px}x{args.size_px} PNG, default detectors")
    print("| mode | wall | files/s | speed vs single process | records identical |")
    print("|---|---|---|---|---|")
    for name, (secs, rec) in results.items():
        print(f"| {name} | {secs:.1f} s | {args.files / secs:.0f} | {base_s / secs:.2f}× | {rec == base_rec} |")


if __name__ == "__main__":
    main()
