"""Score a labelled dataset, resumably, and compute metrics per detector, method and perturbation.

The runner streams items from a layout reader, scores each one (optionally after
re-encoding it with a perturbation) with a scoring function — ``unmask.scan`` by
default — and appends one JSON line per (file content, perturbation, scorer) to
``scores.jsonl`` in the output folder. A rerun loads that cache first and scores
only what is missing, so a run killed halfway resumes where it stopped.

Memory stays bounded: reports are reduced to a few numbers as soon as they
arrive, and only per-(perturbation, detector) arrays of labels and
probabilities are kept until the metrics are computed.
"""

from __future__ import annotations

import array
import csv
import functools
import hashlib
import itertools
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unmask.core import FindingStatus, MediaKind, Signal, Verdict
from unmask.detectors._registry import list_detectors, select_detectors
from unmask.errors import UnmaskError
from unmask.eval.layouts import EvalItem, detect_layout, iter_items
from unmask.eval.metrics import MetricReport, evaluate, roc_curve
from unmask.eval.perturb import Perturbation, apply_perturbation

CACHE_NAME = "scores.jsonl"
SCORES_CSV = "scores.csv"
FUSED = "fused"  # pseudo-detector: the report's fused probability
CLEAN = "none"  # the perturbation name of the unmodified file
# Timeline points kept per finding for frame-level metrics: a 2-hour video at 2 fps
# would otherwise put 14,400 numbers per file in the cache and in memory.
MAX_TIMELINE_POINTS = 256
# Points kept per plotted curve; a 10,000-file ROC has up to 10,000 steps and
# a PNG 800 px wide cannot show more than a few hundred.
MAX_CURVE_POINTS = 2000

Scorer = Callable[[Path], Any]  # path → Report (or any object with .probability, .findings, .verdict)
Progress = Callable[[int, int, str], None]  # (items done, items scored now, path)


# -- default scorer --------------------------------------------------------------------------------
def scan_path(path: Path, *, detectors: tuple[str, ...] | None = None, calibrated: bool = True) -> Any:
    """The default scoring function: ``unmask.scan`` with only the detector choice set.

    Module-level (not a closure) so that worker processes can unpickle it.
    """
    from unmask import scan
    from unmask.config import ScanOptions

    return scan(path, options=ScanOptions(detectors=detectors, calibrated=calibrated))


def default_scorer_id(detectors: tuple[str, ...] | None = None, *, calibration_dir: Path | None = None) -> str:
    """Identity of the default scorer for the cache: unmask version, detector versions, calibration files.

    A new detector version or a refitted calibration changes the scores, so it
    must change the cache key too.
    """
    import unmask
    from unmask.fusion.calibration import calibration_dir as _cal_dir

    cards = [c for c in list_detectors() if detectors is None or c.name in detectors]
    folder = calibration_dir if calibration_dir is not None else _cal_dir()
    cal = hashlib.sha256()
    for c in cards:
        f = folder / f"{c.name}.json"
        if f.is_file():
            cal.update(c.name.encode() + b"\0" + f.read_bytes())
    names = ",".join(f"{c.name}@{c.version}" for c in cards)
    return f"unmask-{unmask.__version__}[{names}]cal-{cal.hexdigest()[:12]}"


# -- records -----------------------------------------------------------------------------------------
def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def cache_key(sha256: str, perturbation: str, scorer_id: str) -> str:
    return hashlib.sha256(f"{sha256}\0{perturbation}\0{scorer_id}".encode()).hexdigest()[:40]


def _media_kind(path: Path) -> MediaKind | None:
    from unmask.media.sniff import HEAD_BYTES, sniff

    try:
        with path.open("rb") as fh:
            found = sniff(fh.read(HEAD_BYTES))
    except OSError:
        return None
    return found.kind if found else None


