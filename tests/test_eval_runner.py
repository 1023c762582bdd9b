"""The evaluation runner: scoring, resuming after an interruption, abstentions, perturbations, outputs."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from unmask.eval.output import render_markdown, write_outputs
from unmask.eval.perturb import parse_perturbations
from unmask.eval.runner import CACHE_NAME, run_eval
from unmask.testing.datasets import TOY_ABSTAINER, TOY_DETECTOR, make_image_set, toy_scorer


class CountingScorer:
    """toy_scorer that counts calls per file and can fail after a number of calls, like a killed run."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_after = fail_after

    def __call__(self, path: Path):  # noqa: ANN204
        if self.fail_after is not None and sum(self.calls.values()) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls[Path(path).name] += 1
        return toy_scorer(path)


def _overall(result, detector: str, perturbation: str = "none"):  # noqa: ANN001, ANN202
    return next(r for r in result.rows if r.detector == detector and r.subset == "all" and r.perturbation == perturbation)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    return make_image_set(tmp_path / "ds", n_real=30, n_fake=30)


def test_scores_match_direct_metrics(dataset: Path, tmp_path: Path) -> None:
    from unmask.eval.layouts import iter_items
    from unmask.eval.metrics import roc_auc

    result = run_eval(dataset, out_dir=tmp_path / "out", scorer=toy_scorer, scorer_id="toy", n_bootstrap=0)
    items = list(iter_items(dataset))
    y = [i.label for i in items]
    p = [toy_scorer(i.path).probability for i in items]
    row = _overall(result, TOY_DETECTOR)
    assert row.report.n == 60 and row.report["auc"].value == pytest.approx(roc_auc(y, p))
    assert 0.7 < row.report["auc"].value < 1.0  # the toy set is made to overlap
    # The detector that never applies is counted, not scored.
    abst = _overall(result, TOY_ABSTAINER)
    assert abst.report.n == 0 and abst.n_abstained == 60
    # Per method: each fake method is judged against every real file.
    by_method = {r.subset: r for r in result.rows if r.detector == TOY_DETECTOR and r.level == "method"}
    assert set(by_method) == {"camera", "gan-a", "gan-b"}
    assert (by_method["gan-a"].report.n_fake, by_method["gan-a"].report.n_real) == (15, 30)
    assert by_method["camera"].report["auc"].value is None and by_method["camera"].report.n_real == 30
    assert by_method["gan-b"].report["auc"].value > by_method["gan-a"].report["auc"].value  # made easier


