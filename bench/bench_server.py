"""Load test of ``unmask serve`` on loopback: concurrent uploads, lost/duplicated jobs, latency.

Runs a real server (subprocess) with a private data dir, posts N uploads with at most
C in flight (a bounded asyncio loop), polls each job until it is done, and reports
p50/p95 latency to "accepted" (the 202) and to "done". Then the same again while one
worker process is killed with SIGKILL mid-run. Checks, from the job table itself,
that every 202 is exactly one row and every row finished.

    python bench/bench_server.py                       # 200 uploads, 50 in flight, 2 workers, SQLite
    python bench/bench_server.py --db postgresql       # the same on a private PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from unmask.server import testing as server_testing  # noqa: E402
from unmask.server.store import JobStore  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def one(client: httpx.AsyncClient, sem: asyncio.Semaphore, data: bytes, i: int, poll_s: float) -> dict:
    async with sem:
        t0 = time.perf_counter()
        r = await client.post("/v1/scans", files={"file": (f"img{i}.png", data, "image/png")})
        t_acc = time.perf_counter() - t0
        if r.status_code != 202:
            return {"i": i, "error": r.status_code}
        job_id = r.json()["id"]
    while True:  # polling outside the semaphore: "in flight" bounds uploads, not waits
        await asyncio.sleep(poll_s)
        try:
            j = (await client.get(f"/v1/scans/{job_id}")).json()
        except httpx.TransportError:  # a reused keep-alive connection the server just closed: poll again
            continue
        if j["status"] in ("done", "failed"):
            return {"i": i, "id": job_id, "accepted_s": t_acc, "done_s": time.perf_counter() - t0, "status": j["status"]}


async def load(url: str, images: list[bytes], concurrency: int, on_half=None) -> tuple[list[dict], float]:
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, trust_env=False) as client:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(one(client, sem, data, i, 0.05)) for i, data in enumerate(images)]
        if on_half is not None:
            await asyncio.sleep(0.5)
            on_half()
        results = await asyncio.gather(*tasks)
    return results, time.perf_counter() - t0


def run_case(name: str, data_dir: Path, db_url: str | None, images: list[bytes], args: argparse.Namespace, kill_worker: bool) -> dict:
    extra = ["--workers", str(args.workers), "--rate-limit", "0", "--lease-s", "10"] + (["--db", db_url] if db_url else [])
    server = server_testing.start_server(data_dir, *extra)
    killed: list[int] = []

    def kill() -> None:
        pids = server.worker_pids()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    try:
        results, wall_s = asyncio.run(load(server.url, images, args.concurrency, kill if kill_worker else None))
        metrics = httpx.get(server.url + "/metrics", trust_env=False).text
    finally:
        server.stop()
    store = JobStore(db_url or str(data_dir / "jobs.sqlite3"))
    rows = store.all_jobs()
    accepted = [r["id"] for r in results if "id" in r]
    row_ids = [r.id for r in rows]
    restarts = next((int(line.split()[-1]) for line in metrics.splitlines() if line.startswith("unmask_worker_restarts_total")), 0)
    return {
        "case": name,
        "uploads": len(images),
        "accepted": len(accepted),
        "rejected": sum("error" in r for r in results),
        "lost": len(set(accepted) - set(row_ids)) + sum(r.status not in ("done",) for r in rows),
        "duplicated": len(row_ids) - len(set(row_ids)) + (len(rows) - len(set(accepted))),
        "workers_killed": len(killed),
        "worker_restarts": restarts,
        "accepted_p50_ms": round(1000 * pct([r["accepted_s"] for r in results if "id" in r], 50), 1),
        "accepted_p95_ms": round(1000 * pct([r["accepted_s"] for r in results if "id" in r], 95), 1),
        "done_p50_ms": round(1000 * pct([r["done_s"] for r in results if "id" in r], 50), 1),
        "done_p95_ms": round(1000 * pct([r["done_s"] for r in results if "id" in r], 95), 1),
        "wall_s": round(wall_s, 2),
        "throughput_per_s": round(len(accepted) / wall_s, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=50, help="uploads in flight at once")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size-px", type=int, default=256, help="side of each PNG (256 px ≈ 10 ms to scan here)")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="unmask-bench-"))
    # distinct files (the server does not dedupe, but distinct content is the realistic case)
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for i in range(args.uploads):
        p = tmp / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (args.size_px, args.size_px, 3), dtype=np.uint8)).save(p)
        images.append(p.read_bytes())

    out = []
    for kill_worker in (False, True):
        name = "worker killed mid-run" if kill_worker else "steady"
        if args.db == "postgresql":
            with server_testing.temporary_postgres() as url:
                out.append(run_case(name, tmp / f"data-{int(kill_worker)}", url, images, args, kill_worker))
        else:
            out.append(run_case(name, tmp / f"data-{int(kill_worker)}", None, images, args, kill_worker))
    env = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(), "db": args.db,
           "uploads": args.uploads, "concurrency": args.concurrency, "workers": args.workers, "size_px": args.size_px}
    print(json.dumps({"env": env, "results": out}, indent=1))
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 and r["accepted"] == r["uploads"] for r in out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
