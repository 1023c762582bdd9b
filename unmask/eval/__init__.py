"""Evaluation: labelled dataset layouts, metrics with bootstrap intervals, robustness
perturbations, a resumable runner, report writers and calibration fitting.

Evaluation may import runtime code (``unmask.scan``, the registry, fusion);
runtime code never imports this package. Modules:

- ``layouts``    ``detect_layout(root)``, ``iter_items(root)``: labelled items, streamed
- ``metrics``    ROC AUC, EER, AP, accuracy, TPR@FPR, log loss, Brier, ECE (numpy only)
- ``perturb``    JPEG, resize, H.264, MP3, Opus and telephone-band re-encodings
- ``runner``     ``run_eval``: score, cache by content hash, resume, compute metrics
- ``output``     Markdown, JSON, ROC/DET PNGs
- ``calibrate``  ``fit_calibration``: Platt or isotonic, chosen by held-out ECE
- ``command``    the ``unmask eval`` and ``unmask calibrate`` subcommands
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "EvalItem": "unmask.eval.layouts",
    "detect_layout": "unmask.eval.layouts",
    "iter_items": "unmask.eval.layouts",
    "evaluate": "unmask.eval.metrics",
    "MetricReport": "unmask.eval.metrics",
    "parse_perturbations": "unmask.eval.perturb",
    "run_eval": "unmask.eval.runner",
    "EvalResult": "unmask.eval.runner",
    "write_outputs": "unmask.eval.output",
    "fit_calibration": "unmask.eval.calibrate",
    "register": "unmask.eval.command",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'unmask.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
