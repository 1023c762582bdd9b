"""A calibration saved by `unmask calibrate` changes what the scan reports, and says so."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from unmask._scan import Scanner
from unmask.config import ScanOptions
from unmask.core import FindingStatus
from unmask.detectors import get_card
from unmask.fusion.calibration import Calibration, save_calibration

ML = "ai-image"  # the registered detector that produces model scores


@pytest.fixture()
def image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(path)
    return path


def scan_one(image, **options):
    report = Scanner(ScanOptions(detectors=(ML,), **options)).scan(image)
    (finding,) = report.findings
    return finding


def test_saved_calibration_is_applied_and_named(image, tmp_path):
    raw = scan_one(image, calibration_dir=str(tmp_path / "none"))
    assert raw.status is FindingStatus.SCORED  # raw.calibration names the detector's shipped calibration, if any
    cal = Calibration(ML, "platt", {"a": 1.0, "b": 2.0}, detector_version=get_card(ML).version, fitted_on={"n_items": 10})
    save_calibration(cal, tmp_path / "cal")
    calibrated = scan_one(image, calibration_dir=str(tmp_path / "cal"))
    p = raw.probability_fake
    expected = 1 / (1 + math.exp(-(math.log(p / (1 - p)) + 2.0)))
    assert calibrated.probability_fake == pytest.approx(expected, rel=1e-6)
    assert calibrated.calibration and "platt" in calibrated.calibration and calibrated.calibration != raw.calibration
    uncalibrated = scan_one(image, calibration_dir=str(tmp_path / "cal"), calibrated=False)
    assert uncalibrated.probability_fake == pytest.approx(p) and uncalibrated.calibration == raw.calibration


def test_calibration_for_another_version_is_ignored(image, tmp_path):
    raw = scan_one(image, calibration_dir=str(tmp_path / "none"))
    save_calibration(Calibration(ML, "platt", {"a": 1.0, "b": 2.0}, detector_version="0.0.0-old"), tmp_path)
    stale = scan_one(image, calibration_dir=str(tmp_path))
    assert stale.calibration == raw.calibration and stale.probability_fake == pytest.approx(raw.probability_fake)


def test_corrupt_calibration_file_fails_the_detector_not_the_scan(image, tmp_path):
    (tmp_path / f"{ML}.json").write_text("{not json")
    finding = scan_one(image, calibration_dir=str(tmp_path))
    assert finding.status is FindingStatus.ERROR and "calibration" in finding.summary
