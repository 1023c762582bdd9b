"""Durability of `unmask serve`: kill -9 the whole server, or one worker, mid-run; nothing accepted is lost."""

from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from unmask.server import testing as server_testing  # noqa: E402
from unmask.server.store import JobStore  # noqa: E402
from unmask.testing.metadata import make_plain_image  # noqa: E402

# 1024 px PNGs take ~0.15 s each to scan here, so a dozen keep one worker busy for
# about two seconds: long enough that the kill lands with jobs queued and running.
N_UPLOADS = 12


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    return make_plain_image(tmp_path_factory.mktemp("m") / "photo.png", width_px=1024, height_px=1024).read_bytes()


def post_all(url: str, data: bytes, n: int) -> list[str]:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        ids = []
        for i in range(n):
            r = client.post("/v1/scans", files={"file": (f"photo{i}.png", data, "image/png")})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


def wait_all_finished(url: str, ids: list[str], timeout_s: float = 60) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        while time.monotonic() < deadline:
            jobs = {i: client.get(f"/v1/scans/{i}").json() for i in ids}
            if all(j["status"] in ("done", "failed") for j in jobs.values()):
                return jobs
            time.sleep(0.2)
    raise AssertionError(f"not finished: {[j['status'] for j in jobs.values()]}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_then_restart_loses_nothing(tmp_path, photo, backend, request):
    args: list[str] = ["--workers", "1", "--lease-s", "3"]
    if backend == "postgresql":
        reason = server_testing.why_unavailable()
        if reason:
            pytest.skip(reason)
        pg = server_testing.temporary_postgres()
        db_url = pg.__enter__()
        request.addfinalizer(lambda: pg.__exit__(None, None, None))
        args += ["--db", db_url]
    else:
        db_url = str(tmp_path / "data" / "jobs.sqlite3")
    server = server_testing.start_server(tmp_path / "data", *args)
    try:
        ids = post_all(server.url, photo, N_UPLOADS)
    finally:
        server.kill9()
    # every 202 is a row, and the kill came before the single worker could finish them all
    store = JobStore(db_url)
    rows = {j.id: j for j in store.all_jobs()}
    assert sorted(rows) == sorted(ids)
    assert sum(j.status in ("queued", "running") for j in rows.values()) > 0, [j.status for j in rows.values()]

    server = server_testing.start_server(tmp_path / "data", *args)
    try:
        jobs = wait_all_finished(server.url, ids)
    finally:
        server.stop()
    import unmask

    expected = unmask.scan(photo).verdict.value  # whatever the detectors say, the same as a local scan
    assert all(j["status"] == "done" and j["verdict"] == expected for j in jobs.values()), jobs
    assert len(store.all_jobs()) == N_UPLOADS  # no duplicates either
    assert "Traceback" not in server.log()


def test_killed_worker_is_replaced_and_its_job_finishes(tmp_path, photo):
    server = server_testing.start_server(tmp_path / "data", "--workers", "2", "--lease-s", "30")
    try:
        ids = post_all(server.url, photo, N_UPLOADS)
        victims = server.worker_pids()
        assert len(victims) == 2, victims
        os.kill(victims[0], signal.SIGKILL)
        # lease is 30 s: finishing well before that shows the supervisor requeued the job at once
        t0 = time.monotonic()
        jobs = wait_all_finished(server.url, ids, timeout_s=25)
        assert time.monotonic() - t0 < 25
        assert all(j["status"] == "done" for j in jobs.values())
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            metrics = client.get("/metrics").text
            health = client.get("/healthz").json()
        assert "unmask_worker_restarts_total 1" in metrics
        assert health["workers_alive"] == 2
        assert len(set(server.worker_pids()) - set(victims)) >= 1
    finally:
        server.stop()
    assert len(JobStore(str(tmp_path / "data" / "jobs.sqlite3")).all_jobs()) == N_UPLOADS
