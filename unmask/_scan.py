"""``scan()``: normalise the input once, open it safely, run the detectors, fuse, report."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from unmask import __version__
from unmask.config import ScanOptions
from unmask.core import Finding, FindingStatus, Report, Signal, Verdict
from unmask.detectors._base import Detector, failed, not_applicable
from unmask.detectors._registry import create, get_card, select_detectors
from unmask.errors import InputError, UnmaskError, UsageError
from unmask.fusion import FusionPolicy, fuse

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
ProgressCallback = Callable[[str, float], None]  # (stage description, fraction done in [0, 1])


class Scanner:
    """Holds created detectors (and their loaded models) so many files share them.

    ``scan()`` keeps one Scanner per distinct ``ScanOptions``; make your own to
    control its lifetime (a server worker, a batch actor).
    """

    def __init__(self, options: ScanOptions | None = None, *, policy: FusionPolicy = FusionPolicy()) -> None:
        self.options = options or ScanOptions()
        self.policy = policy
        names = self.options.detectors
        self.cards = select_detectors(names)
        if names is not None and not names:
            raise UsageError("no detectors selected", hint="omit --detectors to run them all")
        self._detectors: dict[str, Detector] = {}
        self._calibrations: dict[str, object] = {}

    def _detector(self, name: str) -> Detector:
        if name not in self._detectors:
            self._detectors[name] = create(name, self.options)
        return self._detectors[name]

    def scan(self, source: Source, *, name: str | None = None, progress: ProgressCallback | None = None) -> Report:
        """Analyse one file; raises an ``InputError`` subclass when it cannot be read."""
        from unmask.media import open_media

        t0 = time.perf_counter()
        with _as_path(source) as (path, display):
            display = name or display
            item = open_media(path, self.options.limits, display_name=display)
            t_open = time.perf_counter()
            findings: list[Finding] = []
            applicable = [c for c in self.cards if c.accepts(item.kind)]
            for i, card in enumerate(self.cards):
                if card not in applicable:
                    if self.options.detectors is not None:  # asked for by name: say why it did not run
                        findings.append(not_applicable(card, "wrong-media-kind", f"{card.name} does not look at {item.kind.value} files."))
                    continue
                if progress:
                    progress(f"{card.name}", i / max(1, len(self.cards)))
                findings.append(self._run_one(card.name, item))
            if progress:
                progress("done", 1.0)
        fused = fuse(findings, self.policy)
        t_end = time.perf_counter()
        return Report(
            source=display,
            verdict=fused.verdict,
            probability=fused.probability,
            reasons=fused.reasons,
            media=item.info,
            findings=tuple(findings),
            timings_ms={"open": round((t_open - t0) * 1000, 3), "total": round((t_end - t0) * 1000, 3)},
            unmask_version=__version__,
        )

    def _calibrated(self, finding: Finding) -> Finding:
        """Apply the calibration fitted with ``unmask calibrate`` to a model score, if one is saved."""
        if not self.options.calibrated or finding.status is not FindingStatus.SCORED or finding.signal is not Signal.ML:
            return finding
        from unmask.fusion.calibration import load_calibration

        key = f"{finding.detector}@{finding.version}"
        if key not in self._calibrations:  # read once per Scanner: calibrations change only by refitting
            self._calibrations[key] = load_calibration(finding.detector, self.options.calibration_dir, detector_version=finding.version)
        calibration = self._calibrations[key]
        if calibration is None:
            return finding
        p = float(calibration.apply(finding.probability_fake))  # type: ignore[attr-defined]
        # A user calibration maps the detector's own (shipped) probability; name both steps.
        label = calibration.describe()  # type: ignore[attr-defined]
        return replace(finding, probability_fake=p, calibration=f"{finding.calibration}; then {label}" if finding.calibration else label)

    def _run_one(self, name: str, item: object) -> Finding:
        card = get_card(name)
        t0 = time.perf_counter()
        try:
            finding = self._detector(name).analyze(item)  # type: ignore[arg-type]
        except InputError:
            raise  # the file itself is broken: the whole file is unreadable, not one detector
        except UnmaskError as exc:
            return failed(card, str(exc))
        except Exception as exc:  # a detector bug must not sink the other detectors' findings
            log.debug("detector %s failed on %s", name, item, exc_info=True)
            return failed(card, f"{exc.__class__.__name__}: {exc}")
        try:
            finding = self._calibrated(finding)
        except ValueError as exc:  # a corrupt calibration file: say so rather than use raw scores silently
            return failed(card, str(exc))
        timings = dict(finding.timings_ms)
        timings.setdefault("total", round((time.perf_counter() - t0) * 1000, 3))
        return replace(finding, timings_ms=timings)


class _as_path:
    """Context manager: a path for any accepted source; bytes and streams are spooled to a private temp file."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.tmpdir: str | None = None

    def __enter__(self) -> tuple[Path, str]:
        src = self.source
        if isinstance(src, (str, os.PathLike)):
            return Path(src), str(src)
        self.tmpdir = tempfile.mkdtemp(prefix="unmask-")
        path = Path(self.tmpdir) / "input"
        if isinstance(src, (bytes, bytearray, memoryview)):
            path.write_bytes(bytes(src))
            return path, "<bytes>"
        if hasattr(src, "read"):
            with open(path, "wb") as fh:
                shutil.copyfileobj(src, fh, 1 << 20)
            return path, getattr(src, "name", None) or "<stream>"
        raise UsageError(
            f"scan() takes a path, bytes or a binary file object, not {type(src).__name__}",
        )

    def __exit__(self, *exc: object) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


