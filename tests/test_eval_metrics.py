"""Metrics against scikit-learn (test-only reference) on random scores, ties and degenerate sets."""

from __future__ import annotations

import numpy as np
import pytest

from unmask.eval import metrics as M

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _data(seed: int, n: int = 400, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    # Overlapping classes so that every metric is away from its trivial value.
    p = 1.0 / (1.0 + np.exp(-(rng.normal(0, 1.5, n) + 1.2 * (2 * y - 1))))
    if ties:
        p = np.round(p, 1)  # many exact ties, including across classes
    return y, np.clip(p, 1e-6, 1 - 1e-6)


def _reference_eer(y: np.ndarray, p: np.ndarray) -> float:
    # The usual EER recipe over scikit-learn's ROC: root of 1 - x - TPR(x).
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq

    fpr, tpr, _ = sklearn_metrics.roc_curve(y, p, drop_intermediate=False)
    return float(brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-12))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_metrics_match_sklearn(seed: int, ties: bool) -> None:
    y, p = _data(seed, ties=ties)
    fpr, tpr, thr = M.roc_curve(y, p)
    rfpr, rtpr, rthr = sklearn_metrics.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, rfpr, atol=1e-12)
    np.testing.assert_allclose(tpr, rtpr, atol=1e-12)
    np.testing.assert_allclose(thr[1:], rthr[1:], atol=1e-12)
    assert M.roc_auc(y, p) == pytest.approx(sklearn_metrics.roc_auc_score(y, p), abs=1e-6)
    assert M.average_precision(y, p) == pytest.approx(sklearn_metrics.average_precision_score(y, p), abs=1e-6)
    assert M.brier_score(y, p) == pytest.approx(sklearn_metrics.brier_score_loss(y, p), abs=1e-6)
    assert M.log_loss(y, p) == pytest.approx(sklearn_metrics.log_loss(y, p), abs=1e-6)
    assert M.accuracy(y, p) == pytest.approx(sklearn_metrics.accuracy_score(y, p >= 0.5), abs=1e-12)
    eer, eer_thr = M.equal_error_rate(y, p)
    assert eer == pytest.approx(_reference_eer(y, p), abs=1e-6)
    # Flagging at the EER threshold misses no more fakes than the EER says.
    assert np.mean(p[y == 1] < eer_thr) <= eer + 1e-9
    for target in (0.01, 0.05, 0.2):
        ok = rfpr <= target + 1e-12
        assert M.tpr_at_fpr(y, p, target) == pytest.approx(rtpr[ok].max(), abs=1e-12)
    # point_metrics (the single-sort path used in bootstraps) agrees with the one-metric functions.
    pm = M.point_metrics(y, p)
    assert pm["auc"] == pytest.approx(M.roc_auc(y, p), abs=1e-12)
    assert pm["eer"] == pytest.approx(eer, abs=1e-12)
    assert pm["ap"] == pytest.approx(M.average_precision(y, p), abs=1e-12)


def test_ece_matches_direct_binning() -> None:
    y, p = _data(3)
    total = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        sel = (p >= lo) & ((p < hi) if b < 9 else (p <= hi))
        if sel.any():
            total += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    assert M.expected_calibration_error(y, p) == pytest.approx(total, abs=1e-12)
    # Perfectly calibrated bins: ECE 0; always-wrong confident scores: ECE ~1.
    assert M.expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)
    assert M.expected_calibration_error([0, 1], [1.0, 0.0]) == pytest.approx(1.0)


def test_known_values() -> None:
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert M.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    eer, thr = M.equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert eer == 0.0 and thr == pytest.approx(0.8)


def test_single_class_and_empty_sets_do_not_crash() -> None:
    rep = M.evaluate([1, 1, 1], [0.9, 0.8, 0.7], n_bootstrap=50)
    assert rep["auc"].value is None and rep["eer"].value is None and rep["tpr_at_fpr_1pct"].value is None
    assert rep["accuracy"].value == pytest.approx(1.0)
    assert any("only fake" in n for n in rep.notes)
    empty = M.evaluate([], [], n_bootstrap=50)
    assert empty.n == 0 and empty["auc"].value is None and empty["brier"].value is None
    with pytest.raises(ValueError, match="both classes"):
        M.roc_curve([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        M.evaluate([0, 1], [0.1, float("nan")])


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    y, p = _data(1, n=200)
    a = M.evaluate(y, p, n_bootstrap=300, seed=7)
    b = M.evaluate(y, p, n_bootstrap=300, seed=7)
    c = M.evaluate(y, p, n_bootstrap=300, seed=8)
    assert a.to_dict() == b.to_dict()
    assert a["auc"].ci_low != c["auc"].ci_low
    for name in M.METRIC_NAMES:
        v = a[name]
        assert v.ci_low is not None and v.ci_low <= v.value + 1e-9 <= v.ci_high + 2e-9, name
    # Twice the data gives a narrower AUC interval.
    y2, p2 = _data(1, n=800)
    big = M.evaluate(y2, p2, n_bootstrap=300, seed=7)
    assert big["auc"].ci_high - big["auc"].ci_low < a["auc"].ci_high - a["auc"].ci_low


def test_tiny_set_with_one_item_per_class_bootstraps_without_crash() -> None:
    rep = M.evaluate([0, 1], [0.2, 0.7], n_bootstrap=100, seed=0)
    assert rep["auc"].value == 1.0
    assert any("single class" in n for n in rep.notes)
