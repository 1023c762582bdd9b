"""The ``unmask eval`` and ``unmask calibrate`` commands through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unmask.cli import main
from unmask.core import Finding, FindingStatus, Report, Signal, Verdict
from unmask.eval import runner
from unmask.fusion.calibration import load_calibration
from unmask.testing.datasets import make_image_set, toy_scorer

SHARED = Path(__file__).resolve().parents[2] / "shared"


def test_eval_command_runs_the_real_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_image_set(tmp_path / "ds", n_real=4, n_fake=4, size_px=32)
    out = tmp_path / "out"
    assert main(["eval", str(root), "--out", str(out), "--bootstrap", "0", "--perturb", "jpeg:75"]) == 0
    stdout = capsys.readouterr().out
    assert "# unmask eval:" in stdout and "| Detector | Subset |" in stdout and "jpeg:75" in stdout
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["n_items"] == 8 and data["layout"] == "labels-csv"
    assert {r["detector"] for r in data["results"]} >= {"c2pa", "metadata", "fused"}
    # A rerun is served from the cache.
    assert main(["eval", str(root), "--out", str(out), "--bootstrap", "0"]) == 0
    assert "Scored now: 0; from cache: 8." in capsys.readouterr().out


def test_eval_command_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    root = make_image_set(tmp_path / "ds", n_real=1, n_fake=1)
    assert main(["eval", str(root), "--perturb", "jpeg:500"]) == 2
    assert main(["eval", str(root), "--detectors", "c2pq"]) == 2
    assert "did you mean 'c2pa'" in capsys.readouterr().err


def test_calibrate_command_fits_on_raw_scores_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cal_dir = tmp_path / "cal"
    monkeypatch.setenv("UNMASK_CALIBRATION_DIR", str(cal_dir))
    seen_calibrated: list[bool] = []

    def fake_scan(path: Path, *, detectors: tuple[str, ...] | None = None, calibrated: bool = True) -> Report:
        # The scan boundary is faked (no trained model scores the toy set); the command
        # must ask for raw, uncalibrated scores so the fit does not compose two maps.
        seen_calibrated.append(calibrated)
        p = toy_scorer(path).probability
        f = Finding("metadata", "1.0.0", FindingStatus.SCORED, "toy", probability_fake=p, signal=Signal.ML)
        return Report(str(path), Verdict.UNCERTAIN, p, (), findings=(f,))

    monkeypatch.setattr(runner, "scan_path", fake_scan)
    root = make_image_set(tmp_path / "ds", n_real=40, n_fake=40)
    code = main(["calibrate", str(root), "--detector", "metadata", "--cache", str(tmp_path / "cache")])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "ECE before" in stdout and "Saved" in stdout
    assert seen_calibrated and not any(seen_calibrated)
    cal = load_calibration("metadata", detector_version="1.0.0")
    assert cal is not None and cal.fitted_on["n_items"] == 80
    assert cal.fitted_on["ece_after"] < cal.fitted_on["ece_before"]


@pytest.mark.parametrize("name", ["audio", "faces", "genimg"])
def test_eval_on_dev_sets(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = SHARED / "data" / "dev" / name
    if not (root / "labels.csv").is_file():
        pytest.skip(f"{root} is not available")
    assert main(["eval", str(root), "--out", str(tmp_path), "--bootstrap", "20", "--limit", "12"]) == 0
    out = capsys.readouterr().out
    assert "| c2pa |" in out and "| fused |" in out
