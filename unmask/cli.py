"""The ``unmask`` command: a thin adapter over ``unmask.scan``.

Heavy modules (PyAV, ONNX Runtime, c2pa, rich) are imported only by the
subcommand that needs them, so ``unmask --help`` and ``unmask detectors`` start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from unmask import __version__
from unmask.errors import ExitCode, UnmaskError, UsageError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.core import Report

EXIT_CODES_HELP = """\
exit codes:
  0   every input was read and none was flagged
  1   at least one input is likely manipulated or machine-made
  2   usage error (bad arguments)
  3   at least one input could not be read (missing, unsupported, broken, over a limit);
      takes precedence over 1 — the other inputs are still scanned and reported
  4   a detector model failed to load
  70  internal error (a bug: rerun with --debug and report it)
  130 interrupted
"""

# Extensions the folder walker treats as media even when their content turns out to be
# broken (reported as unreadable). Other files in a folder are skipped silently unless
# their content is recognisably media; content, not the name, decides the format.
MEDIA_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .webp .gif .tif .tiff .bmp .heic .heif .avif "
    ".mp4 .m4v .mov .mkv .webm .avi .ogv .3gp "
    ".wav .flac .mp3 .ogg .oga .opus .m4a .aac".split()
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unmask",
        description="Offline detector of deepfakes and machine-made media: photos, video and voice.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unmask {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "scan",
        help="check photos, videos and recordings",
        description="Check each file (folders are walked recursively) and print a verdict, a probability "
        "(1 = manipulated/machine-made) and the reasons.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders ('-' reads one file from standard input)")
    p.add_argument("--json", action="store_true", help="print the JSON report (a list when several files)")
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="scan N files in parallel processes (default 1)")
    p.add_argument("--detectors", metavar="A,B", help="run only these detectors, or add to the defaults with +NAME (e.g. +voice,+ai-image for experimental ones; see `unmask detectors`)")
    p.add_argument("--trust-anchors", metavar="PEM", help="PEM bundle of CAs whose C2PA signatures count as trusted")
    p.add_argument("--video-fps", type=float, default=None, metavar="FPS", help="frames per second sampled from video (default 2)")
    p.add_argument("--max-file-mb", type=float, default=None, help="largest file read, MiB (default 4096)")
    p.add_argument("--max-megapixels", type=float, default=None, help="largest image, megapixels (default 100)")
    p.add_argument("--max-duration-min", type=float, default=None, help="longest video/recording, minutes (default 120)")
    p.add_argument("--max-frames", type=int, default=None, help="most sampled video frames per file (default 20000)")
    p.add_argument("--voice-model", metavar="SPEC", help="voice detector model: 'lcnn' (default, the shipped model) or 'aasist:PATH.pth' (needs torch)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on standard error")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict lines")
    p.set_defaults(func=_cmd_scan)

    ls = sub.add_parser(
        "listen",
        help="score a live audio stream for synthetic voice, one JSON line per window",
        description="Read a WAV stream (or raw 16-bit little-endian PCM) from standard input and print one JSON line "
        "per window as audio arrives: start_s, end_s, speech, probability_fake (1 = synthetic), latency_ms.",
    )
    ls.add_argument("--rate", type=int, default=16000, metavar="HZ", help="sample rate of raw PCM input (default 16000; WAV headers override)")
    ls.add_argument("--channels", type=int, default=1, help="interleaved channels of raw PCM input (default 1)")
    ls.add_argument("--window", type=float, default=4.0, metavar="S", help="seconds scored per line (default 4)")
    ls.add_argument("--hop", type=float, default=2.0, metavar="S", help="seconds between lines (default 2)")
    ls.add_argument("--voice-model", metavar="SPEC", help="'lcnn' (default, the shipped model) or 'aasist:PATH.pth' (needs torch)")
    ls.set_defaults(func=_cmd_listen)

    d = sub.add_parser("detectors", help="list the detectors with their versions and what they look at")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_cmd_detectors)

    # Subcommands whose modules import nothing heavy at load time; each is optional
    # so a trimmed install (no server/batch/training extras) still has a working CLI.
    import importlib

    for adapter in ("unmask.eval.command", "unmask.server.command", "unmask.batch.command", "unmask.training.command"):
        try:
            module = importlib.import_module(adapter)
        except ImportError:
            continue
        module.register(sub)
    return parser


def _cmd_listen(args: argparse.Namespace) -> int:
    from unmask.detectors.voice import listen, load_model

    if not 0 < args.hop <= args.window:
        raise UsageError(f"need 0 < --hop <= --window, got --hop {args.hop:g} s and --window {args.window:g} s")
    model = load_model(args.voice_model)
    for line in listen(sys.stdin.buffer, model=model, sample_rate_hz=args.rate, channels=args.channels, window_s=args.window, hop_s=args.hop):
        print(json.dumps(line), flush=True)
    return 0


def _options(args: argparse.Namespace) -> "ScanOptions":
    from unmask.config import Limits, ScanOptions
    from unmask.detectors._registry import parse_detector_names

    limits: dict[str, float | int] = {}
    if args.max_file_mb is not None:
        limits["max_file_bytes"] = int(args.max_file_mb * 1024 * 1024)
    if args.max_megapixels is not None:
        limits["max_image_pixels"] = int(args.max_megapixels * 1_000_000)
    if args.max_duration_min is not None:
        limits["max_duration_s"] = args.max_duration_min * 60.0
    if args.max_frames is not None:
        limits["max_frames"] = args.max_frames
    detectors = parse_detector_names(args.detectors)  # outside the try: keeps its 'did you mean' hint
    try:
        opts = ScanOptions(
            limits=Limits(**limits),  # type: ignore[arg-type]
            detectors=detectors,
            trust_anchors=args.trust_anchors,
            voice_model=getattr(args, "voice_model", None),
            **({"video_sample_fps": args.video_fps} if args.video_fps is not None else {}),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.trust_anchors and not Path(args.trust_anchors).is_file():
        raise UsageError(f"--trust-anchors {args.trust_anchors}: no such file")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    return opts


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given, folders walked recursively (sorted, hidden entries skipped)."""
    from unmask.media.sniff import HEAD_BYTES, sniff

    out: list[str] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            out.append(raw)
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                full = os.path.join(root, name)
                if Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                    out.append(full)
                    continue
                try:
                    with open(full, "rb") as fh:
                        if sniff(fh.read(HEAD_BYTES)) is not None:
                            out.append(full)
                except OSError:
                    out.append(full)  # unreadable: let the scan report why
    return out


