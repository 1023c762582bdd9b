"""The ``unmask eval`` and ``unmask calibrate`` subcommands (argparse), thin adapters over the runner.

``unmask.cli`` calls ``register(subparsers)``; each subcommand sets ``func``,
a callable ``(args) -> int`` exit code. Errors are raised as ``UnmaskError``
subclasses for the CLI to map to messages and exit codes.
"""

from __future__ import annotations

import argparse
import functools
import csv
import sys
from pathlib import Path

from unmask.errors import ExitCode, UsageError

EVAL_EPILOG = """\
dataset layouts (detected automatically):
  labels.csv            path,label[,method[,group]]  (label real/fake, bonafide/spoof or 0/1)
  real/ + fake/         nested folders allowed; method = first subfolder name
  FaceForensics++       original_sequences/, manipulated_sequences/<method>/<c23>/videos, splits/test.json
  Celeb-DF v2           List_of_testing_videos.txt
  DFDC                  metadata.json
  ASVspoof 2019/2021    CM protocol files / keys/*/CM/trial_metadata.txt
  In-the-Wild           meta.csv

outputs in --out: results.md, results.json, scores.csv (per file and detector),
roc.png, det.png, roc-by-method-<detector>.png, scores.jsonl (cache: a rerun
scores only files not seen before, so an interrupted run resumes).
"""


def _dataset_name(root: str) -> str:
    p = Path(root).resolve()
    return p.stem if p.is_file() else p.name


def _progress(every: int = 25):  # noqa: ANN202
    interactive = sys.stderr.isatty()

    def report(done: int, scored: int, path: str) -> None:
        if interactive:
            print(f"\r{done} files ({scored} scored now) {Path(path).name[:50]:<50}", end="", file=sys.stderr, flush=True)
        elif done % every == 0:
            print(f"{done} files ({scored} scored now)", file=sys.stderr, flush=True)

    return report


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``eval`` and ``calibrate`` to the ``unmask`` command's subparsers."""
    p = subparsers.add_parser(
        "eval",
        help="measure detectors on a labelled dataset: AUC, EER, calibration, per method and perturbation",
        description="Score every file of a labelled dataset and report AUC, EER, AP, accuracy, TPR at 1%%/5%% FPR, "
        "log loss, Brier score and ECE with bootstrap 95%% intervals, per detector and per method.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", help="dataset folder (or a labels CSV)")
    p.add_argument("--detectors", help="comma-separated detector names (default: every detector that applies)")
    p.add_argument("--perturb", metavar="LIST", help="also score re-encoded copies: jpeg:75,resize:0.5,h264:crf28,mp3:64k,opus:16k,tel8k")
    p.add_argument("--out", metavar="DIR", help="output folder (default: ./unmask-eval/<dataset name>)")
    p.add_argument("--workers", type=int, default=1, help="scoring processes (default: 1)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N files in the layout's order")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples for the 95%% intervals (default: 1000; 0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--layout", help="force a layout: labels-csv, folder, ffpp, celebdf, dfdc, asvspoof, in-the-wild")
    p.set_defaults(func=run_eval_command)

    c = subparsers.add_parser(
        "calibrate",
        help="fit a detector's calibration (Platt or isotonic) on a labelled set and save it for scans",
        description="Score a labelled set with one detector (uncalibrated), fit Platt scaling and isotonic "
        "regression, keep the one with the lower held-out expected calibration error, and save it where "
        "`unmask scan` loads it. Reports name the calibration they used.",
    )
    c.add_argument("root", help="dataset folder (or a labels CSV), any layout `unmask eval` reads")
    c.add_argument("--detector", required=True, help="detector to calibrate")
    c.add_argument("--method", choices=("auto", "platt", "isotonic"), default="auto", help="default: auto (lower held-out ECE)")
    c.add_argument("--out", metavar="DIR", help="calibration folder (default: $UNMASK_CALIBRATION_DIR or ~/.local/share/unmask/calibration)")
    c.add_argument("--cache", metavar="DIR", help="where scores are cached (default: ./unmask-eval/<dataset name>/calibrate-<detector>)")
    c.add_argument("--workers", type=int, default=1)
    c.add_argument("--limit", type=int, metavar="N")
    c.add_argument("--layout")
    c.set_defaults(func=run_calibrate_command)


def _check_counts(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")


def run_eval_command(args: argparse.Namespace) -> int:
    from unmask.detectors._registry import parse_detector_names
    from unmask.eval.output import render_markdown, write_outputs
    from unmask.eval.perturb import parse_perturbations
    from unmask.eval.runner import run_eval

    _check_counts(args)
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be 0 or more, got {args.bootstrap}")
    out = Path(args.out) if args.out else Path("unmask-eval") / _dataset_name(args.root)
    result = run_eval(
        args.root,
        out_dir=out,
        detectors=parse_detector_names(args.detectors),
        perturbations=parse_perturbations(args.perturb),
        layout=args.layout,
        limit=args.limit,
        workers=args.workers,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        progress=_progress(),
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    paths = write_outputs(result)
    print(render_markdown(result))
    print("Wrote " + ", ".join(str(p) for k, p in paths.items() if k in ("markdown", "json", "csv") or k.startswith(("roc", "det")) and "-" not in k))
    return int(ExitCode.OK)


def read_scores(csv_path: Path, detector: str, perturbation: str = "none") -> tuple[list[float], list[int]]:
    """Probabilities and labels of ``detector`` from a ``scores.csv`` (scored rows only)."""
    probs: list[float] = []
    labels: list[int] = []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["detector"] == detector and row["perturbation"] == perturbation and row["status"] == "scored":
                probs.append(float(row["probability_fake"]))
                labels.append(int(row["label"]))
    return probs, labels


def run_calibrate_command(args: argparse.Namespace) -> int:
    from unmask.detectors._registry import get_card
    from unmask.eval.calibrate import fit_calibration
    from unmask.eval.runner import SCORES_CSV, default_scorer_id, run_eval, scan_path
    from unmask.fusion.calibration import save_calibration

    _check_counts(args)
    card = get_card(args.detector)
    name = _dataset_name(args.root)
    cache = Path(args.cache) if args.cache else Path("unmask-eval") / name / f"calibrate-{card.name}"
    # Raw scores: fitting on already-calibrated scores would compose two maps.
    scorer = functools.partial(scan_path, detectors=(card.name,), calibrated=False)
    scorer_id = default_scorer_id((card.name,)) + "+uncalibrated"
    run_eval(
        args.root, out_dir=cache, scorer=scorer, scorer_id=scorer_id, layout=args.layout,
        limit=args.limit, workers=args.workers, n_bootstrap=0, progress=_progress(),
    )  # fmt: skip
    if sys.stderr.isatty():
        print(file=sys.stderr)
    probs, labels = read_scores(cache / SCORES_CSV, card.name)
    try:
        cal = fit_calibration(probs, labels, detector=card.name, method=args.method, detector_version=card.version, dataset=str(Path(args.root).resolve()))
    except ValueError as exc:
        raise UsageError(f"cannot calibrate {card.name} on {args.root}: {exc}", hint="the detector must score files of both classes") from None
    path = save_calibration(cal, args.out)
    fo = cal.fitted_on
    print(f"{card.name}: {cal.method} calibration fitted on {fo['n_items']} files ({fo['n_fake']} fake, {fo['n_real']} real)")
    print(f"ECE before {fo['ece_before']:.4f}, after {fo['ece_after']:.4f} (held-out, {fo['n_folds']}-fold); {fo['selection']}")
    print(f"Saved {path}")
    return int(ExitCode.OK)