def test_resume_after_interruption_scores_every_file_once(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = CountingScorer(fail_after=23)
    with pytest.raises(KeyboardInterrupt):
        run_eval(dataset, out_dir=out, scorer=first, scorer_id="toy", n_bootstrap=0)
    assert sum(first.calls.values()) == 23
    # A kill can cut the last line short: the runner must step over it.
    with (out / CACHE_NAME).open("a", encoding="utf-8") as fh:
        fh.write('{"key": "trunc')
    second = CountingScorer()
    result = run_eval(dataset, out_dir=out, scorer=second, scorer_id="toy", n_bootstrap=0)
    assert sum(second.calls.values()) == 60 - 23
    assert not set(first.calls) & set(second.calls)  # no file scored twice
    assert result.n_scored_now == 37 and result.n_from_cache == 23
    reference = run_eval(dataset, out_dir=tmp_path / "ref", scorer=toy_scorer, scorer_id="toy", n_bootstrap=0)
    assert _overall(result, TOY_DETECTOR).report.to_dict() == _overall(reference, TOY_DETECTOR).report.to_dict()
    # A third run scores nothing; a different scorer id scores everything again.
    third = CountingScorer()
    run_eval(dataset, out_dir=out, scorer=third, scorer_id="toy", n_bootstrap=0)
    assert not third.calls
    fourth = CountingScorer()
    run_eval(dataset, out_dir=out, scorer=fourth, scorer_id="toy-v2", n_bootstrap=0, limit=5)
    assert sum(fourth.calls.values()) == 5


def test_cache_is_by_content_not_path(tmp_path: Path) -> None:
    root = make_image_set(tmp_path / "ds", n_real=4, n_fake=4)
    (root / "labels.csv").write_text(
        (root / "labels.csv").read_text(encoding="utf-8") + "real/r000000.png,real,copy\n", encoding="utf-8"
    )
    scorer = CountingScorer()
    result = run_eval(root, out_dir=tmp_path / "out", scorer=scorer, scorer_id="toy", n_bootstrap=0)
    assert sum(scorer.calls.values()) == 8 and result.n_items == 9


def test_perturbations_are_scored_separately_and_skipped_where_they_do_not_apply(dataset: Path, tmp_path: Path) -> None:
    scorer = CountingScorer()
    result = run_eval(
        dataset, out_dir=tmp_path / "out", scorer=scorer, scorer_id="toy", perturbations=parse_perturbations("jpeg:20,mp3:64k"), n_bootstrap=0
    )
    assert sum(scorer.calls.values()) == 120  # clean + JPEG; MP3 does not apply to images
    assert any(name.endswith(".jpg") for name in scorer.calls)
    assert result.n_skipped == {"jpeg:20": 0, "mp3:64k": 60}
    clean, jpeg = _overall(result, TOY_DETECTOR), _overall(result, TOY_DETECTOR, "jpeg:20")
    assert jpeg.report.n == 60 and jpeg.report["brier"].value != clean.report["brier"].value
    assert "jpeg:20" in render_markdown(result)


def test_workers_give_the_same_results(dataset: Path, tmp_path: Path) -> None:
    one = run_eval(dataset, out_dir=tmp_path / "a", scorer=toy_scorer, scorer_id="toy", n_bootstrap=50)
    two = run_eval(dataset, out_dir=tmp_path / "b", scorer=toy_scorer, scorer_id="toy", n_bootstrap=50, workers=2)
    assert [r.to_dict() for r in one.rows] == [r.to_dict() for r in two.rows]
    assert (tmp_path / "a" / "scores.csv").read_text() == (tmp_path / "b" / "scores.csv").read_text()


def test_unreadable_files_are_errors_not_crashes(tmp_path: Path) -> None:
    from unmask.errors import DecodeError

    root = make_image_set(tmp_path / "ds", n_real=3, n_fake=3)
    (root / "labels.csv").write_text((root / "labels.csv").read_text(encoding="utf-8") + "missing.png,fake,gan-a\n", encoding="utf-8")

    def picky(path: Path):  # noqa: ANN202
        if "f000001" in str(path):
            raise DecodeError("broken")
        return toy_scorer(path)

    result = run_eval(root, out_dir=tmp_path / "out", scorer=picky, scorer_id="picky", n_bootstrap=0)
    row = _overall(result, "fused")
    assert row.report.n == 5 and row.n_errors == 2


def test_outputs(dataset: Path, tmp_path: Path) -> None:
    from PIL import Image

    result = run_eval(dataset, out_dir=tmp_path / "out", scorer=toy_scorer, scorer_id="toy", n_bootstrap=100)
    paths = write_outputs(result)
    for key in ("roc", "det", f"roc-{TOY_DETECTOR}"):
        with Image.open(paths[key]) as im:
            im.load()
            assert im.format == "PNG" and im.size == (900, 720)
            # Curves are drawn in colour, not just black axes on white.
            colours = {c for _, c in im.getcolors(1 << 20)}
            assert any(len({r, g, b}) > 1 for r, g, b in colours)
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    auc = next(r for r in data["results"] if r["detector"] == TOY_DETECTOR and r["subset"] == "all")["metrics"]["auc"]
    assert auc["ci_low"] < auc["value"] < auc["ci_high"]
    with paths["csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 60 * 3  # fused + two detectors per file
    toy = [r for r in rows if r["detector"] == TOY_DETECTOR]
    assert all(0 <= float(r["probability_fake"]) <= 1 for r in toy)
    assert {r["status"] for r in rows if r["detector"] == TOY_ABSTAINER} == {"not_applicable"}
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| toy-brightness | **all** | 30 / 30 |" in md and "not applicable to any file" in md


def test_video_level_metrics_from_groups(tmp_path: Path) -> None:
    root = make_image_set(tmp_path / "ds", n_real=8, n_fake=8)
    lines = (root / "labels.csv").read_text(encoding="utf-8").splitlines()
    out = ["path,label,method,group"] + [f"{line},v{i // 2}" for i, line in enumerate(lines[1:])]
    (root / "labels.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    result = run_eval(root, out_dir=tmp_path / "out", scorer=toy_scorer, scorer_id="toy", n_bootstrap=0)
    video = next(r for r in result.rows if r.detector == TOY_DETECTOR and r.level == "group")
    assert (video.report.n_fake, video.report.n_real) == (4, 4)
    assert np.isfinite(video.report["auc"].value)