def _verdict_line(report: "Report", console: object) -> None:
    from rich.markup import escape

    style = {"likely_manipulated": "bold red", "likely_authentic": "bold green", "uncertain": "bold yellow", "error": "bold magenta"}
    v = report.verdict.value
    prob = f"p={report.probability:.2f}" if report.probability is not None else "p=n/a"
    console.print(f"[{style[v]}]{report.verdict.label.upper():<19}[/] {prob:<7} {escape(report.source)}")  # type: ignore[attr-defined]


def _cmd_scan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from unmask._scan import error_report, scan_many
    from unmask.core import Verdict

    options = _options(args)
    stdout = Console(soft_wrap=True, highlight=False)
    stderr = Console(stderr=True, highlight=False)
    tmp_stdin: str | None = None
    paths = list(args.paths)
    if "-" in paths:
        import tempfile

        fd, tmp_stdin = tempfile.mkstemp(prefix="unmask-stdin-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(sys.stdin.buffer.read())
        paths = [tmp_stdin if p == "-" else p for p in paths]
    try:
        files = expand_paths(paths)
        if not files:
            raise UsageError("no media files found in " + ", ".join(args.paths))
        show_progress = not args.no_progress and stderr.is_terminal and not args.json
        reports: list[Report] = []

        def emit(report: "Report") -> None:
            if not args.json:
                _verdict_line(report, stdout)
                if not args.quiet:
                    from rich.markup import escape

                    for reason in report.reasons:
                        stdout.print(f"    - {escape(reason)}")

        if show_progress and len(files) > 1:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=stderr, transient=True) as bar:
                task = bar.add_task("scan", total=len(files))

                def on_report(r: "Report") -> None:
                    bar.advance(task)
                    emit(r)

                reports = scan_many(files, options=options, workers=args.workers, on_report=on_report)
        elif show_progress:
            from unmask._scan import _scanner
            from unmask.errors import InputError

            with stderr.status(f"scanning {files[0]}") as status:
                try:
                    r = _scanner(options).scan(files[0], progress=lambda stage, frac: status.update(f"scanning {files[0]}: {stage}"))
                except InputError as exc:
                    r = error_report(files[0], exc)
            emit(r)
            reports = [r]
        else:
            reports = scan_many(files, options=options, workers=args.workers, on_report=emit)
    finally:
        if tmp_stdin:
            os.unlink(tmp_stdin)
    if tmp_stdin:
        reports = [r if r.source != tmp_stdin else _renamed(r, "<stdin>") for r in reports]

    if args.json:
        payload = [r.to_dict() for r in reports]
        sys.stdout.write(json.dumps(payload[0] if len(args.paths) == 1 and len(reports) == 1 and not Path(args.paths[0]).is_dir() else payload, indent=2) + "\n")
    if args.report:
        from unmask.report import render_html

        Path(args.report).write_text(render_html(reports), encoding="utf-8")
        if not args.json and not args.quiet:
            stderr.print(f"report written to {args.report}")
    if any(r.verdict is Verdict.ERROR for r in reports):
        return ExitCode.INPUT
    if any(r.flagged for r in reports):
        return ExitCode.FLAGGED
    return ExitCode.OK


def _renamed(report: "Report", source: str) -> "Report":
    from dataclasses import replace

    return replace(report, source=source)


def _cmd_detectors(args: argparse.Namespace) -> int:
    from unmask.detectors import list_detectors

    cards = list_detectors()
    if args.json:
        sys.stdout.write(json.dumps([c.to_dict() for c in cards], indent=2) + "\n")
        return ExitCode.OK
    width = max(len(c.name) for c in cards)
    for c in cards:
        kinds = ",".join(sorted(k.value for k in c.kinds))
        note = " [experimental: runs only with --detectors]" if c.experimental else ""
        sys.stdout.write(f"{c.name:<{width}}  v{c.version:<7} {c.family:<10} {kinds:<18} {c.summary}{note}\n")
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.USAGE
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UnmaskError as exc:
        sys.stderr.write(f"unmask: error: {exc}\n")
        if exc.hint:
            sys.stderr.write(f"unmask: hint: {exc.hint}\n")
        if args.debug:
            import traceback

            traceback.print_exception(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("unmask: cancelled\n")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # a bug: one line by default, the traceback with --debug
        sys.stderr.write(f"unmask: internal error: {exc.__class__.__name__}: {exc}\n")
        if args.debug:
            import traceback

            traceback.print_exception(exc)
        else:
            sys.stderr.write("unmask: rerun with --debug for details and please report it\n")
        return ExitCode.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
