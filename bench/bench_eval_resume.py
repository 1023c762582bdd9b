"""`unmask eval` at scale: a 10,000-item labels.csv of small images, killed halfway, then resumed.

    python bench/bench_eval_resume.py              # 10,000 items, kill after 40 % is cached
    python bench/bench_eval_resume.py --items 2000

Runs the real `unmask eval` command (real scans, every registered detector) in a
subprocess, SIGKILLs it once a share of the items is in its cache, runs it again,
and checks that the second run scored only the missing items and that no item
was scored twice. Peak memory is the child's VmHWM, sampled every 0.1 s.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_eval(root: Path, out: Path, kill_at_lines: int | None) -> dict:
    cmd = [sys.executable, "-m", "unmask", "eval", str(root), "--out", str(out), "--bootstrap", "200"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak_kib, killed = 0, False
    cache = out / "scores.jsonl"
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kib = max(peak_kib, next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")))
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            pass
        if kill_at_lines is not None and cache.exists() and sum(1 for _ in cache.open()) >= kill_at_lines:
            proc.send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.1)
    stdout = proc.stdout.read() if proc.stdout else ""
    return {"seconds": time.perf_counter() - t0, "peak_mib": peak_kib / 1024, "killed": killed, "rc": proc.returncode, "stdout": stdout}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--kill-at", type=float, default=0.4, help="share of items cached when the first run is killed")
    args = ap.parse_args()
    from unmask.testing.datasets import make_image_set

    tmp = Path(tempfile.mkdtemp(prefix="unmask-eval-resume-"))
    root = make_image_set(tmp / "set", n_real=args.items // 2, n_fake=args.items - args.items // 2, size_px=16)
    out = tmp / "out"
    first = run_eval(root, out, kill_at_lines=int(args.items * args.kill_at))
    cached_after_kill = sum(1 for _ in (out / "scores.jsonl").open())
    second = run_eval(root, out, kill_at_lines=None)
    keys = [json.loads(line)["key"] for line in (out / "scores.jsonl").open() if line.strip()]
    summary = next((ln for ln in second["stdout"].splitlines() if "Scored now" in ln), "")
    print(f"items: {args.items}; first run killed: {first['killed']} after {first['seconds']:.1f} s with {cached_after_kill} cached "
          f"(peak {first['peak_mib']:.0f} MiB)")
    print(f"resumed run: exit {second['rc']}, {second['seconds']:.1f} s, peak {second['peak_mib']:.0f} MiB")
    print(f"cache lines: {len(keys)}, unique keys: {len(set(keys))} (duplicates: {len(keys) - len(set(keys))})")
    print(summary.strip())


if __name__ == "__main__":
    main()
