"""The durable job table and the API keys, in SQLite (WAL) or PostgreSQL.

The job table is the queue. An upload becomes a ``queued`` row before the client
hears 202; a worker claims the oldest claimable row in one atomic statement
(SQLite: ``UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING``, serialised by
SQLite's single writer; PostgreSQL: the same with ``FOR UPDATE SKIP LOCKED``) and
holds a lease it renews while scanning. A row whose lease ran out (its worker or
the whole server was killed) is claimable again, so nothing accepted is lost;
a row claimed ``MAX_ATTEMPTS`` times without finishing is failed instead of
crashing workers forever.

This module imports only the standard library at top level; psycopg is imported
when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unmask.errors import UsageError

STATUSES = ("queued", "running", "done", "failed")

# A job that took down its worker this many times is failed rather than retried:
# a file that crashes the decoder would otherwise cycle through the pool forever.
MAX_ATTEMPTS = 3

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS unmask_jobs (
        id TEXT PRIMARY KEY,
        key_id TEXT,
        filename TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        lease_until DOUBLE PRECISION,
        worker TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        verdict TEXT,
        probability DOUBLE PRECISION,
        report TEXT,
        error TEXT,
        upload_deleted INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS unmask_jobs_status ON unmask_jobs (status, created_at)",
    "CREATE INDEX IF NOT EXISTS unmask_jobs_key ON unmask_jobs (key_id, created_at)",
    """CREATE TABLE IF NOT EXISTS unmask_api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    )""",
)

_JOB_COLUMNS = (
    "id, key_id, filename, size_bytes, sha256, status, created_at, started_at, finished_at, "
    "lease_until, worker, attempts, verdict, probability, report, error, upload_deleted"
)


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the job table; ``report`` and ``error`` are decoded JSON."""

    id: str
    key_id: str | None
    filename: str  # the client's name, for display only: never used to build a path
    size_bytes: int
    sha256: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    lease_until: float | None
    worker: str | None
    attempts: int
    verdict: str | None
    probability: float | None
    report: dict[str, Any] | None
    error: dict[str, Any] | None
    upload_deleted: bool

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Job":
        vals = list(row)
        vals[14] = json.loads(vals[14]) if vals[14] else None
        vals[15] = json.loads(vals[15]) if vals[15] else None
        vals[16] = bool(vals[16])
        return cls(*vals)

    def public(self, *, with_report: bool = True) -> dict[str, Any]:
        """What the API shows: no worker names, leases or key ids."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "filename": self.filename,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": self.verdict,
            "probability": self.probability,
        }
        if self.error:
            out["error"] = self.error
        if with_report and self.report is not None:
            out["report"] = self.report
        return out


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    created_at: float
    revoked_at: float | None


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: a slow KDF protects
    # guessable passwords, and nobody can brute-force 2**256 candidates.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class Database:
    """A connection per thread to one SQLite file or PostgreSQL URL, with ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = is_postgres_url(url)
        if not self.postgres:
            path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._pid = os.getpid()

    @property
    def kind(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    def _connect(self) -> Any:
        if self.postgres:
            try:
                import psycopg
            except ImportError as exc:
                raise UsageError("PostgreSQL needs psycopg", hint="pip install 'unmask[server]'") from exc
            try:
                return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as exc:
                # The message can contain the password from the URL: say only what to check.
                raise UsageError("cannot connect to the PostgreSQL database", hint="check the --db URL and that the server runs") from exc
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL fsyncs each commit: a 202 then means the row survives a power cut too, not
        # only a killed process (which NORMAL would already survive in WAL mode).
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @property
    def conn(self) -> Any:
        # Connections must not cross fork(): a worker process opens its own.
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.conn = self._connect()
            self._local.pid = os.getpid()
        return self._local.conn

    def sql(self, query: str) -> str:
        return query.replace("?", "%s") if self.postgres else query

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(self.sql(query), params)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        conn = self.conn
        if self.postgres:
            with conn.transaction():
                yield conn
        else:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()


class JobStore:
    """Jobs and API keys in one database; safe to share between threads and to reopen in worker processes.

    Parameters
    ----------
    url : str
        A SQLite file path (or ``sqlite:///path``) or a ``postgresql://`` URL.
    """

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        for stmt in _SCHEMA:
            self.db.execute(stmt)

    @property
    def url(self) -> str:
        return self.db.url

    # -- jobs ---------------------------------------------------------------

    def create_job(self, job_id: str, *, filename: str, size_bytes: int, sha256: str, key_id: str | None) -> None:
        """Record an accepted upload as ``queued`` (committed when this returns)."""
        self.db.execute(
            "INSERT INTO unmask_jobs (id, key_id, filename, size_bytes, sha256, status, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)",
            (job_id, key_id, filename, size_bytes, sha256, time.time()),
        )

    def claim(self, worker: str, *, lease_s: float) -> Job | None:
        """Atomically take the oldest queued job, or a running one whose lease expired."""
        now = time.time()
        pick = "SELECT id FROM unmask_jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) ORDER BY created_at LIMIT 1"
        if self.db.postgres:
            pick += " FOR UPDATE SKIP LOCKED"
        row = self.db.execute(
            "UPDATE unmask_jobs SET status = 'running', worker = ?, lease_until = ?, started_at = ?, attempts = attempts + 1 "
            f"WHERE id = ({pick}) RETURNING {_JOB_COLUMNS}",
            (worker, now + lease_s, now, now),
        ).fetchone()
        return Job.from_row(row) if row else None

    def renew(self, job_id: str, worker: str, *, lease_s: float) -> bool:
        """Extend a lease; False when the job is no longer this worker's."""
        cur = self.db.execute(
            "UPDATE unmask_jobs SET lease_until = ? WHERE id = ? AND worker = ? AND status = 'running'",
            (time.time() + lease_s, job_id, worker),
        )
        return cur.rowcount == 1

    def finish(
        self,
        job_id: str,
        worker: str | None,
        *,
        status: str,
        report: dict[str, Any] | None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Store the outcome; False when another worker took the job over meanwhile."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish() takes status 'done' or 'failed', got {status!r}")
        query = (
            "UPDATE unmask_jobs SET status = ?, finished_at = ?, lease_until = NULL, verdict = ?, probability = ?, report = ?, error = ? "
            "WHERE id = ? AND status = 'running'"
        )
        params: tuple[Any, ...] = (
            status,
            time.time(),
            report.get("verdict") if report else None,
            report.get("probability") if report else None,
            json.dumps(report) if report is not None else None,
            json.dumps(error) if error is not None else None,
            job_id,
        )
        if worker is not None:
            query += " AND worker = ?"
            params += (worker,)
        return self.db.execute(query, params).rowcount == 1

    def requeue_worker(self, worker: str) -> int:
        """Put a dead worker's running jobs back in the queue at once (not waiting for the lease)."""
        return self.db.execute(
            "UPDATE unmask_jobs SET status = 'queued', lease_until = NULL, worker = NULL WHERE worker = ? AND status = 'running'",
            (worker,),
        ).rowcount

    def get(self, job_id: str) -> Job | None:
        row = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM unmask_jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def list_jobs(self, *, key_id: str | None, limit: int = 50) -> list[Job]:
        """A key's most recent jobs (``key_id=None``: jobs posted without a key)."""
        if key_id is None:
            rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM unmask_jobs WHERE key_id IS NULL ORDER BY created_at DESC LIMIT ?", (limit,))
        else:
            rows = self.db.execute(f"SELECT {_JOB_COLUMNS} FROM unmask_jobs WHERE key_id = ? ORDER BY created_at DESC LIMIT ?", (key_id, limit))
        return [Job.from_row(r) for r in rows.fetchall()]

    def all_jobs(self) -> list[Job]:
        return [Job.from_row(r) for r in self.db.execute(f"SELECT {_JOB_COLUMNS} FROM unmask_jobs ORDER BY created_at").fetchall()]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for status, n in self.db.execute("SELECT status, COUNT(*) FROM unmask_jobs GROUP BY status").fetchall():
            out[status] = int(n)
        return out

    def finished_with_upload(self, *, before: float) -> list[str]:
        """Ids of finished jobs whose upload is still on disk and finished before ``before``."""
        rows = self.db.execute(
            "SELECT id FROM unmask_jobs WHERE status IN ('done', 'failed') AND upload_deleted = 0 AND finished_at < ?", (before,)
        ).fetchall()
        return [r[0] for r in rows]

    def mark_upload_deleted(self, job_id: str) -> None:
        self.db.execute("UPDATE unmask_jobs SET upload_deleted = 1 WHERE id = ?", (job_id,))

    def expire(self, *, before: float) -> list[str]:
        """Delete finished jobs (and so their reports) that finished before ``before``; returns their ids."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM unmask_jobs WHERE status IN ('done', 'failed') AND finished_at < ?", (before,)).fetchall()]
        for job_id in ids:
            self.db.execute("DELETE FROM unmask_jobs WHERE id = ?", (job_id,))
        return ids

    # -- API keys -------------------------------------------------------------

    def create_key(self, name: str) -> tuple[ApiKey, str]:
        """A new key; the token is returned once and only its hash is stored."""
        key_id = secrets.token_hex(4)
        token = f"umk_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(id=key_id, name=name, created_at=time.time(), revoked_at=None)
        self.db.execute(
            "INSERT INTO unmask_api_keys (id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)",
            (key.id, key.name, hash_token(token), key.created_at),
        )
        return key, token

    def list_keys(self) -> list[ApiKey]:
        rows = self.db.execute("SELECT id, name, created_at, revoked_at FROM unmask_api_keys ORDER BY created_at").fetchall()
        return [ApiKey(*r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        return self.db.execute("UPDATE unmask_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)).rowcount == 1

    def active_key_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM unmask_api_keys WHERE revoked_at IS NULL").fetchone()[0])

    def verify_token(self, token: str) -> str | None:
        """The key id for a valid, unrevoked token, else None."""
        row = self.db.execute(
            "SELECT id FROM unmask_api_keys WHERE token_sha256 = ? AND revoked_at IS NULL", (hash_token(token),)
        ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.db.close()
