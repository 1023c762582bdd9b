"""Run a batch: skip what the sink holds, scan the rest, write each record as it arrives.

The local runner scans in this process or a process pool (each process keeps one
``Scanner``). The Ray runner sends the same work through a Ray Data pipeline whose
``map_batches`` stage is an actor pool: each actor builds its ``Scanner`` once, so
models load once per worker, not once per file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from unmask.batch.sinks import Sink, make_record
from unmask.batch.sources import BatchItem
from unmask.config import ScanOptions

Progress = Callable[[int, int], None]  # (records written now, items skipped)

RAY_BATCH_SIZE = 16  # files per actor call: amortises Ray's per-task overhead on small files


@dataclass(frozen=True, slots=True)
class BatchSummary:
    total: int
    skipped: int
    scanned: int
    errors: int
    flagged: int
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "skipped": self.skipped, "scanned": self.scanned, "errors": self.errors, "flagged": self.flagged, "wall_s": round(self.wall_s, 3)}


def scan_report(path: str, options: ScanOptions | None) -> dict[str, Any]:
    """The JSON report ``unmask scan PATH --json`` gives (module level: worker processes unpickle it)."""
    from unmask._scan import scan_or_error

    return scan_or_error(path, options).to_dict()


def _pending(items: Iterable[BatchItem], done: set[tuple[str, str]], counts: dict[str, int]) -> Iterator[BatchItem]:
    for item in items:
        counts["total"] += 1
        if item.key in done:
            counts["skipped"] += 1
            continue
        yield item


def _local_reports(items: Iterator[BatchItem], options: ScanOptions | None, workers: int) -> Iterator[tuple[BatchItem, dict[str, Any]]]:
    if workers <= 1:
        for item in items:
            yield item, scan_report(item.path, options)
        return
    import itertools
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: ONNX Runtime and FFmpeg thread pools do not survive fork() safely.
    window = 8 * workers  # bounded look-ahead: millions of items never sit in memory at once
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver")) as pool:
        while chunk := list(itertools.islice(items, window)):
            for item, report in zip(chunk, pool.map(scan_report, [i.path for i in chunk], [options] * len(chunk), chunksize=4)):
                yield item, report


def _ray_reports(items: Iterator[BatchItem], options: ScanOptions | None, *, address: str, workers: int) -> Iterator[tuple[BatchItem, dict[str, Any]]]:
    import json

    from unmask.errors import UsageError

    try:
        import ray
    except ImportError as exc:
        raise UsageError("--ray needs Ray", hint="pip install 'unmask[batch]'") from exc
    rows = [{"path": i.path, "sha256": i.sha256 or "", "label": -1 if i.label is None else i.label} for i in items]
    if not rows:
        return
    by_key = {(r["path"], r["sha256"]): r for r in rows}
    started_here = False
    if not ray.is_initialized():
        if address == "auto":
            try:
                ray.init(address="auto", log_to_driver=False)
            except ConnectionError:
                # No cluster running: start a local one, the whole point of "auto".
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        elif address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // RAY_BATCH_SIZE, 64 * workers)))
        ds = ds.map_batches(
            _RayScanActor,
            fn_constructor_kwargs={"options": options},
            batch_size=RAY_BATCH_SIZE,
            batch_format="default",
            concurrency=workers,
            num_cpus=1,
        )
        for row in ds.iter_rows():
            src = by_key[(row["path"], row["sha256"])]
            yield BatchItem(src["path"], src["sha256"] or None, None if src["label"] == -1 else int(src["label"])), json.loads(row["report"])
    finally:
        if started_here:
            ray.shutdown()


class _RayScanActor:
    """One per Ray worker: builds a Scanner (loads models) once, then scans batches of paths."""

    def __init__(self, options: ScanOptions | None) -> None:
        from unmask._scan import Scanner

        self.options = options
        self.scanner = Scanner(options)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import json

        from unmask._scan import error_report
        from unmask.errors import InputError

        reports = []
        for path in batch["path"]:
            try:
                report = self.scanner.scan(str(path))
            except InputError as exc:
                report = error_report(str(path), exc)
            reports.append(json.dumps(report.to_dict()))
        return {"path": list(batch["path"]), "sha256": list(batch["sha256"]), "report": reports}


def run_batch(
    items: Iterable[BatchItem],
    sink: Sink,
    *,
    options: ScanOptions | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> BatchSummary:
    """Scan every item the sink does not hold yet and write one record per item.

    Parameters
    ----------
    items : iterable of BatchItem
    sink : Sink
        JSONL, SQLite or PostgreSQL (see ``sinks.open_sink``).
    options : ScanOptions, optional
    workers : int, default=1
        Local processes, or Ray actors when ``ray_address`` is given.
    ray_address : str or None
        ``"auto"`` (a running cluster, else a local one), ``"local"``, or a cluster address.
    """
    t0 = time.perf_counter()
    counts = {"total": 0, "skipped": 0, "scanned": 0, "errors": 0, "flagged": 0}
    pending = _pending(items, sink.done_keys(), counts)
    if ray_address:
        results = _ray_reports(pending, options, address=ray_address, workers=workers)
    else:
        results = _local_reports(pending, options, workers)
    try:
        for item, report in results:
            sink.write(make_record(item.path, item.sha256, item.label, report))
            counts["scanned"] += 1
            counts["errors"] += report["verdict"] == "error"
            counts["flagged"] += report["verdict"] == "likely_manipulated"
            if progress:
                progress(counts["scanned"], counts["skipped"])
    finally:
        sink.close()
    return BatchSummary(wall_s=time.perf_counter() - t0, **counts)
