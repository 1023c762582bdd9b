"""The FastAPI application of ``unmask serve``.

Endpoints (OpenAPI at ``/docs``)::

    POST /v1/scans                  multipart upload (field ``file``) → 202 {"id", "status": "queued"}
    GET  /v1/scans                  the caller's recent scans (the web page's history)
    GET  /v1/scans/{id}             status queued | running | done | failed, and the JSON report when done
    GET  /v1/scans/{id}/report.html the self-contained HTML report
    GET  /v1/detectors              detector cards
    GET  /healthz                   database reachable and workers alive
    GET  /metrics                   Prometheus text
    GET  /                          the web page (drag and drop, progress, reports, history)

Handlers are plain ``def`` functions: FastAPI runs them in its thread pool, so the
blocking database calls and file copies never stall the event loop, and no scan
runs in this process at all (see ``worker``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from unmask import __version__
from unmask.errors import InputError, LimitExceededError, UnmaskError, UnsupportedMediaError
from unmask.server.settings import JOB_ID_RE, ServerSettings
from unmask.server.store import STATUSES, JobStore
from unmask.server.worker import WorkerPool, http_status

log = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 1 << 20
# multipart framing (boundaries, part headers) on top of the file itself
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class ApiError(Exception):
    """An error answer: HTTP status, stable reference, message for a person."""

    def __init__(self, status: int, reference: str, message: str, *, hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reference, self.hint, self.headers = status, reference, hint, headers


def _error_body(reference: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"reference": reference, "message": message, "hint": hint}}


class RateLimiter:
    """Token bucket per caller: ``per_min`` tokens, refilled continuously."""

    def __init__(self, per_min: float) -> None:
        self.per_min = per_min
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if self.per_min <= 0:
            return 0.0
        rate_per_s = self.per_min / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.per_min, now))
            tokens = min(self.per_min, tokens + (now - last) * rate_per_s)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                return (1.0 - tokens) / rate_per_s
            self._buckets[caller] = (tokens - 1.0, now)
            return 0.0


class Metrics:
    """Counters kept in the web process; job gauges are read from the table at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.uploads: dict[str, int] = defaultdict(int)
        self.upload_bytes = 0

    def request(self, method: str, status: int) -> None:
        with self._lock:
            self.requests[(method, status)] += 1

    def upload(self, outcome: str, size_bytes: int = 0) -> None:
        with self._lock:
            self.uploads[outcome] += 1
            self.upload_bytes += size_bytes


def _safe_display_name(name: str | None) -> str:
    # The client's file name is shown in reports and the page, never joined to a path.
    # Keep its last component only (browsers on Windows send full paths) and printable text.
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable())[:200].strip()
    return cleaned or "upload"


