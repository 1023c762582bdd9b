"""Calibration: fitting improves ECE on miscalibrated scores; files round-trip and are found by scans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unmask.eval.calibrate import fit_calibration, fit_isotonic, fit_platt
from unmask.eval.metrics import expected_calibration_error
from unmask.fusion.calibration import Calibration, calibration_dir, load_calibration, save_calibration


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(z); reported scores sigmoid(3z + 1): overconfident and biased towards fake."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 1 / (1 + np.exp(-(3 * z + 1))), y


@pytest.mark.parametrize("method", ["auto", "platt", "isotonic"])
def test_fit_improves_ece_on_fresh_data(method: str) -> None:
    p, y = _miscalibrated(2000, 0)
    cal = fit_calibration(p, y, detector="toy", method=method, dataset="synthetic")
    assert cal.fitted_on["ece_after"] < 0.5 * cal.fitted_on["ece_before"]
    p2, y2 = _miscalibrated(4000, 1)  # data the map has never seen
    before = expected_calibration_error(y2, p2)
    after = expected_calibration_error(y2, cal.apply(p2))
    assert before > 0.08 and after < 0.04
    if method == "auto":
        assert cal.method in ("platt", "isotonic") and "held-out ECE" in cal.fitted_on["selection"]


def test_platt_recovers_the_distortion() -> None:
    p, y = _miscalibrated(20000, 2)
    a, b = fit_platt(p, y)
    # logit(p) = 3z + 1 and P(fake) = sigmoid(z), so the inverse map is a = 1/3, b = -1/3.
    assert a == pytest.approx(1 / 3, abs=0.03) and b == pytest.approx(-1 / 3, abs=0.05)


def test_isotonic_is_monotone_and_ties_map_together() -> None:
    p = np.array([0.1, 0.2, 0.2, 0.3, 0.4, 0.9, 0.9])
    y = np.array([0, 1, 0, 0, 1, 1, 1])
    xs, ys = fit_isotonic(p, y)
    assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) >= 0)
    cal = Calibration("toy", "isotonic", {"x": xs, "y": ys})
    out = cal.apply(p)
    assert out[1] == out[2] and np.all(np.diff(out) >= -1e-12)
    assert 0 < out.min() and out.max() < 1  # a finite sample never makes the map certain


def test_well_calibrated_scores_keep_the_identity() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(3000)
    y = (rng.random(3000) < p).astype(int)
    cal = fit_calibration(p, y, detector="toy", method="auto")
    # Either no map beat the raw scores, or the chosen one is close to the identity.
    grid = np.linspace(0.05, 0.95, 19)
    assert cal.method == "identity" or np.max(np.abs(cal.apply(grid) - grid)) < 0.1


def test_too_few_files_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 2 fake and 2 real"):
        fit_calibration([0.2, 0.8, 0.9], [0, 1, 1], detector="toy")


def test_save_load_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p, y = _miscalibrated(500, 4)
    cal = fit_calibration(p, y, detector="toy", detector_version="1.2.0", dataset="dev/toy")
    monkeypatch.setenv("UNMASK_CALIBRATION_DIR", str(tmp_path / "cal"))
    assert calibration_dir() == tmp_path / "cal"
    assert load_calibration("toy") is None
    path = save_calibration(cal)
    assert path == tmp_path / "cal" / "toy.json"
    loaded = load_calibration("toy", detector_version="1.2.0")
    assert loaded == cal
    np.testing.assert_allclose(loaded.apply(p), cal.apply(p))
    assert isinstance(loaded.apply(0.7), float)
    assert loaded.label.startswith(cal.method) and "500 files" in loaded.label
    # A calibration fitted for another detector version is stale: ignored.
    assert load_calibration("toy", detector_version="2.0.0") is None
    # A broken file is reported with its path, not silently dropped.
    path.write_text(json.dumps({"schema_version": 1, "detector": "toy", "method": "platt", "params": {"a": "x"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="toy.json"):
        load_calibration("toy")
    with pytest.raises(ValueError, match="not a detector name"):
        load_calibration("../etc")


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("UNMASK_CALIBRATION_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert calibration_dir() == tmp_path / ".local" / "share" / "unmask" / "calibration"
