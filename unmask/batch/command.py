"""The ``unmask batch`` subcommand (argparse), a thin adapter over ``runner.run_batch``.

Imports only the standard library at top level so ``unmask --help`` stays fast;
Ray and psycopg load only when asked for.
"""

from __future__ import annotations

import argparse
import json
import sys

from unmask.errors import ExitCode, UsageError

BATCH_EPILOG = """\
inputs: folders (walked recursively), file lists (.txt/.lst: one path per line),
        labels.csv (path,label[,method[,group]]; paths relative to the CSV)
outputs (--out): results.jsonl, results.sqlite (table --table), postgresql://user@host/db
resuming: a rerun skips every (path, content sha256) the output already holds.
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``batch`` to the ``unmask`` command's subparsers."""
    p = subparsers.add_parser(
        "batch",
        help="scan many files into a table or JSONL, resumably (Ray optional, extra [batch])",
        description="Scan a folder, a file list or a labels.csv and write one record per file (the JSON report, "
        "its verdict and probability, the content sha256 and the label) to JSONL, SQLite or PostgreSQL.",
        epilog=BATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders, file lists or labels.csv")
    p.add_argument("--out", required=True, metavar="OUT", help="results.jsonl, results.sqlite or a postgresql:// URL")
    p.add_argument("--table", default="unmask_batch_results", help="table name for SQLite/PostgreSQL (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local scanning processes, or Ray actors with --ray (default: 1)")
    p.add_argument("--ray", metavar="auto|local|ADDRESS", help="run as a Ray Data pipeline: auto = running cluster or a local one")
    p.add_argument("--detectors", metavar="A,B", help="run only these detectors")
    p.add_argument("--trust-anchors", metavar="PEM", help="PEM bundle of CAs whose C2PA signatures count as trusted")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from unmask.batch.runner import run_batch
    from unmask.batch.sinks import open_sink
    from unmask.batch.sources import iter_items
    from unmask.config import ScanOptions

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    from unmask.detectors._registry import parse_detector_names

    detectors = parse_detector_names(args.detectors)
    if args.trust_anchors and not Path(args.trust_anchors).is_file():
        raise UsageError(f"--trust-anchors {args.trust_anchors}: no such file")
    options = ScanOptions(detectors=detectors, trust_anchors=args.trust_anchors)
    items = list(iter_items(args.inputs))
    if not items:
        raise UsageError("no media files found in " + ", ".join(args.inputs))
    sink = open_sink(args.out, table=args.table)
    interactive = sys.stderr.isatty()

    def progress(scanned: int, skipped: int) -> None:
        if interactive:
            print(f"\r{scanned} scanned, {skipped} already done", end="", file=sys.stderr, flush=True)

    summary = run_batch(items, sink, options=options, workers=args.workers, ray_address=args.ray, progress=progress)
    if interactive:
        print(file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
    else:
        sys.stderr.write(
            f"unmask: {summary.total} files: {summary.scanned} scanned, {summary.skipped} skipped (already in {args.out if '://' not in args.out else 'the database'}), "
            f"{summary.flagged} flagged, {summary.errors} unreadable, {summary.wall_s:.1f} s\n"
        )
    return ExitCode.INPUT if summary.errors else ExitCode.OK
