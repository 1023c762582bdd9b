"""Helpers for tests and benchmarks: a real ``unmask serve`` subprocess, a throw-away PostgreSQL.

``initdb`` refuses to run as root, so under root PostgreSQL runs as the
``postgres`` user (created by Debian's package) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import signal
import subprocess
import sys
import time
import urllib.request
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin_dir() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(cand, "initdb"), os.X_OK) and os.access(os.path.join(cand, "pg_ctl"), os.X_OK):
            return Path(cand)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    return None


def _run_as() -> list[str] | None:
    """Command prefix that drops root to the ``postgres`` user; [] when not root; None when impossible."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else None


def why_unavailable() -> str | None:
    """None when ``temporary_postgres`` can run here, else the reason (for a test skip)."""
    if postgres_bin_dir() is None:
        return "PostgreSQL binaries not installed (Debian: apt-get install postgresql)"
    if _run_as() is None:
        return "running as root without a 'postgres' user or runuser to drop privileges"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Start a private PostgreSQL on a free loopback port; yields its ``postgresql://`` URL.

    The cluster lives in a temporary folder, trusts local connections, runs with
    ``fsync=off`` (a test server need not survive power loss) and is removed on exit.
    """
    reason = why_unavailable()
    if reason:
        raise RuntimeError(reason)
    bin_dir = postgres_bin_dir()
    prefix = _run_as() or []
    root = Path(tempfile.mkdtemp(prefix="unmask-pg-"))
    data = root / "data"
    if prefix:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "unmask", "-A", "trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, env=env, timeout=120)
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True, env=env, timeout=90)
        try:
            yield f"postgresql://unmask@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, env=env, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()


class ServerProcess:
    """A running ``unmask serve`` in its own process group (so kill -9 takes its workers too)."""

    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path) -> None:
        self.proc, self.url, self.log_path = proc, url, log_path

    def kill9(self) -> None:
        """SIGKILL the server and every worker at once, as a crash or OOM kill would."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def worker_pids(self) -> list[int]:
        """Pids of the scanning workers: children of the server's multiprocessing fork server."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
        out = []
        for child in children.get(self.proc.pid, []):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"forkserver" in cmdline:
                out += children.get(child, [])
        return sorted(out)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(data_dir: str | os.PathLike[str], *args: str, port: int | None = None, timeout_s: float = 60.0) -> ServerProcess:
    """Start ``python -m unmask serve`` on loopback and wait until /healthz says ok."""
    port = port or _free_port()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    log = open(log_path, "ab")
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "unmask", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--log-level", "warning", *args],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )
    log.close()
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"unmask serve exited with {proc.returncode}:\n{server.log()}")
        try:
            with opener.open(server.url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.kill9()
    raise RuntimeError(f"unmask serve did not become healthy in {timeout_s:g} s:\n{server.log()}")
