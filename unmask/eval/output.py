"""Write an evaluation: Markdown tables, JSON, ROC and DET plots (PNG, drawn with Pillow).

matplotlib is not a dependency of unmask, so the two plots are drawn with
``PIL.ImageDraw``: axes, ticks, labels, one curve per detector or method, a legend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np

from unmask.eval.metrics import MetricValue
from unmask.eval.runner import CLEAN, FUSED, Curve, EvalResult, SubsetResult

# Tableau-10: distinguishable for most colour-vision deficiencies and in greyscale print.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
_DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6)
_MAX_LEGEND = 12  # more curves than this make the plot unreadable; the rest are listed as "+N more"


def _cell(v: MetricValue, ci: bool) -> str:
    return v.format(3) if ci else ("–" if v.value is None else f"{v.value:.3f}")


def _name(text: str, width: int = 60) -> str:
    text = text.replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown_table(rows: Sequence[SubsetResult]) -> str:
    """One Markdown table: a row per (detector, subset); AUC and EER carry their 95% intervals."""
    head = "| Detector | Subset | Fake / real | Not scored | AUC [95% CI] | EER [95% CI] | EER thr. | AP | Acc@0.5 | TPR@1%FPR | TPR@5%FPR | Log loss | Brier | ECE |"
    lines = [head, "|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|"]
    for r in rows:
        m = r.report.metrics
        not_scored = f"{r.n_abstained}" + (f" (+{r.n_errors} err)" if r.n_errors else "")
        if r.report.n == 0:
            why = "failed on every file" if r.n_errors and not r.n_abstained else "not applicable to any file"
            det = r.detector if r.subset == "all" else ""
            lines.append(f"| {det} | {_name(r.subset)} | 0 / 0 | {not_scored} | {why} |" + " |" * 9)
            continue
        thr = "–" if r.report.eer_threshold is None else f"{r.report.eer_threshold:.3f}"
        cells = [
            r.detector if r.subset == "all" else "",
            "**all**" if r.subset == "all" else _name(r.subset),
            f"{r.report.n_fake} / {r.report.n_real}",
            not_scored,
            _cell(m["auc"], True),
            _cell(m["eer"], True),
            thr,
            _cell(m["ap"], False),
            _cell(m["accuracy"], False),
            _cell(m["tpr_at_fpr_1pct"], False),
            _cell(m["tpr_at_fpr_5pct"], False),
            _cell(m["log_loss"], False),
            _cell(m["brier"], False),
            _cell(m["ece"], False),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def robustness_table(result: EvalResult) -> str:
    """AUC (EER) of every detector under every perturbation, side by side."""
    overall = {(r.perturbation, r.detector): r for r in result.rows if r.subset == "all"}
    dets = sorted({d for _, d in overall}, key=lambda d: (d == FUSED, d))
    head = "| Detector | " + " | ".join(result.perturbations) + " |"
    lines = [head, "|" + "|".join("---" for _ in range(len(result.perturbations) + 1)) + "|"]
    for d in dets:
        cells = []
        for p in result.perturbations:
            r = overall.get((p, d))
            if r is None or r.report["auc"].value is None:
                cells.append("–")
            else:
                cells.append(f"{r.report['auc'].value:.3f} ({r.report['eer'].value:.3f})")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(result: EvalResult) -> str:
    parts = [
        f"# unmask eval: {result.dataset}",
        "",
        f"Layout `{result.layout}`, {result.n_items} files, scorer `{result.scorer_id}`. "
        f"Scored now: {result.n_scored_now}; from cache: {result.n_from_cache}. "
        f"Intervals: percentile bootstrap, {result.n_bootstrap} resamples, seed {result.seed}. "
        "Probabilities are P(fake); a fake method's row compares its fakes with every real file. "
        "\"Not scored\" counts files the detector abstained on (not applicable) or failed on; they are not in the metrics. "
        "Intervals for every metric are in results.json.",
    ]
    cals = sorted({(r.detector, r.calibration) for r in result.rows if r.calibration})
    if cals:
        parts += ["", "Calibrations in use: " + "; ".join(f"{d}: {c}" for d, c in cals) + "."]
    if len(result.perturbations) > 1:
        parts += ["", "## Robustness: AUC (EER) per perturbation", "", robustness_table(result)]
        skipped = {k: v for k, v in result.n_skipped.items() if v}
        if skipped:
            parts += ["", "Files a perturbation does not apply to (wrong media kind): " + ", ".join(f"{k}: {v}" for k, v in skipped.items()) + "."]
    for pert in result.perturbations:
        rows = [r for r in result.rows if r.perturbation == pert]
        if not rows:
            continue
        title = "Clean files" if pert == CLEAN else f"Perturbation `{pert}`"
        parts += ["", f"## {title}", "", markdown_table(rows)]
        notes = sorted({f"{r.detector}: {n}" for r in rows for n in r.report.notes if r.subset == "all" and r.report.n})
        notes += [f"{r.detector} failed on {r.n_errors} files, e.g. {r.error_example}" for r in rows if r.subset == "all" and r.n_errors and r.error_example]
        if notes:
            parts += ["", *(f"- {n}" for n in notes)]
    return "\n".join(parts) + "\n"


def write_outputs(result: EvalResult) -> dict[str, Path]:
    """Write results.md, results.json and the plots into ``result.out_dir``; return their paths by role."""
    out = result.out_dir
    paths: dict[str, Path] = {"markdown": out / "results.md", "json": out / "results.json", "csv": out / "scores.csv", "cache": out / "scores.jsonl"}
    paths["markdown"].write_text(render_markdown(result), encoding="utf-8")
    paths["json"].write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    for pert in result.perturbations:
        suffix = "" if pert == CLEAN else "-" + "".join(c if c.isalnum() or c == "." else "-" for c in pert)
        by_det = [c for c in result.curves if c.perturbation == pert and c.subset == "all"]
        # The clean plots are always written (empty with a note) so that scripts and
        # people find them where the documentation says.
        if by_det or pert == CLEAN:
            label = "clean" if pert == CLEAN else pert
            paths[f"roc{suffix}"] = plot_roc(by_det, out / f"roc{suffix}.png", title=f"ROC by detector ({label})")
            paths[f"det{suffix}"] = plot_det(by_det, out / f"det{suffix}.png", title=f"DET by detector ({label})")
        if pert == CLEAN:
            for det in sorted({c.detector for c in result.curves if c.perturbation == pert and c.subset != "all"}):
                by_method = [c for c in result.curves if c.perturbation == pert and c.detector == det and c.subset != "all"]
                safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in det)
                paths[f"roc-{det}"] = plot_roc(by_method, out / f"roc-by-method-{safe}.png", title=f"ROC of {det} per method (vs all real files)")
    return paths


# -- plots ------------------------------------------------------------------------------------------
class _Canvas:
    W, H = 900, 720
    LEFT, RIGHT, TOP, BOTTOM = 90, 30, 60, 80

    def __init__(self, title: str) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.im = Image.new("RGB", (self.W, self.H), "white")
        self.d = ImageDraw.Draw(self.im)
        try:
            self.font = ImageFont.load_default(size=15)
            self.small = ImageFont.load_default(size=12)
        except TypeError:  # Pillow < 10.1 has no sized default font
            self.font = self.small = ImageFont.load_default()
        self.x0, self.x1 = self.LEFT, self.W - self.RIGHT
        self.y0, self.y1 = self.H - self.BOTTOM, self.TOP  # y0 is the bottom (pixel y grows downwards)
        self.d.text((self.W / 2, 25), title, fill="black", font=self.font, anchor="mm")

    def px(self, u: np.ndarray, v: np.ndarray) -> list[tuple[float, float]]:
        """Unit-square coordinates (0..1, 0..1) → pixels."""
        xs = self.x0 + np.clip(u, 0, 1) * (self.x1 - self.x0)
        ys = self.y0 - np.clip(v, 0, 1) * (self.y0 - self.y1)
        return list(zip(xs.tolist(), ys.tolist()))

    def axes(self, ticks: Sequence[float], labels: Sequence[str], xlabel: str, ylabel: str) -> None:
        for t, lab in zip(ticks, labels):
            (x, _), = self.px(np.array([t]), np.array([0.0]))
            (_, y), = self.px(np.array([0.0]), np.array([t]))
            self.d.line([(x, self.y0), (x, self.y1)], fill="#e6e6e6")
            self.d.line([(self.x0, y), (self.x1, y)], fill="#e6e6e6")
            self.d.line([(x, self.y0), (x, self.y0 + 6)], fill="black")
            self.d.line([(self.x0 - 6, y), (self.x0, y)], fill="black")
            self.d.text((x, self.y0 + 10), lab, fill="black", font=self.small, anchor="mt")
            self.d.text((self.x0 - 10, y), lab, fill="black", font=self.small, anchor="rm")
        self.d.rectangle([self.x0, self.y1, self.x1, self.y0], outline="black")
        self.d.text(((self.x0 + self.x1) / 2, self.H - 30), xlabel, fill="black", font=self.font, anchor="mm")
        from PIL import Image, ImageDraw

        # Pillow cannot draw rotated text directly: draw it on a strip and rotate the strip.
        w = int(self.d.textlength(ylabel, font=self.font)) + 8
        strip = Image.new("RGB", (w, 22), "white")
        ImageDraw.Draw(strip).text((4, 2), ylabel, fill="black", font=self.font)
        rot = strip.rotate(90, expand=True)
        self.im.paste(rot, (18, int((self.y0 + self.y1) / 2 - rot.height / 2)))

    def curve(self, pts: list[tuple[float, float]], color: str, dashed: bool = False) -> None:
        if dashed:
            for a, b in zip(pts[:-1:2], pts[1::2]):
                self.d.line([a, b], fill=color, width=1)
        elif len(pts) > 1:
            self.d.line(pts, fill=color, width=3, joint="curve")

    def legend(self, entries: Sequence[tuple[str, str]], corner: str) -> None:
        if not entries:
            return
        line_h = 20
        width = max(int(self.d.textlength(t, font=self.small)) for t, _ in entries) + 50
        height = line_h * len(entries) + 10
        x = self.x1 - width - 10
        y = self.y0 - height - 10 if corner == "lower right" else self.y1 + 10
        self.d.rectangle([x, y, x + width, y + height], fill="white", outline="#999999")
        for i, (text, color) in enumerate(entries):
            yy = y + 5 + i * line_h + line_h / 2
            if color:
                self.d.line([(x + 8, yy), (x + 36, yy)], fill=color, width=3)
            self.d.text((x + 44, yy), text, fill="black", font=self.small, anchor="lm")

    def note(self, text: str) -> None:
        x, y = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        w = self.d.textlength(text, font=self.font) / 2 + 12
        self.d.rectangle([x - w, y - 18, x + w, y + 18], fill="white", outline="#999999")
        self.d.text((x, y), text, fill="black", font=self.font, anchor="mm")

    def save(self, path: Path) -> Path:
        self.im.save(path, "PNG")
        return path


def _legend_entries(curves: Sequence[Curve]) -> list[tuple[Curve, str, str]]:
    out = []
    for i, c in enumerate(curves[:_MAX_LEGEND]):
        name = c.detector if c.subset == "all" else c.subset
        auc = "" if c.auc is None else f"  AUC {c.auc:.3f}"
        out.append((c, f"{_name(name, 48)}{auc}", PALETTE[i % len(PALETTE)]))
    return out


def plot_roc(curves: Sequence[Curve], path: Path, *, title: str = "ROC") -> Path:
    """ROC curves (TPR against FPR, linear axes) with the chance diagonal."""
    cv = _Canvas(title)
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    cv.axes(ticks, [f"{t:.1f}" for t in ticks], "False-positive rate (real files flagged)", "True-positive rate (fakes flagged)")
    diag = np.linspace(0, 1, 60)
    cv.curve(cv.px(diag, diag), "#aaaaaa", dashed=True)
    entries = _legend_entries(curves)
    for c, _, color in entries:
        cv.curve(cv.px(c.fpr, c.tpr), color)
    legend = [(t, col) for _, t, col in entries]
    if len(curves) > _MAX_LEGEND:
        legend.append((f"+{len(curves) - _MAX_LEGEND} more (see results.json)", ""))
    cv.legend(legend, "lower right")
    if not curves:
        cv.note("No detector scored both real and fake files.")
    return cv.save(path)


def _probit(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    inv = np.vectorize(NormalDist().inv_cdf)
    a, b = inv(lo), inv(hi)
    return (inv(np.clip(p, lo, hi)) - a) / (b - a)


def plot_det(curves: Sequence[Curve], path: Path, *, title: str = "DET") -> Path:
    """DET curves: false-negative against false-positive rate on normal-deviate axes (Martin et al. 1997)."""
    lo, hi = _DET_TICKS[0], _DET_TICKS[-1]
    cv = _Canvas(title)
    pos = _probit(np.array(_DET_TICKS), lo, hi)
    cv.axes(pos.tolist(), [f"{t * 100:g}%" for t in _DET_TICKS], "False-positive rate (real files flagged)", "False-negative rate (fakes missed)")
    diag = np.linspace(0, 1, 60)
    cv.curve(cv.px(diag, diag), "#aaaaaa", dashed=True)  # the EER line: FPR = FNR
    entries = _legend_entries(curves)
    for c, _, color in entries:
        fnr = 1.0 - c.tpr
        keep = (c.fpr > 0) | (fnr > 0)
        if keep.sum() < 2:
            continue
        cv.curve(cv.px(_probit(c.fpr[keep], lo, hi), _probit(fnr[keep], lo, hi)), color)
    cv.legend([(t, col) for _, t, col in entries], "upper right")
    if not curves:
        cv.note("No detector scored both real and fake files.")
    return cv.save(path)