def report_to_record(report: Any) -> dict[str, Any]:
    """Reduce a Report to what metrics need: fused probability and, per detector, status and probability."""
    dets: dict[str, dict[str, Any]] = {}
    for f in report.findings:
        entry: dict[str, Any] = {"status": FindingStatus(f.status).value}
        if f.status is FindingStatus.SCORED and f.signal in (Signal.NEUTRAL, Signal.EDITED):
            # A recorded fact that carries no weight (camera EXIF, an editing tool) is no
            # score: counting its fixed 0.5 would report AUC 0.5 for "no opinion".
            entry = {"status": FindingStatus.NOT_APPLICABLE.value, "reason": f"{f.signal.value}-only"}
        elif f.status is FindingStatus.SCORED:
            entry["p"] = float(f.probability_fake)
        if f.abstain_reason:
            entry["reason"] = f.abstain_reason
        if f.status is FindingStatus.ERROR:
            entry["error"] = f.summary[:300]
        if getattr(f, "calibration", None):
            entry["calibration"] = f.calibration
        timeline = getattr(f, "timeline", ())
        if timeline:
            step = max(1, -(-len(timeline) // MAX_TIMELINE_POINTS))
            entry["timeline"] = [round(float(t.probability_fake), 6) for t in timeline[::step]]
        dets[f.detector] = entry
    verdict = getattr(report, "verdict", None)
    if verdict is Verdict.ERROR:
        err = getattr(report, "error", None) or {}
        return {"status": "error", "error": err.get("message", "scan failed"), "detectors": dets, "fused": None}
    p = report.probability
    return {"status": "ok", "fused": None if p is None else float(p), "detectors": dets}


def score_one(scorer: Scorer, path: Path, kind: MediaKind | None, perturbation: Perturbation | None) -> dict[str, Any]:
    """Score one file (re-encoded first when ``perturbation`` is given) and return its record.

    ``UnmaskError`` (unreadable file, failed re-encoding) becomes an error record
    that is cached like a score: rerunning will not make the file readable. Any
    other exception propagates, because it is a bug or an interruption and the
    run must stop (and can then resume).
    """
    try:
        if perturbation is None:
            return report_to_record(scorer(path))
        assert kind is not None
        with tempfile.TemporaryDirectory(prefix="unmask-eval-") as tmp:
            perturbed = apply_perturbation(perturbation, path, kind, Path(tmp))
            return report_to_record(scorer(perturbed))
    except UnmaskError as exc:
        return {"status": "error", "error": str(exc), "detectors": {}, "fused": None}


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    """Records of a previous run by key; a line cut short by a kill is ignored."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                rec.pop("path", None)  # the cache is by content; keep memory to the scores
                out[rec["key"]] = rec
    return out


def _open_append(path: Path):  # noqa: ANN202
    # A kill can leave the last line unterminated; start on a fresh line so the
    # next record is not glued to the broken one.
    needs_newline = False
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            needs_newline = fh.read(1) != b"\n"
    fh = path.open("a", encoding="utf-8")
    if needs_newline:
        fh.write("\n")
    return fh


# -- accumulation -----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Scores:
    """Scores of one (perturbation, detector): compact arrays, never reports."""

    labels: array.array = field(default_factory=lambda: array.array("b"))
    probs: array.array = field(default_factory=lambda: array.array("d"))
    methods: array.array = field(default_factory=lambda: array.array("i"))
    groups: array.array = field(default_factory=lambda: array.array("i"))
    frame_labels: array.array = field(default_factory=lambda: array.array("b"))
    frame_probs: array.array = field(default_factory=lambda: array.array("d"))
    abstained: dict[int, int] = field(default_factory=dict)  # method index → files not scored (not applicable)
    errors: dict[int, int] = field(default_factory=dict)  # method index → files the detector failed on
    calibration: str | None = None
    first_error: str | None = None  # one example, so a table can say why a detector failed


@dataclass(frozen=True, slots=True)
class SubsetResult:
    """Metrics of one detector on one subset under one perturbation."""

    perturbation: str
    detector: str
    subset: str  # "all", a method name, "video-level", "frame-level"
    level: str  # "item", "method", "group", "frame"
    report: MetricReport
    n_abstained: int
    n_errors: int
    calibration: str | None = None
    error_example: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "perturbation": self.perturbation,
            "detector": self.detector,
            "subset": self.subset,
            "level": self.level,
            "n_abstained": self.n_abstained,
            "n_errors": self.n_errors,
            "calibration": self.calibration,
            "error_example": self.error_example,
            **self.report.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Curve:
    perturbation: str
    detector: str
    subset: str
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float | None


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Everything ``unmask eval`` reports: provenance of the run, per-subset metrics, plot curves."""

    dataset: str
    layout: str
    out_dir: Path
    scorer_id: str
    n_items: int
    n_scored_now: int
    n_from_cache: int
    n_skipped: dict[str, int]  # perturbation → files it does not apply to
    perturbations: tuple[str, ...]
    rows: tuple[SubsetResult, ...]
    curves: tuple[Curve, ...]
    n_bootstrap: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "layout": self.layout,
            "scorer": self.scorer_id,
            "n_items": self.n_items,
            "n_scored_now": self.n_scored_now,
            "n_from_cache": self.n_from_cache,
            "n_not_applicable_perturbation": self.n_skipped,
            "perturbations": list(self.perturbations),
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "results": [r.to_dict() for r in self.rows],
        }


# -- the run ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Job:
    item: EvalItem
    sha256: str | None
    kind: MediaKind | None
    perturbation: Perturbation | None
    key: str | None
    record: dict[str, Any] | None  # set when cached or not applicable
    future: Any = None


def _prepare(items: Iterable[EvalItem], perts: tuple[Perturbation | None, ...], scorer_id: str, cache: dict[str, dict[str, Any]]) -> Iterator[_Job]:
    for item in items:
        try:
            sha = file_sha256(item.path)
        except OSError as exc:
            for pert in perts:
                yield _Job(item, None, None, pert, None, {"status": "error", "error": f"cannot read: {exc.strerror or exc}", "detectors": {}, "fused": None})
            continue
        kind = _media_kind(item.path)
        for pert in perts:
            if pert is not None and (kind is None or not pert.applies_to(kind)):
                yield _Job(item, sha, kind, pert, None, {"status": "skipped"})
                continue
            key = cache_key(sha, pert.name if pert else CLEAN, scorer_id)
            yield _Job(item, sha, kind, pert, key, cache.get(key))


def run_eval(
    root: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str],
    scorer: Scorer | None = None,
    scorer_id: str | None = None,
    detectors: tuple[str, ...] | None = None,
    perturbations: tuple[Perturbation, ...] = (),
    layout: str | None = None,
    limit: int | None = None,
    workers: int = 1,
    n_bootstrap: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> EvalResult:
    """Score every item of the dataset at ``root`` and compute the metrics.

    Parameters
    ----------
    root : path
        Dataset folder (any layout ``detect_layout`` knows) or a labels CSV.
    out_dir : path
        Receives ``scores.jsonl`` (the resumable cache) and ``scores.csv``; created if missing.
    scorer : callable, default=``unmask.scan``
        ``scorer(path) -> Report``. Must be picklable when ``workers > 1``.
    scorer_id : str, default=derived from the unmask and detector versions
        Part of every cache key; give a new one whenever the scorer's outputs change.
    detectors : tuple of str or None
        Detectors the default scorer runs (None: every one that applies). Rows are
        reported only for these when given.
    perturbations : tuple of Perturbation
        Each applicable file is also scored after each re-encoding.
    limit : int or None
        Stop after this many items (in the layout's order).
    workers : int, default=1
        Scoring processes; the main process alone reads the cache and writes files.
    n_bootstrap, seed : int
        Bootstrap resamples for the intervals and their seed.
    progress : callable or None
        ``progress(items_done, scored_now, path)`` after every item.
    """
    root_p = Path(root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layout_name = layout or detect_layout(root_p)
    if scorer is None and detectors is None:
        # Measure every registered detector, experimental ones included: that is how
        # they earn their place in the default scan.
        detectors = tuple(card.name for card in list_detectors())
    elif detectors is not None:
        detectors = tuple(card.name for card in select_detectors(detectors))  # "+voice" → concrete names
    if scorer is None:
        scorer = functools.partial(scan_path, detectors=detectors)
        scorer_id = scorer_id or default_scorer_id(detectors)
    scorer_id = scorer_id or getattr(scorer, "__qualname__", repr(scorer))
    perts: tuple[Perturbation | None, ...] = (None, *perturbations)
    items: Iterable[EvalItem] = iter_items(root_p, layout_name)
    if limit is not None:
        items = itertools.islice(items, limit)

    cache = load_cache(out / CACHE_NAME)
    acc: dict[tuple[str, str], _Scores] = {}
    method_ix: dict[str, int] = {}
    group_ix: dict[str, int] = {}
    skipped: dict[str, int] = {p.name: 0 for p in perturbations}
    counters = {"items": 0, "scored": 0, "cached": 0}
    last_path: list[Path | None] = [None]

    def finish(job: _Job, writer: Any) -> None:
        rec = job.record
        assert rec is not None
        pname = job.perturbation.name if job.perturbation else CLEAN
        if rec.get("status") == "skipped":
            skipped[pname] += 1
        else:
            _accumulate(acc, job.item, pname, rec, method_ix, group_ix, detectors)
            _write_csv_rows(writer, job.item, job.sha256, pname, rec)
        if last_path[0] != job.item.path:
            if last_path[0] is not None:
                counters["items"] += 1
                if progress:
                    progress(counters["items"], counters["scored"], str(last_path[0]))
            last_path[0] = job.item.path

    with _open_append(out / CACHE_NAME) as cache_fh, (out / SCORES_CSV).open("w", newline="", encoding="utf-8") as csv_fh:
        writer = csv.writer(csv_fh)
        writer.writerow(["path", "label", "method", "group", "sha256", "perturbation", "detector", "status", "probability_fake", "abstain_reason"])

        def store(job: _Job, rec: dict[str, Any]) -> None:
            rec = {"key": job.key, "path": str(job.item.path), "perturbation": job.perturbation.name if job.perturbation else CLEAN, **rec}
            cache_fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
            cache_fh.flush()  # one line per file: a kill loses at most the file being scored
            job.record = rec
            if job.key is not None:
                cache[job.key] = rec  # the same content later in this run is not scored again
            counters["scored"] += 1

        jobs = _prepare(items, perts, scorer_id, cache)
        if workers <= 1:
            for job in jobs:
                if job.record is None:
                    store(job, score_one(scorer, job.item.path, job.kind, job.perturbation))
                else:
                    counters["cached"] += job.key is not None
                finish(job, writer)
        else:
            from concurrent.futures import ProcessPoolExecutor

            # A bounded window of jobs in flight, finished in submission order:
            # output order stays deterministic and memory stays flat.
            window: deque[_Job] = deque()
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for job in itertools.chain(jobs, [None]):
                    if job is not None:
                        if job.record is None:
                            job.future = pool.submit(score_one, scorer, job.item.path, job.kind, job.perturbation)
                        window.append(job)
                    while window and (job is None or len(window) > 4 * workers or window[0].future is None):
                        head = window.popleft()
                        if head.future is not None:
                            store(head, head.future.result())
                        else:
                            counters["cached"] += head.key is not None
                        finish(head, writer)
        if last_path[0] is not None:
            counters["items"] += 1
            if progress:
                progress(counters["items"], counters["scored"], str(last_path[0]))

    rows, curves = _compute(acc, method_ix, group_ix, perts, n_bootstrap, seed)
    return EvalResult(
        dataset=str(root_p),
        layout=layout_name,
        out_dir=out,
        scorer_id=scorer_id,
        n_items=counters["items"],
        n_scored_now=counters["scored"],
        n_from_cache=counters["cached"],
        n_skipped=skipped,
        perturbations=tuple(p.name if p else CLEAN for p in perts),
        rows=tuple(rows),
        curves=tuple(curves),
        n_bootstrap=n_bootstrap,
        seed=seed,
    )


def _accumulate(
    acc: dict[tuple[str, str], _Scores],
    item: EvalItem,
    pname: str,
    rec: dict[str, Any],
    method_ix: dict[str, int],
    group_ix: dict[str, int],
    only: tuple[str, ...] | None,
) -> None:
    m = method_ix.setdefault(item.method, len(method_ix))
    g = group_ix.setdefault(item.group, len(group_ix)) if item.group else -1
    entries: dict[str, dict[str, Any]] = dict(rec.get("detectors") or {})
    if only is not None:
        entries = {k: v for k, v in entries.items() if k in only}
    failed = rec.get("status") == "error"
    entries[FUSED] = {"status": "error"} if failed else ({"status": "scored", "p": rec["fused"]} if rec.get("fused") is not None else {"status": "not_applicable"})
    for name in only or ():
        entries.setdefault(name, {"status": "error" if failed else "not_applicable"})
    for name, e in entries.items():
        s = acc.setdefault((pname, name), _Scores())
        if e.get("calibration") and s.calibration is None:
            s.calibration = e["calibration"]
        if e.get("status") == "scored" and e.get("p") is not None:
            s.labels.append(item.label)
            s.probs.append(float(e["p"]))
            s.methods.append(m)
            s.groups.append(g)
            for v in e.get("timeline") or ():
                s.frame_labels.append(item.label)
                s.frame_probs.append(float(v))
        elif e.get("status") == "error":
            s.errors[m] = s.errors.get(m, 0) + 1
            if s.first_error is None:
                s.first_error = e.get("error") or rec.get("error") or "failed"
        else:
            s.abstained[m] = s.abstained.get(m, 0) + 1


def _write_csv_rows(writer: Any, item: EvalItem, sha: str | None, pname: str, rec: dict[str, Any]) -> None:
    base = [str(item.path), item.label, item.method, item.group or "", sha or "", pname]
    if rec.get("status") == "error":
        writer.writerow([*base, FUSED, "error", "", rec.get("error", "")])
    else:
        p = rec.get("fused")
        writer.writerow([*base, FUSED, "scored" if p is not None else "not_applicable", "" if p is None else repr(p), ""])
    for name, e in sorted((rec.get("detectors") or {}).items()):
        p = e.get("p")
        writer.writerow([*base, name, e.get("status", ""), "" if p is None else repr(p), e.get("reason", "")])


def _thin(fpr: np.ndarray, tpr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if fpr.size <= MAX_CURVE_POINTS:
        return fpr, tpr
    keep = np.unique(np.linspace(0, fpr.size - 1, MAX_CURVE_POINTS).astype(np.int64))
    return fpr[keep], tpr[keep]


def _compute(
    acc: dict[tuple[str, str], _Scores],
    method_ix: dict[str, int],
    group_ix: dict[str, int],
    perts: tuple[Perturbation | None, ...],
    n_bootstrap: int,
    seed: int,
) -> tuple[list[SubsetResult], list[Curve]]:
    methods = sorted(method_ix, key=method_ix.__getitem__)
    pert_order = {p.name if p else CLEAN: i for i, p in enumerate(perts)}
    rows: list[SubsetResult] = []
    curves: list[Curve] = []

    def det_order(name: str) -> tuple[int, str]:
        return (name == FUSED, name)

    for (pname, det) in sorted(acc, key=lambda k: (pert_order.get(k[0], 99), det_order(k[1]))):
        s = acc[(pname, det)]
        y = np.frombuffer(s.labels, dtype=np.int8) if len(s.labels) else np.zeros(0, np.int8)
        p = np.frombuffer(s.probs, dtype=np.float64) if len(s.probs) else np.zeros(0)
        mi = np.frombuffer(s.methods, dtype=np.int32) if len(s.methods) else np.zeros(0, np.int32)
        gi = np.frombuffer(s.groups, dtype=np.int32) if len(s.groups) else np.zeros(0, np.int32)
        n_abs = sum(s.abstained.values())
        n_err = sum(s.errors.values())
        overall = evaluate(y, p, n_bootstrap=n_bootstrap, seed=seed)
        rows.append(SubsetResult(pname, det, "all", "item", overall, n_abs, n_err, s.calibration, s.first_error))
        if overall.n == 0:
            continue  # abstained on every file: one row says so, a breakdown would repeat it
        if overall["auc"].value is not None:
            fpr, tpr, _ = roc_curve(y, p)
            fpr, tpr = _thin(fpr, tpr)
            curves.append(Curve(pname, det, "all", fpr, tpr, overall["auc"].value))
        # Per method: a fake method is judged against every real file (the usual
        # "this generator vs. real" protocol); a real source alone gives its false-alarm side.
        reals = y == 0
        for k, method in enumerate(methods):
            sel = mi == k
            n_abs_m = s.abstained.get(k, 0)
            n_err_m = s.errors.get(k, 0)
            if not sel.any() and not n_abs_m and not n_err_m:
                continue
            is_fake_method = bool(sel.any() and y[sel].max() == 1)
            mask = (sel | reals) if is_fake_method else sel
            rep = evaluate(y[mask], p[mask], n_bootstrap=n_bootstrap, seed=seed)
            rows.append(SubsetResult(pname, det, method, "method", rep, n_abs_m, n_err_m, s.calibration))
            if is_fake_method and rep["auc"].value is not None and len(methods) > 2:
                fpr, tpr, _ = roc_curve(y[mask], p[mask])
                fpr, tpr = _thin(fpr, tpr)
                curves.append(Curve(pname, det, method, fpr, tpr, rep["auc"].value))
        # Video-level: average the scores of items that share a group (frames of one video).
        has_group = gi >= 0
        if has_group.any():
            key = gi[has_group].astype(np.int64) * 2 + y[has_group]
            uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
            if counts.max() > 1:
                gp = np.bincount(inv, weights=p[has_group]) / counts
                gy = (uniq % 2).astype(np.int8)
                rep = evaluate(gy, gp, n_bootstrap=n_bootstrap, seed=seed)
                rows.append(SubsetResult(pname, det, "video-level (mean per group)", "group", rep, 0, 0, s.calibration))
        if len(s.frame_probs):
            fy = np.frombuffer(s.frame_labels, dtype=np.int8)
            fp = np.frombuffer(s.frame_probs, dtype=np.float64)
            rep = evaluate(fy, fp, n_bootstrap=n_bootstrap, seed=seed)
            rows.append(SubsetResult(pname, det, "frame-level (timeline windows)", "frame", rep, 0, 0, s.calibration))
    return rows, curves
