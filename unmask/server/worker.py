"""Worker processes: claim a job from the table, scan its upload, write the report back.

Scans never run on the web server's event loop. Each worker process keeps one
``Scanner`` (detectors load once) and its own database connection. While it scans,
a thread renews the job's lease; if the process dies, the lease runs out (or the
pool's supervisor requeues the job at once) and another worker takes it over.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any

from unmask.server.settings import ServerSettings
from unmask.server.store import MAX_ATTEMPTS, Job, JobStore

log = logging.getLogger(__name__)

# HTTP status each error class maps to; the job's error dict carries it so clients
# polling a failed job learn the same thing a synchronous API would have said.
def http_status(exc: BaseException) -> int:
    from unmask.errors import InputError, LimitExceededError, ModelError

    if isinstance(exc, LimitExceededError):
        return 413
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ModelError):
        return 503
    return 500


def _die_with_parent() -> None:
    # Linux only: the kernel kills this worker when the server process dies (even by
    # kill -9), so no orphan keeps scanning and renewing leases for a dead server.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_job(store: JobStore, scanner: Any, settings: ServerSettings, job: Job, worker: str) -> str:
    """Scan one claimed job and store the outcome; returns the final status."""
    from unmask._scan import error_report
    from unmask.errors import InputError, UnmaskError

    if job.attempts > MAX_ATTEMPTS:
        error = {
            "reference": "worker-crashed",
            "message": f"scanning this file stopped its worker {MAX_ATTEMPTS} times; it was not retried again",
            "hint": None,
            "http_status": 500,
        }
        store.finish(job.id, worker, status="failed", report=None, error=error)
        return "failed"

    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(settings.lease_s / 4):
            try:
                if not store.renew(job.id, worker, lease_s=settings.lease_s):
                    return
            except Exception:  # a transient database error must not kill the scan; the next beat retries
                log.warning("lease renewal failed for job %s", job.id, exc_info=True)

    beat = threading.Thread(target=heartbeat, name=f"lease-{job.id[:8]}", daemon=True)
    beat.start()
    try:
        path = settings.upload_path(job.id)
        try:
            report = scanner.scan(path, name=job.filename).to_dict()
            status, error = "done", None
        except UnmaskError as exc:
            report = error_report(job.filename, exc).to_dict() if isinstance(exc, InputError) else None
            status, error = "failed", {**exc.to_dict(), "http_status": http_status(exc)}
            error.pop("exit_code", None)
        except Exception as exc:  # a bug: the client gets a reference, the server log the traceback
            log.exception("job %s: internal error while scanning", job.id)
            status = "failed"
            report = None
            error = {"reference": "internal", "message": "internal error while scanning this file", "hint": None, "http_status": 500}
            del exc
    finally:
        stop.set()
        beat.join(timeout=5)
    store.finish(job.id, worker, status=status, report=report, error=error)
    if settings.keep_uploads_s <= 0:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        store.mark_upload_deleted(job.id)
    return status


def worker_main(settings: ServerSettings, worker: str, parent_pid: int) -> None:
    """Entry point of one worker process: loop until the parent goes away or SIGTERM."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    from unmask._scan import Scanner

    store = JobStore(settings.db_url)
    scanner = Scanner(settings.options)
    # With forkserver the parent process is the fork server, which exits when the
    # server does; the server's own pid is checked too (cheap, once per loop).
    forkserver_pid = os.getppid()
    while not stopping.is_set() and os.getppid() == forkserver_pid and _alive(parent_pid):
        try:
            job = store.claim(worker, lease_s=settings.lease_s)
        except Exception:  # database briefly unreachable (PostgreSQL restart): retry, do not die
            log.warning("worker %s could not claim a job", worker, exc_info=True)
            stopping.wait(1.0)
            continue
        if job is None:
            stopping.wait(settings.poll_s)
            continue
        run_job(store, scanner, settings, job, worker)
    store.close()


class WorkerPool:
    """N worker processes, restarted when they die; a dead worker's job is requeued at once."""

    def __init__(self, settings: ServerSettings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        # forkserver: ONNX Runtime and FFmpeg thread pools do not survive fork() safely,
        # and the web server's threads must not be copied into workers.
        self._ctx = mp.get_context("forkserver")
        self._procs: dict[str, Any] = {}
        self._instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._serial = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._started: dict[str, float] = {}
        self.restarts = 0

    def _spawn(self) -> None:
        self._serial += 1
        name = f"{self._instance}:w{self._serial}"
        proc = self._ctx.Process(target=worker_main, args=(self.settings, name, os.getpid()), name=f"unmask-worker-{self._serial}", daemon=True)
        proc.start()
        self._procs[name] = proc
        self._started[name] = time.monotonic()

    def start(self) -> None:
        with self._lock:
            for _ in range(self.settings.workers):
                self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="unmask-worker-supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        backoff_s = 0.0
        while not self._stop.wait(0.25 + backoff_s):
            with self._lock:
                dead = [(name, proc) for name, proc in self._procs.items() if not proc.is_alive()]
                for name, proc in dead:
                    proc.join(timeout=0)
                    del self._procs[name]
                    try:
                        n = self.store.requeue_worker(name)
                    except Exception:  # the lease will requeue it anyway
                        log.warning("could not requeue jobs of dead worker %s", name, exc_info=True)
                        n = 0
                    log.warning("worker %s exited (code %s); %d job(s) requeued, starting a new one", name, proc.exitcode, n)
                    quick = time.monotonic() - self._started.pop(name, 0.0) < 2.0
                    self.restarts += 1
                    if not self._stop.is_set():
                        self._spawn()
                # A worker that dies at start-up (broken install, database gone) would
                # otherwise be restarted four times a second forever.
                backoff_s = min(5.0, max(0.5, 2 * backoff_s)) if dead and quick else 0.0

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values() if p.pid is not None]

    def alive(self) -> int:
        with self._lock:
            return sum(p.is_alive() for p in self._procs.values())

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2)
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            p.terminate()
        deadline = time.monotonic() + timeout_s
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(timeout=1)
