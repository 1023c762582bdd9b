"""The ``unmask serve`` and ``unmask keys`` subcommands (argparse), thin adapters over ``app`` and ``store``.

``unmask.cli`` calls ``register(subparsers)``; this module imports only the
standard library at top level so ``unmask --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from unmask.errors import ExitCode, UsageError

SERVE_EPILOG = """\
endpoints (OpenAPI at /docs):
  POST /v1/scans                  upload (multipart field 'file') → 202 {"id": ...}
  GET  /v1/scans/{id}             status (queued | running | done | failed) and the JSON report
  GET  /v1/scans/{id}/report.html the HTML report
  GET  /v1/scans                  your recent scans
  GET  /v1/detectors, /healthz, /metrics (Prometheus), / (web page)

API keys are required when binding beyond localhost (--auth auto); create them with
`unmask keys create NAME` against the same --data-dir/--db.
"""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "unmask" / "server"


def _db_url(args: argparse.Namespace) -> str:
    return args.db or str(Path(args.data_dir) / "jobs.sqlite3")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=str(default_data_dir()), metavar="DIR", help="uploads and the default SQLite job table (default: %(default)s)")
    p.add_argument("--db", metavar="URL", help="job table: a SQLite file path or postgresql://user:pass@host/db (default: DATA_DIR/jobs.sqlite3)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` and ``keys`` to the ``unmask`` command's subparsers."""
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP service and web page (extra [server])",
        description="Serve scans over HTTP: uploads become durable jobs scanned by worker processes.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    _common(p)
    p.add_argument("--workers", type=int, default=2, metavar="N", help="scanning processes (default: %(default)s)")
    p.add_argument("--auth", choices=("auto", "on", "off"), default="auto", help="require API keys: auto = when binding beyond localhost (default)")
    p.add_argument("--rate-limit", type=float, default=60.0, metavar="N", help="uploads per minute per key (or address); 0 = no limit (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=1024.0, help="largest upload, MiB (default: %(default)s)")
    p.add_argument("--max-megapixels", type=float, default=None, help="largest image, megapixels (default 100)")
    p.add_argument("--max-duration-min", type=float, default=None, help="longest video/recording, minutes (default 120)")
    p.add_argument("--detectors", metavar="A,B", help="run only these detectors")
    p.add_argument("--keep-uploads-hours", type=float, default=0.0, help="keep uploads this long after their scan (default: 0, deleted at once)")
    p.add_argument("--retention-days", type=float, default=30.0, help="keep finished jobs and reports this long (default: %(default)s)")
    p.add_argument("--lease-s", type=float, default=30.0, help="a job whose worker stops renewing its lease this long is retried (default: %(default)s)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=_cmd_serve)

    k = subparsers.add_parser("keys", help="create, list and revoke API keys for `unmask serve`")
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION")
    kc = ksub.add_parser("create", help="create a key and print it (shown once; only its hash is stored)")
    kc.add_argument("name", help="who or what the key is for")
    _common(kc)
    kc.add_argument("--json", action="store_true")
    kl = ksub.add_parser("list", help="list keys (ids, names, dates; never the secrets)")
    _common(kl)
    kl.add_argument("--json", action="store_true")
    kr = ksub.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("key_id")
    _common(kr)
    k.set_defaults(func=_cmd_keys)


def _need(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"`unmask serve` needs {module}, which is not installed", hint="pip install 'unmask[server]'") from exc


def _lock_data_dir(data_dir: Path) -> object:
    """Hold an exclusive lock on the data dir for this process's lifetime (released by the OS on kill)."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / "server.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UsageError(f"another `unmask serve` is using {data_dir}", hint="stop it, or give this one its own --data-dir") from None
    return fh


def _cmd_serve(args: argparse.Namespace) -> int:
    for module in ("fastapi", "uvicorn", "multipart"):
        _need(module)
    from unmask.config import Limits, ScanOptions
    from unmask.detectors._registry import parse_detector_names
    from unmask.server.settings import DAY_S, LOCAL_HOSTS, ServerSettings
    from unmask.server.store import JobStore, is_postgres_url

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.max_upload_mb <= 0:
        raise UsageError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    limits: dict[str, float | int] = {"max_file_bytes": int(args.max_upload_mb * 1024 * 1024)}
    if args.max_megapixels is not None:
        limits["max_image_pixels"] = int(args.max_megapixels * 1_000_000)
    if args.max_duration_min is not None:
        limits["max_duration_s"] = args.max_duration_min * 60.0
    detectors = parse_detector_names(args.detectors)  # outside the try: keeps its 'did you mean' hint
    try:
        options = ScanOptions(
            limits=Limits(**limits),  # type: ignore[arg-type]
            detectors=detectors,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data_dir = Path(args.data_dir)
    db_url = _db_url(args)
    lock = _lock_data_dir(data_dir)  # noqa: F841  (held until exit)
    require_keys = args.auth == "on" or (args.auth == "auto" and args.host not in LOCAL_HOSTS)
    store = JobStore(db_url)
    if require_keys and store.active_key_count() == 0:
        raise UsageError(
            f"API keys are required when binding to {args.host}, and none exists",
            hint=f"create one with `unmask keys create NAME --data-dir {data_dir}" + (" --db URL`" if args.db else "`") + ", or pass --auth off on a trusted network",
        )
    store.close()
    settings = ServerSettings(
        data_dir=data_dir,
        db_url=db_url,
        workers=args.workers,
        options=options,
        require_keys=require_keys,
        uploads_per_min=args.rate_limit,
        lease_s=args.lease_s,
        keep_uploads_s=args.keep_uploads_hours * 3600.0,
        retention_s=args.retention_days * DAY_S,
    )
    import logging

    import uvicorn

    from unmask.server.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    db_shown = "PostgreSQL" if is_postgres_url(db_url) else db_url
    sys.stderr.write(
        f"unmask: serving http://{args.host}:{args.port}/ (API docs at /docs), {args.workers} worker(s), jobs in {db_shown}, "
        f"API keys {'required' if require_keys else 'optional'}\n"
    )
    sys.stderr.flush()
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, server_header=False, access_log=args.log_level == "debug")
    uvicorn.Server(config).run()
    return ExitCode.OK


def _cmd_keys(args: argparse.Namespace) -> int:
    from unmask.server.store import JobStore

    if not getattr(args, "keys_command", None):
        raise UsageError("say what to do with keys: create, list or revoke", hint="unmask keys --help")
    store = JobStore(_db_url(args))
    try:
        if args.keys_command == "create":
            key, token = store.create_key(args.name)
            if args.json:
                sys.stdout.write(json.dumps({"id": key.id, "name": key.name, "token": token}) + "\n")
            else:
                sys.stdout.write(f"{token}\n")
                sys.stderr.write(f"unmask: key {key.id} ({key.name}) created; the token above is shown only once\n")
        elif args.keys_command == "list":
            keys = store.list_keys()
            if args.json:
                sys.stdout.write(json.dumps([{"id": k.id, "name": k.name, "created_at": k.created_at, "revoked_at": k.revoked_at} for k in keys]) + "\n")
            else:
                import datetime as dt

                for k in keys:
                    when = dt.datetime.fromtimestamp(k.created_at).isoformat(timespec="seconds")
                    state = "revoked" if k.revoked_at else "active"
                    sys.stdout.write(f"{k.id}  {state:<8} {when}  {k.name}\n")
        elif args.keys_command == "revoke":
            if not store.revoke_key(args.key_id):
                raise UsageError(f"no active key with id {args.key_id}", hint="see `unmask keys list`")
            sys.stderr.write(f"unmask: key {args.key_id} revoked\n")
    finally:
        store.close()
    return ExitCode.OK
