"""`unmask batch`: same results as scanning one by one, resumable after kill -9, JSONL / SQLite / PostgreSQL / Ray."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import run_unmask
from unmask._scan import scan_or_error
from unmask.batch.runner import run_batch
from unmask.batch.sinks import JsonlSink, SqlSink
from unmask.batch.sources import iter_items
from unmask.batch.testing import make_small_images


def comparable(report: dict) -> dict:
    """A report without timings, the only part that differs between two scans of one file."""
    out = {k: v for k, v in report.items() if k != "timings_ms"}
    out["findings"] = [{k: v for k, v in f.items() if k != "timings_ms"} for f in report["findings"]]
    return out


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    folder = tmp_path_factory.mktemp("thousand")
    return folder, make_small_images(folder, 1000, broken_every=100)


def test_batch_of_1000_matches_scanning_one_by_one(thousand, tmp_path):
    folder, files = thousand
    out = run_unmask("batch", str(folder), "--out", str(tmp_path / "r.jsonl"), "--json", timeout_s=300)
    assert out.returncode == 3, out.stderr  # ten broken files: exit code of unreadable input
    summary = json.loads(out.stdout)
    assert (summary["total"], summary["skipped"], summary["scanned"], summary["errors"]) == (1000, 0, 1000, 10)
    records = read_jsonl(tmp_path / "r.jsonl")
    assert sorted(r["path"] for r in records) == sorted(str(f) for f in files)
    for rec in records:
        assert comparable(rec["report"]) == comparable(scan_or_error(rec["path"]).to_dict()), rec["path"]
        assert rec["verdict"] == rec["report"]["verdict"] and rec["probability"] == rec["report"]["probability"]
    assert sum(r["verdict"] == "error" for r in records) == 10
    # and against the real CLI for a readable and a broken file
    for f in (files[0], files[99]):
        cli = json.loads(run_unmask("scan", str(f), "--json").stdout)
        (rec,) = [r for r in records if r["path"] == str(f)]
        assert comparable(rec["report"]) == comparable(cli)


def test_batch_killed_midway_resumes_and_skips_done_items(thousand, tmp_path):
    folder, files = thousand
    out_path = tmp_path / "r.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "unmask", "batch", str(folder), "--out", str(out_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out_path.exists() and out_path.stat().st_size > 100 * 1024:  # ~ a hundred records
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sink = JsonlSink(out_path)  # cuts a record half-written at the kill
    done_before = sink.done_keys()
    sink.close()
    assert 0 < len(done_before) < 1000, len(done_before)
    rerun = run_unmask("batch", str(folder), "--out", str(out_path), "--json", timeout_s=300)
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == len(done_before) and summary["scanned"] == 1000 - len(done_before)
    records = read_jsonl(out_path)
    assert len(records) == 1000 and len({(r["path"], r["sha256"]) for r in records}) == 1000


def test_labels_csv_into_sqlite_resumes_and_rescans_changed_files(tmp_path):
    files = make_small_images(tmp_path / "m", 12)
    (tmp_path / "m" / "labels.csv").write_text("path,label\n" + "".join(f"{f.name},{'fake' if i % 2 else 'real'}\n" for i, f in enumerate(files)))
    db = tmp_path / "results.sqlite"
    first = run_unmask("batch", str(tmp_path / "m" / "labels.csv"), "--out", str(db), "--table", "run1", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["scanned"] == 12
    rows = sqlite3.connect(db).execute("SELECT path, label, verdict, report FROM run1 ORDER BY path").fetchall()
    assert [r[1] for r in rows] == [i % 2 for i in range(12)]
    assert all(json.loads(r[3])["verdict"] == r[2] == scan_or_error(r[0]).verdict.value for r in rows)
    # a file changed since: its content hash differs, so it is scanned again; the rest are skipped
    make_small_images(tmp_path / "other", 1, seed=99)[0].replace(files[3])
    again = json.loads(run_unmask("batch", str(tmp_path / "m" / "labels.csv"), "--out", str(db), "--table", "run1", "--json").stdout)
    assert (again["skipped"], again["scanned"]) == (11, 1)
    assert run_unmask("batch", str(tmp_path / "m"), "--out", str(db), "--table", "x; DROP TABLE run1").returncode == 2


def test_file_list_into_postgresql(tmp_path):
    from unmask.server import testing as server_testing

    reason = server_testing.why_unavailable()
    if reason:
        pytest.skip(reason)
    files = make_small_images(tmp_path / "m", 20, broken_every=10)
    (tmp_path / "list.txt").write_text("# one path per line\n" + "\n".join(f"m/{f.name}" for f in files) + "\n")
    with server_testing.temporary_postgres() as url:
        s1 = run_batch(iter_items([str(tmp_path / "list.txt")]), SqlSink(url))
        s2 = run_batch(iter_items([str(tmp_path / "list.txt")]), SqlSink(url))
        sink = SqlSink(url)
        rows = sink.db.execute("SELECT path, verdict, report FROM unmask_batch_results").fetchall()
        sink.close()
    assert (s1.scanned, s1.errors, s2.skipped, s2.scanned) == (20, 2, 20, 0)
    assert len(rows) == 20
    for path, verdict, report in rows:
        assert comparable(json.loads(report)) == comparable(scan_or_error(path).to_dict()) and verdict == json.loads(report)["verdict"]


def test_ray_pipeline_with_two_actors_gives_the_same_records(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    files = make_small_images(tmp_path / "m", 48, broken_every=16)
    local = run_batch(iter_items([str(tmp_path / "m")]), JsonlSink(tmp_path / "local.jsonl"))
    ray_summary = run_batch(iter_items([str(tmp_path / "m")]), JsonlSink(tmp_path / "ray.jsonl"), workers=2, ray_address="local")
    assert (ray_summary.scanned, ray_summary.errors) == (local.scanned, local.errors) == (48, 3)
    by_path = {r["path"]: r for r in read_jsonl(tmp_path / "local.jsonl")}
    ray_records = read_jsonl(tmp_path / "ray.jsonl")
    assert sorted(r["path"] for r in ray_records) == sorted(str(f) for f in files)
    for rec in ray_records:
        assert comparable(rec["report"]) == comparable(by_path[rec["path"]]["report"])
        assert rec["sha256"] == by_path[rec["path"]]["sha256"]
