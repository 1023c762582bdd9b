"""`unmask serve`'s HTTP API with real worker processes (FastAPI TestClient is the only fake: the transport)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from unmask.config import Limits, ScanOptions  # noqa: E402
from unmask.server.app import create_app  # noqa: E402
from unmask.server.settings import ServerSettings  # noqa: E402
from unmask.server.store import JobStore  # noqa: E402
from unmask.testing.metadata import make_a1111_png, make_plain_image  # noqa: E402


def settings_for(tmp_path, **kw) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", db_url=str(tmp_path / "data" / "jobs.sqlite3"), workers=1, lease_s=5.0, **kw)


def wait_done(client: TestClient, job_id: str, headers: dict | None = None, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/scans/{job_id}", headers=headers or {}).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {job}")


def test_cli_help_does_not_import_server_stack():
    code = "import sys, unmask.cli as c; c._build_parser(); print(','.join(m for m in ('fastapi', 'uvicorn', 'starlette', 'psycopg', 'ray', 'pydantic') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""


def test_upload_is_scanned_by_a_worker_and_reported(tmp_path):
    fake = make_a1111_png(tmp_path / "fake.png")
    plain = make_plain_image(tmp_path / "plain.png")
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/scans", files={"file": ("../../etc/passwd fake.png", fake.read_bytes(), "image/png")})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/v1/scans/{job_id}"
        assert client.get(f"/v1/scans/{job_id}").json()["status"] in ("queued", "running", "done")
        job = wait_done(client, job_id)
        assert job["status"] == "done"
        # The A1111 "parameters" chunk declares generation: the same verdict a local scan gives.
        import unmask

        local = unmask.scan(fake)
        assert job["verdict"] == job["report"]["verdict"] == local.verdict.value == "likely_manipulated"
        strip = lambda fs: [{k: v for k, v in f.items() if k != "timings_ms"} for f in fs]  # noqa: E731
        assert strip(job["report"]["findings"]) == strip(local.to_dict()["findings"])
        assert job["report"]["reasons"] == list(local.reasons)
        # the client's name is display text only: kept as its last component, never a path
        assert job["filename"] == "passwd fake.png"
        assert not list((settings.data_dir).rglob("passwd*"))
        page = client.get(f"/v1/scans/{job_id}/report.html")
        assert page.status_code == 200 and "LIKELY MANIPULATED" in page.text and "passwd fake.png" in page.text
        # uploads are deleted once scanned (default retention of uploads: 0 s)
        assert not settings.upload_path(job_id).exists()

        job2 = wait_done(client, client.post("/v1/scans", files={"file": ("plain.png", plain.read_bytes())}).json()["id"])
        assert job2["verdict"] == unmask.scan(plain).verdict.value
        history = client.get("/v1/scans").json()["scans"]
        assert [h["id"] for h in history] == [job2["id"], job_id]
        assert "report" not in history[0]

        assert {d["name"] for d in client.get("/v1/detectors").json()} >= {"c2pa", "watermark", "metadata"}
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["workers_alive"] == 1 and health["jobs"]["done"] == 2
        metrics = client.get("/metrics").text
        assert 'unmask_jobs{status="done"} 2' in metrics
        assert 'unmask_uploads_total{outcome="accepted"} 2' in metrics
        assert "/docs" in client.get("/docs").text or client.get("/openapi.json").json()["paths"]["/v1/scans"]


def test_bad_uploads_get_json_errors_without_tracebacks(tmp_path):
    settings = settings_for(tmp_path, options=ScanOptions(limits=Limits(max_file_bytes=10_000)))
    big = make_plain_image(tmp_path / "big.png", width_px=400, height_px=300)
    assert big.stat().st_size > 10_000
    with TestClient(create_app(settings, start_workers=False), raise_server_exceptions=False) as client:
        cases = {
            "empty": (client.post("/v1/scans", files={"file": ("e.png", b"")}), 422, "bad-input"),
            "not media": (client.post("/v1/scans", files={"file": ("x.png", b"#!/bin/sh\necho hi\n" * 10)}), 422, "unsupported-media"),
            "too large": (client.post("/v1/scans", files={"file": ("big.png", big.read_bytes())}), 413, "limit-exceeded"),
            "no file field": (client.post("/v1/scans", data={"x": "1"}), 422, "bad-request"),
            "unknown id": (client.get("/v1/scans/" + "0" * 32), 404, "not-found"),
            "path-like id": (client.get("/v1/scans/..%2F..%2Fetc"), 404, "not-found"),
        }
        for name, (r, status, ref) in cases.items():
            assert r.status_code == status, (name, r.text)
            assert r.json()["error"]["reference"] == ref, name
            assert "Traceback" not in r.text and 'File "' not in r.text, name
        # nothing rejected became a job or a file
        assert JobStore(settings.db_url).counts()["queued"] == 0
        leftovers = [p for p in settings.data_dir.rglob("*") if p.is_file() and (p.parent.name == "incoming" or settings.uploads_dir in p.parents)]
        assert leftovers == []


def test_api_keys_scope_jobs_and_rate_limit(tmp_path):
    settings = settings_for(tmp_path, require_keys=True, uploads_per_min=3)
    store = JobStore(settings.db_url)
    (alice, alice_token), (_, bob_token) = store.create_key("alice"), store.create_key("bob")
    photo = make_plain_image(tmp_path / "p.png").read_bytes()
    with TestClient(create_app(settings, start_workers=False)) as client:
        r = client.post("/v1/scans", files={"file": ("p.png", photo)})
        assert r.status_code == 401 and r.json()["error"]["reference"] == "api-key-required"
        assert client.get("/v1/scans", headers={"Authorization": "Bearer umk_nope"}).status_code == 401
        a = {"Authorization": f"Bearer {alice_token}"}
        job_id = client.post("/v1/scans", files={"file": ("p.png", photo)}, headers=a).json()["id"]
        assert client.get(f"/v1/scans/{job_id}", headers=a).status_code == 200
        # bob cannot see alice's scan, nor tell it from a missing one
        b = {"X-API-Key": bob_token}
        assert client.get(f"/v1/scans/{job_id}", headers=b).status_code == 404
        assert client.get("/v1/scans", headers=b).json()["scans"] == []
        assert [s["id"] for s in client.get("/v1/scans", headers=a).json()["scans"]] == [job_id]
        # 3 uploads per minute per key: alice has used 1; the 4th is refused, bob is unaffected
        assert [client.post("/v1/scans", files={"file": ("p.png", photo)}, headers=a).status_code for _ in range(3)] == [202, 202, 429]
        limited = client.post("/v1/scans", files={"file": ("p.png", photo)}, headers=a)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert client.post("/v1/scans", files={"file": ("p.png", photo)}, headers=b).status_code == 202
        # health and metrics stay open for probes; the page loads without a key
        assert client.get("/metrics").status_code == 200 and client.get("/").status_code == 200
        assert store.revoke_key(alice.id)
        assert client.get("/v1/scans", headers=a).status_code == 401
    # only hashes are stored
    rows = store.db.execute("SELECT token_sha256 FROM unmask_api_keys").fetchall()
    assert alice_token not in {r[0] for r in rows} and len(rows) == 2


def test_keys_command_and_serve_refuses_public_bind_without_keys(tmp_path):
    from tests.conftest import run_unmask

    data = str(tmp_path / "d")
    out = run_unmask("serve", "--host", "0.0.0.0", "--port", "9", "--data-dir", data)
    assert out.returncode == 2 and "API keys are required" in out.stderr and "Traceback" not in out.output
    created = run_unmask("keys", "create", "newsroom", "--data-dir", data)
    assert created.returncode == 0 and created.stdout.startswith("umk_")
    listed = run_unmask("keys", "list", "--json", "--data-dir", data)
    import json

    (key,) = json.loads(listed.stdout)
    assert key["name"] == "newsroom" and created.stdout.strip() not in listed.stdout
    assert run_unmask("keys", "revoke", key["id"], "--data-dir", data).returncode == 0
    assert run_unmask("keys", "revoke", key["id"], "--data-dir", data).returncode == 2
