"""Where batch results go: JSONL, a SQLite table or a PostgreSQL table.

Every sink answers ``done_keys()`` (the (path, sha256) pairs it holds) so a rerun
skips them, and writes records so that a kill loses at most the records not yet
flushed — never corrupts the ones before.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Protocol

from unmask.errors import UsageError

TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Records written per SQL transaction: one fsync per record would make SQLite the
# bottleneck on small files; a kill loses at most this many, which a rerun redoes.
SQL_FLUSH_RECORDS = 64
SQL_FLUSH_S = 2.0


class Sink(Protocol):
    def done_keys(self) -> set[tuple[str, str]]: ...
    def write(self, record: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


def make_record(path: str, sha256: str | None, label: int | None, report: dict[str, Any]) -> dict[str, Any]:
    return {"path": path, "sha256": sha256 or "", "label": label, "verdict": report["verdict"], "probability": report["probability"], "report": report}


class JsonlSink:
    """One JSON object per line, appended and flushed per record."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # A kill mid-write leaves a partial last line; cut it so appends start clean.
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            fh.truncate(data.rfind(b"\n") + 1)

    def done_keys(self) -> set[tuple[str, str]]:
        done = set()
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                done.add((rec["path"], rec["sha256"]))
        return done

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


class SqlSink:
    """A table ``(path, sha256, label, verdict, probability, report JSON, finished_at)`` in SQLite or PostgreSQL."""

    def __init__(self, url: str, table: str = "unmask_batch_results") -> None:
        from unmask.server.store import Database

        if not TABLE_RE.match(table):
            raise UsageError(f"--table {table!r} is not a plain SQL identifier", hint="letters, digits and _ only")
        self.table = table
        self.db = Database(url)
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (path TEXT NOT NULL, sha256 TEXT NOT NULL, label INTEGER, verdict TEXT, "
            "probability DOUBLE PRECISION, report TEXT NOT NULL, finished_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (path, sha256))"
        )
        self._pending: list[tuple[Any, ...]] = []
        self._last_flush = time.monotonic()

    def done_keys(self) -> set[tuple[str, str]]:
        return {(p, s) for p, s in self.db.execute(f"SELECT path, sha256 FROM {self.table}").fetchall()}

    def write(self, record: dict[str, Any]) -> None:
        self._pending.append(
            (record["path"], record["sha256"], record["label"], record["verdict"], record["probability"], json.dumps(record["report"]), time.time())
        )
        if len(self._pending) >= SQL_FLUSH_RECORDS or time.monotonic() - self._last_flush > SQL_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            query = self.db.sql(
                f"INSERT INTO {self.table} (path, sha256, label, verdict, probability, report, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (path, sha256) DO NOTHING"
            )
            with self.db.transaction() as conn:
                if self.db.postgres:
                    with conn.cursor() as cur:
                        cur.executemany(query, self._pending)
                else:
                    conn.executemany(query, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        self.db.close()


def open_sink(out: str, *, table: str = "unmask_batch_results") -> Sink:
    """``*.jsonl`` → JSONL; ``postgresql://…`` → PostgreSQL; ``*.sqlite``/``*.sqlite3``/``*.db`` → SQLite."""
    from unmask.server.store import is_postgres_url

    if is_postgres_url(out):
        return SqlSink(out, table)
    suffix = Path(out).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlSink(out)
    if suffix in (".sqlite", ".sqlite3", ".db") or out.startswith("sqlite:///"):
        return SqlSink(out, table)
    raise UsageError(f"--out {out}: say where results go", hint="a .jsonl file, a .sqlite/.db file or a postgresql:// URL")
