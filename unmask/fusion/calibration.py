"""Calibration maps: a detector's raw P(fake) → a calibrated P(fake), stored as JSON data files.

A calibration is data, not code: its method and parameters plus a description
of the labelled set it was fitted on (name, size, date, ECE before and after),
so a report can say which calibration produced a probability. Fitting lives in
``unmask.eval.calibrate``; this module only applies, loads and saves, and
imports nothing but numpy and the standard library.

Files live in ``calibration_dir()``, one ``<detector>.json`` per detector.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

CALIBRATION_SCHEMA_VERSION = 1
ENV_DIR = "UNMASK_CALIBRATION_DIR"
Method = Literal["platt", "isotonic", "identity"]
_METHODS = ("platt", "isotonic", "identity")
# Raw scores of exactly 0 or 1 have infinite logits; clipping them this far in keeps
# Platt scaling finite while leaving every score a model can really emit unchanged.
_LOGIT_EPS = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted map from a detector's raw probability to a calibrated one.

    Parameters
    ----------
    detector : str
        Registry name of the detector it applies to.
    method : {"platt", "isotonic", "identity"}
        ``platt``: p' = sigmoid(a * logit(p) + b), parameters ``a``, ``b``.
        ``isotonic``: piecewise-linear through ``x`` → ``y`` (both non-decreasing).
        ``identity``: p' = p (recorded when fitting found no improvement).
    params : dict
        Method parameters as above (JSON numbers and lists).
    detector_version : str or None
        Card version of the detector whose outputs were fitted; a calibration for
        another version is stale and ``load_calibration`` ignores it.
    fitted_on : dict
        ``dataset`` (path or name), ``n_items``, ``n_fake``, ``n_real``, ``date`` (ISO 8601),
        ``ece_before``, ``ece_after`` (held-out), ``selection`` (how the method was chosen).
    """

    detector: str
    method: Method
    params: dict[str, Any] = field(default_factory=dict)
    detector_version: str | None = None
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(_METHODS)}, got {self.method!r}")
        if self.method == "platt":
            for k in ("a", "b"):
                if not isinstance(self.params.get(k), (int, float)) or not math.isfinite(self.params[k]):
                    raise ValueError(f"platt calibration needs a finite number {k!r}, got {self.params.get(k)!r}")
        elif self.method == "isotonic":
            x = np.asarray(self.params.get("x", ()), dtype=np.float64)
            y = np.asarray(self.params.get("y", ()), dtype=np.float64)
            if x.ndim != 1 or x.shape != y.shape or x.size < 1:
                raise ValueError("isotonic calibration needs lists 'x' and 'y' of the same non-zero length")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or y.min() < 0 or y.max() > 1:
                raise ValueError("isotonic calibration needs non-decreasing 'x' and non-decreasing 'y' in [0, 1]")

    @property
    def label(self) -> str:
        """One line for reports: ``"isotonic (dev/audio, 120 files, 2025-06-01)"``."""
        if self.method == "identity":
            return "identity (no calibration improved ECE)"
        bits = [str(self.fitted_on.get(k)) for k in ("dataset",) if self.fitted_on.get(k)]
        if self.fitted_on.get("n_items") is not None:
            bits.append(f"{self.fitted_on['n_items']} files")
        if self.fitted_on.get("date"):
            bits.append(str(self.fitted_on["date"])[:10])
        return f"{self.method} ({', '.join(bits)})" if bits else self.method

    def describe(self) -> str:
        """What ``Finding.calibration`` records: the same one line as ``label``."""
        return self.label

    def apply(self, probability: float | np.ndarray) -> float | np.ndarray:
        """Map raw P(fake) to calibrated P(fake); a float gives a float, an array an array."""
        p = np.asarray(probability, dtype=np.float64)
        if self.method == "platt":
            z = self.params["a"] * _logit(p) + self.params["b"]
            out = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid that cannot overflow
        elif self.method == "isotonic":
            out = np.interp(p, self.params["x"], self.params["y"])
        else:
            out = p.copy()
        out = np.clip(out, 0.0, 1.0)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": CALIBRATION_SCHEMA_VERSION,
            "detector": self.detector,
            "detector_version": self.detector_version,
            "method": self.method,
            "params": self.params,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        version = data.get("schema_version")
        if version != CALIBRATION_SCHEMA_VERSION:
            raise ValueError(f"calibration schema version {version!r} is not {CALIBRATION_SCHEMA_VERSION}; refit with `unmask calibrate`")
        return cls(
            detector=str(data["detector"]),
            method=data["method"],
            params=dict(data.get("params") or {}),
            detector_version=data.get("detector_version"),
            fitted_on=dict(data.get("fitted_on") or {}),
        )


def calibration_dir() -> Path:
    """Where calibrations are read and written: ``$UNMASK_CALIBRATION_DIR``, else ``~/.local/share/unmask/calibration``.

    The environment variable exists for deployments (server, batch workers) that
    are configured by environment rather than by argument; it is read on every call.
    """
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "unmask" / "calibration"


def calibration_path(detector_name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    if not detector_name or "/" in detector_name or "\\" in detector_name or detector_name.startswith("."):
        raise ValueError(f"not a detector name: {detector_name!r}")
    return Path(directory) if directory is not None else calibration_dir()


def load_calibration(
    detector_name: str, directory: str | os.PathLike[str] | None = None, *, detector_version: str | None = None
) -> Calibration | None:
    """The saved calibration of ``detector_name``, or None when there is none.

    A calibration fitted for another ``detector_version`` is stale (the model's
    outputs changed) and is ignored: None is returned. A file that exists but
    cannot be read raises ``ValueError`` naming the file, because silently
    dropping a calibration the user fitted would change verdicts unnoticed.
    """
    path = calibration_path(detector_name, directory) / f"{detector_name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        cal = Calibration.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"calibration file {path} is unreadable ({exc}); delete it or refit with `unmask calibrate`") from exc
    if cal.detector != detector_name:
        raise ValueError(f"calibration file {path} is for detector {cal.detector!r}, not {detector_name!r}")
    if detector_version is not None and cal.detector_version not in (None, detector_version):
        return None
    return cal


def save_calibration(calibration: Calibration, directory: str | os.PathLike[str] | None = None) -> Path:
    """Write ``<directory>/<detector>.json`` atomically and return its path."""
    folder = calibration_path(calibration.detector, directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{calibration.detector}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees a half-written file
    return path