_SCANNERS: dict[ScanOptions, Scanner] = {}


def _scanner(options: ScanOptions | None) -> Scanner:
    options = options or ScanOptions()
    scanner = _SCANNERS.get(options)
    if scanner is None:
        scanner = _SCANNERS[options] = Scanner(options)
    return scanner


def scan(source: Source, *, options: ScanOptions | None = None, progress: ProgressCallback | None = None) -> Report:
    """Analyse one photo, video or recording.

    Parameters
    ----------
    source : path, bytes or binary file object
        The file. Its type is read from its content, never its name.
    options : ScanOptions, optional
        Limits, detector selection, trust anchors, video sampling rate.
    progress : callable(stage, fraction), optional
        Called as detectors run.

    Returns
    -------
    Report
        ``verdict`` (likely_manipulated / likely_authentic / uncertain), ``probability``
        (1 = manipulated or synthetic; None when no detector could judge), ``reasons``
        and every detector's ``findings``.

    Raises
    ------
    InputError
        The file cannot be analysed (missing, unreadable, unsupported, broken, over a limit).
    """
    return _scanner(options).scan(source, progress=progress)


def error_report(source: str, exc: UnmaskError) -> Report:
    """The report for a file that could not be analysed (CLI, server and batch list these)."""
    return Report(
        source=source,
        verdict=Verdict.ERROR,
        probability=None,
        reasons=(str(exc) + (f" ({exc.hint})" if exc.hint else ""),),
        error=exc.to_dict(),
        unmask_version=__version__,
    )


def scan_or_error(source: str, options: ScanOptions | None = None) -> Report:
    """``scan`` that turns an input error into an error report (picklable: used by worker processes)."""
    try:
        return scan(source, options=options)
    except InputError as exc:
        return error_report(str(source), exc)


def scan_many(
    sources: Iterable[str],
    *,
    options: ScanOptions | None = None,
    workers: int = 1,
    on_report: Callable[[Report], None] | None = None,
) -> list[Report]:
    """Scan many files, in worker processes when ``workers > 1``; unreadable files become error reports.

    Reports come back in the order of ``sources``.
    """
    sources = list(sources)
    if workers <= 1 or len(sources) <= 1:
        reports = []
        for s in sources:
            r = scan_or_error(s, options)
            if on_report:
                on_report(r)
            reports.append(r)
        return reports
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # forkserver: ONNX Runtime and FFmpeg thread pools do not survive fork() safely.
    ctx = mp.get_context("forkserver")
    results: dict[int, Report] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(scan_or_error, s, options): i for i, s in enumerate(sources)}
        from concurrent.futures import as_completed

        for fut in as_completed(futures):
            r = fut.result()
            results[futures[fut]] = r
            if on_report:
                on_report(r)
    return [results[i] for i in range(len(sources))]
