"""The job table as a queue, on SQLite and on a real PostgreSQL: atomic claims, leases, retries, retention."""

from __future__ import annotations

import threading
import time

import pytest

from unmask.server import testing as server_testing
from unmask.server.settings import ServerSettings
from unmask.server.store import MAX_ATTEMPTS, JobStore


@pytest.fixture(scope="module")
def postgres_url():
    reason = server_testing.why_unavailable()
    if reason:
        pytest.skip(reason)
    with server_testing.temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "jobs.sqlite3")
    url = request.getfixturevalue("postgres_url")
    store = JobStore(url)
    store.db.execute("DELETE FROM unmask_jobs")
    store.db.execute("DELETE FROM unmask_api_keys")
    store.close()
    return url


def add_jobs(store: JobStore, n: int) -> list[str]:
    ids = [f"{i:032x}" for i in range(1, n + 1)]
    for job_id in ids:
        store.create_job(job_id, filename=f"f{job_id[-3:]}.png", size_bytes=1, sha256="0" * 64, key_id=None)
    return ids


def test_concurrent_workers_claim_each_job_exactly_once(db_url):
    ids = add_jobs(JobStore(db_url), 60)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        store = JobStore(db_url)  # own connection, as a worker process has
        while (job := store.claim(name, lease_s=60)) is not None:
            assert store.finish(job.id, name, status="done", report={"verdict": "uncertain", "probability": None})
            with lock:
                claimed.append((job.id, name))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(j for j, _ in claimed) == ids  # none lost, none twice
    assert JobStore(db_url).counts() == {"queued": 0, "running": 0, "done": 60, "failed": 0}


def test_expired_lease_hands_the_job_to_another_worker(db_url):
    store = JobStore(db_url)
    (job_id,) = add_jobs(store, 1)
    first = store.claim("w-dead", lease_s=0.3)
    assert first.id == job_id and first.attempts == 1
    assert store.claim("w-live", lease_s=60) is None  # lease still held
    time.sleep(0.4)
    second = store.claim("w-live", lease_s=60)
    assert second.id == job_id and second.attempts == 2 and second.status == "running"
    # the slow first worker can no longer renew or overwrite the outcome
    assert not store.renew(job_id, "w-dead", lease_s=60)
    assert not store.finish(job_id, "w-dead", status="done", report={"verdict": "uncertain", "probability": None})
    assert store.finish(job_id, "w-live", status="done", report={"verdict": "likely_manipulated", "probability": 0.99})
    assert store.get(job_id).verdict == "likely_manipulated"


def test_dead_worker_jobs_are_requeued_and_a_poison_file_fails_after_max_attempts(db_url, tmp_path):
    from unmask.server.worker import run_job

    store = JobStore(db_url)
    (job_id,) = add_jobs(store, 1)
    settings = ServerSettings(data_dir=tmp_path, db_url=db_url, lease_s=60)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job = store.claim(f"w{attempt}", lease_s=60)
        assert job.attempts == attempt
        assert store.requeue_worker(f"w{attempt}") == 1  # the worker "died" mid-scan
    job = store.claim("w-last", lease_s=60)
    assert job.attempts == MAX_ATTEMPTS + 1
    assert run_job(store, None, settings, job, "w-last") == "failed"  # never handed to the scanner again
    final = store.get(job_id)
    assert final.status == "failed" and final.error["reference"] == "worker-crashed" and final.report is None


def test_retention_deletes_old_uploads_then_old_reports(db_url, tmp_path):
    from unmask.server.app import purge

    store = JobStore(db_url)
    settings = ServerSettings(data_dir=tmp_path, db_url=db_url, keep_uploads_s=3600, retention_s=7200)
    ids = add_jobs(store, 3)
    for job_id in ids:
        settings.upload_path(job_id).parent.mkdir(parents=True, exist_ok=True)
        settings.upload_path(job_id).write_bytes(b"x")
        job = store.claim("w", lease_s=60)
        store.finish(job.id, "w", status="done", report={"verdict": "uncertain", "probability": None})
    now = time.time()
    # ages since finishing: 10 s, 1.5 h (past keep_uploads), 3 h (past retention)
    for job_id, age_s in zip(ids, (10, 5400, 3 * 3600)):
        store.db.execute("UPDATE unmask_jobs SET finished_at = ? WHERE id = ?", (now - age_s, job_id))
    assert purge(store, settings) == {"uploads_deleted": 2, "jobs_expired": 1}
    assert [settings.upload_path(i).exists() for i in ids] == [True, False, False]
    assert store.get(ids[0]) is not None and store.get(ids[1]).upload_deleted and store.get(ids[2]) is None


def test_api_keys_are_stored_hashed_and_revocable(db_url):
    store = JobStore(db_url)
    key, token = store.create_key("desk")
    assert store.verify_token(token) == key.id and store.verify_token(token + "x") is None
    assert store.active_key_count() == 1
    assert store.revoke_key(key.id) and not store.revoke_key(key.id)
    assert store.verify_token(token) is None and store.active_key_count() == 0