def create_app(settings: ServerSettings, *, start_workers: bool = True) -> FastAPI:
    """The application; workers start and stop with its lifespan.

    Parameters
    ----------
    settings : ServerSettings
    start_workers : bool, default=True
        False leaves scanning to workers run elsewhere (tests of the HTTP layer alone).
    """
    store = JobStore(settings.db_url)
    limiter = RateLimiter(settings.uploads_per_min)
    metrics = Metrics()
    pool = WorkerPool(settings, store)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    (Path(settings.data_dir) / "incoming").mkdir(parents=True, exist_ok=True)
    janitor_stop = threading.Event()

    def janitor() -> None:
        while not janitor_stop.wait(settings.janitor_every_s):
            try:
                purge(store, settings)
            except Exception:
                log.warning("retention clean-up failed", exc_info=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        if not store.db.postgres:
            # One server owns a SQLite data dir (the command holds its lock), so a job
            # still "running" was orphaned by a killed predecessor: resume it now rather
            # than after its lease runs out. PostgreSQL may be shared: leases decide there.
            n = store.db.execute("UPDATE unmask_jobs SET status = 'queued', worker = NULL, lease_until = NULL WHERE status = 'running'").rowcount
            if n:
                log.warning("requeued %d job(s) left running by a previous server", n)
        purge(store, settings)
        thread = threading.Thread(target=janitor, name="unmask-janitor", daemon=True)
        thread.start()
        if start_workers:
            pool.start()
        try:
            yield
        finally:
            janitor_stop.set()
            pool.stop()

    app = FastAPI(
        title="unmask",
        version=__version__,
        description="Offline detection of deepfakes and machine-made media. Upload a file, poll its scan, read the report.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.store, app.state.pool, app.state.metrics = settings, store, pool, metrics

    # -- errors: every answer is JSON with a reference, never a traceback ----------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(exc.reference, str(exc), exc.hint), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(UnmaskError)
    async def _unmask_error(request: Request, exc: UnmaskError) -> JSONResponse:
        return JSONResponse(_error_body(exc.reference, str(exc), exc.hint), status_code=http_status(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        ref = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return JSONResponse(_error_body(ref, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return JSONResponse(_error_body("bad-request", "missing or invalid request fields: " + ", ".join(fields), "send the file as multipart field 'file'"), status_code=422)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_error_body("internal", "internal error"), status_code=500)

    @app.middleware("http")
    async def _count(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        metrics.request(request.method, response.status_code)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # -- auth -------------------------------------------------------------------

    def caller(request: Request) -> str | None:
        """The key id of the caller (None when keys are not required and none was sent)."""
        token = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if token:
            key_id = store.verify_token(token)
            if key_id is None:
                raise ApiError(401, "bad-api-key", "this API key is not valid or was revoked", headers={"WWW-Authenticate": "Bearer"})
            return key_id
        if settings.require_keys:
            raise ApiError(
                401,
                "api-key-required",
                "an API key is required",
                hint="send 'Authorization: Bearer <key>'; create one with `unmask keys create`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    def own_job(job_id: str, key_id: str | None):  # noqa: ANN202
        job = store.get(job_id) if JOB_ID_RE.match(job_id) else None
        # Another key's job answers exactly like a missing one: ids are not an oracle.
        if job is None or job.key_id != key_id:
            raise ApiError(404, "not-found", f"no scan with id {job_id}")
        return job

    # -- API --------------------------------------------------------------------

    @app.post("/v1/scans", status_code=202, summary="Upload a file to scan")
    def create_scan(request: Request, file: UploadFile = File(..., description="the photo, video or recording"), key_id: str | None = Depends(caller)) -> JSONResponse:
        wait_s = limiter.take(key_id or f"addr:{request.client.host if request.client else '?'}")
        if wait_s > 0:
            metrics.upload("rate_limited")
            raise ApiError(429, "rate-limited", f"too many uploads; retry in {wait_s:.0f} s", headers={"Retry-After": str(max(1, round(wait_s)))})
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
            metrics.upload("too_large")
            raise LimitExceededError(
                f"upload of {int(declared):,} bytes exceeds the {settings.max_upload_bytes:,}-byte limit",
                hint="the server's --max-upload-mb sets the limit",
            )
        job_id = uuid.uuid4().hex
        tmp = Path(settings.data_dir) / "incoming" / job_id
        size, digest = 0, hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                head = b""
                while chunk := file.file.read(COPY_CHUNK_BYTES):
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        metrics.upload("too_large")
                        raise LimitExceededError(f"upload exceeds the {settings.max_upload_bytes:,}-byte limit", hint="the server's --max-upload-mb sets the limit")
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                metrics.upload("rejected")
                raise InputError("the upload is empty", hint="send the file's bytes in multipart field 'file'")
            from unmask.media.sniff import sniff

            if sniff(head) is None:
                metrics.upload("rejected")
                raise UnsupportedMediaError(
                    "the upload is not a photo, video or recording format unmask reads",
                    hint="JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC/AVIF; MP4/MOV/MKV/WebM/AVI; WAV/FLAC/MP3/OGG/Opus/M4A/AAC",
                )
            final = settings.upload_path(job_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        # The row is committed before the 202 leaves: an accepted upload survives kill -9.
        store.create_job(job_id, filename=_safe_display_name(file.filename), size_bytes=size, sha256=digest.hexdigest(), key_id=key_id)
        metrics.upload("accepted", size)
        return JSONResponse(
            {"id": job_id, "status": "queued", "url": f"/v1/scans/{job_id}"},
            status_code=202,
            headers={"Location": f"/v1/scans/{job_id}"},
        )

    @app.get("/v1/scans", summary="The caller's recent scans")
    def list_scans(limit: int = Query(50, ge=1, le=500), key_id: str | None = Depends(caller)) -> dict[str, Any]:
        return {"scans": [j.public(with_report=False) for j in store.list_jobs(key_id=key_id, limit=limit)]}

    @app.get("/v1/scans/{job_id}", summary="Status of a scan, with its JSON report when done")
    def get_scan(job_id: str, key_id: str | None = Depends(caller)) -> dict[str, Any]:
        return own_job(job_id, key_id).public()

    @app.get("/v1/scans/{job_id}/report.html", response_class=HTMLResponse, summary="The HTML report of a finished scan")
    def get_report_html(job_id: str, key_id: str | None = Depends(caller)) -> HTMLResponse:
        job = own_job(job_id, key_id)
        if job.report is None:
            if job.status == "failed":
                raise ApiError(409, "no-report", f"scan {job_id} failed: {(job.error or {}).get('message', 'no report')}")
            raise ApiError(409, "not-ready", f"scan {job_id} is {job.status}; the report is ready when its status is done")
        from unmask.report import render_html

        return HTMLResponse(render_html([job.report], title=f"unmask report: {job.filename}"))

    @app.get("/v1/detectors", summary="Detector cards")
    def detectors(key_id: str | None = Depends(caller)) -> list[dict[str, Any]]:
        from unmask.detectors import list_detectors

        return [c.to_dict() for c in list_detectors()]

    @app.get("/healthz", summary="Database reachable and workers alive")
    def healthz() -> JSONResponse:
        try:
            counts = store.counts()
            db_ok = True
        except Exception:
            log.warning("health check: database unreachable", exc_info=True)
            counts, db_ok = {}, False
        alive = pool.alive()
        ok = db_ok and (alive > 0 or not start_workers)
        body = {"status": "ok" if ok else "unavailable", "database": store.db.kind if db_ok else "unreachable", "workers_alive": alive, "workers": settings.workers, "jobs": counts, "version": __version__}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> PlainTextResponse:
        lines = ["# HELP unmask_jobs Jobs in the table by status.", "# TYPE unmask_jobs gauge"]
        counts = store.counts()
        lines += [f'unmask_jobs{{status="{s}"}} {counts.get(s, 0)}' for s in STATUSES]
        lines += ["# HELP unmask_workers_alive Worker processes alive.", "# TYPE unmask_workers_alive gauge", f"unmask_workers_alive {pool.alive()}"]
        lines += ["# HELP unmask_worker_restarts_total Worker processes restarted after dying.", "# TYPE unmask_worker_restarts_total counter", f"unmask_worker_restarts_total {pool.restarts}"]
        lines += ["# HELP unmask_uploads_total Uploads by outcome.", "# TYPE unmask_uploads_total counter"]
        for outcome in ("accepted", "rejected", "too_large", "rate_limited"):
            lines.append(f'unmask_uploads_total{{outcome="{outcome}"}} {metrics.uploads.get(outcome, 0)}')
        lines += ["# HELP unmask_upload_bytes_total Bytes accepted.", "# TYPE unmask_upload_bytes_total counter", f"unmask_upload_bytes_total {metrics.upload_bytes}"]
        lines += ["# HELP unmask_http_requests_total HTTP requests by method and status.", "# TYPE unmask_http_requests_total counter"]
        for (method, status), n in sorted(metrics.requests.items()):
            lines.append(f'unmask_http_requests_total{{method="{method}",status="{status}"}} {n}')
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        from unmask.server.page import page_html

        return HTMLResponse(page_html(require_keys=settings.require_keys, max_upload_bytes=settings.max_upload_bytes))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app


def purge(store: JobStore, settings: ServerSettings) -> dict[str, int]:
    """Apply the retention settings: delete old uploads, then old jobs and their reports."""
    now = time.time()
    uploads = 0
    for job_id in store.finished_with_upload(before=now - settings.keep_uploads_s):
        try:
            settings.upload_path(job_id).unlink()
            uploads += 1
        except FileNotFoundError:
            pass
        store.mark_upload_deleted(job_id)
    expired = store.expire(before=now - settings.retention_s)
    for job_id in expired:
        try:
            settings.upload_path(job_id).unlink()
        except FileNotFoundError:
            pass
    # Uploads half-written when a previous server was killed never became jobs.
    incoming = Path(settings.data_dir) / "incoming"
    if incoming.is_dir():
        for p in incoming.iterdir():
            try:
                if p.stat().st_mtime < now - 3600:
                    p.unlink()
            except FileNotFoundError:
                pass
    return {"uploads_deleted": uploads, "jobs_expired": len(expired)}
