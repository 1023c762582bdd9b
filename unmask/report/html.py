"""Reports → one self-contained HTML page (inline CSS, images as data: URIs, timelines as SVG).

The page works offline and survives being forwarded by e-mail: it loads nothing.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from typing import Any

from unmask.core import Report

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 16px}
section.file{background:#fff;border-radius:10px;box-shadow:0 1px 3px #0002;padding:20px 24px;margin:0 0 24px}
.verdict{display:inline-block;padding:6px 14px;border-radius:999px;font-weight:700;letter-spacing:.02em;color:#fff}
.likely_manipulated{background:#c62828}.likely_authentic{background:#2e7d32}.uncertain{background:#8d6e00}.error{background:#546e7a}
.prob{font-size:28px;font-weight:700;margin-left:12px;vertical-align:middle}
.src{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all;color:#455}
ul.reasons li{margin:4px 0}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.v{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-word;white-space:pre-wrap}
.st-scored{font-weight:600}.st-not_applicable{color:#78808a}.st-error{color:#b00020}
figure{margin:8px 0 16px}figure img{max-width:100%;border:1px solid #dde;border-radius:6px}
figcaption{font-size:13px;color:#556}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
footer{font-size:12px;color:#778;text-align:center;padding:12px}
"""

_VERDICT_TEXT = {
    "likely_manipulated": "LIKELY MANIPULATED",
    "likely_authentic": "LIKELY AUTHENTIC",
    "uncertain": "UNCERTAIN",
    "error": "COULD NOT ANALYSE",
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _value(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return _e(json.dumps(v, ensure_ascii=False, indent=1)[:4000])
    if isinstance(v, float):
        return _e(f"{v:.4g}")
    return _e(v)


_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 10, 12, 28  # plot margins of the SVG charts (px)


def _svg_axes(
    width: int, height: int, title: str, t_max: float, x: Callable[[float], float], y: Callable[[float], float], y_ticks: Sequence[tuple[float, str]], *, ref: float
) -> list[str]:
    """Opening of a chart over time: the plot area, a dashed line at ``y(ref)``, labelled y ticks and six time ticks."""
    pw, ph = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{_e(title)}</title>",
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#ccd"/>',
        f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y(ref):.1f}" y2="{y(ref):.1f}" stroke="#aab" stroke-dasharray="4 3"/>',
    ]
    for v, text in y_ticks:
        parts.append(f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#556">{text}</text>')
    for i in range(6):
        t = t_max * i / 5
        parts.append(f'<text x="{x(t):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#556">{t:.1f}s</text>')
    return parts


def timeline_svg(points: Sequence[dict[str, Any]], *, width: int = 880, height: int = 180, title: str = "", t_max: float | None = None) -> str:
    """Probability over time as an inline SVG: one polyline per label (face track, speaker...).

    ``t_max`` fixes the time axis (seconds) so several plots line up; default: the last point's end.
    """
    if not points:
        return ""
    t_max = t_max or max(p["end_s"] for p in points) or 1.0
    left, top = _LEFT, _TOP
    pw, ph = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def x(t: float) -> float:
        return left + pw * t / t_max

    def y(p: float) -> float:
        return top + ph * (1.0 - p)

    by_label: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_label.setdefault(p.get("label") or "", []).append(p)
    colours = ["#c62828", "#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#2e7d32"]
    parts = _svg_axes(width, height, title, t_max, x, y, [(v, f"{v:.1f}") for v in (0.0, 0.5, 1.0)], ref=0.5)
    for k, (label, pts) in enumerate(sorted(by_label.items())):
        colour = colours[k % len(colours)]
        pts = sorted(pts, key=lambda p: p["start_s"])
        coords = " ".join(f"{x((p['start_s'] + p['end_s']) / 2):.1f},{y(p['probability_fake']):.1f}" for p in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if label:
            parts.append(f'<text x="{left + 6}" y="{top + 14 + 14 * k}" font-size="11" fill="{colour}">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def offset_svg(points: Sequence[dict[str, Any]], *, t_max: float, width: int = 880, height: int = 150, limit_s: float = 0.6) -> str:
    """Audio-video offset per window (``lip-sync``'s ``sync_timeline`` evidence) on a time axis.

    A dot per window at its best offset (above the line: the mouth lags the voice), darker
    the stronger the match; red where the window scores as out of sync.
    """
    if not points:
        return ""
    left, top = _LEFT, _TOP
    pw, ph = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    t_max = t_max or 1.0

    def x(t: float) -> float:
        return left + pw * min(t, t_max) / t_max

    def y(o: float) -> float:
        return top + ph * (0.5 - max(-limit_s, min(limit_s, o)) / (2 * limit_s))

    parts = _svg_axes(width, height, "lip-sync offset", t_max, x, y, [(v, f"{v:+.1f}s") for v in (-limit_s, 0.0, limit_s)], ref=0.0)
    for p in points:
        colour = "#c62828" if p.get("probability_fake", 0) >= 0.5 else "#2e7d32"
        opacity = 0.25 + 0.75 * max(0.0, min(1.0, float(p.get("strength", 0)) / 0.5))
        parts.append(
            f'<line x1="{x(p["start_s"]):.1f}" x2="{x(p["end_s"]):.1f}" y1="{y(p["offset_s"]):.1f}" y2="{y(p["offset_s"]):.1f}" '
            f'stroke="{colour}" stroke-width="4" stroke-opacity="{opacity:.2f}"><title>{p["start_s"]:.1f}-{p["end_s"]:.1f} s: offset {p["offset_s"]:+.2f} s, '
            f'strength {p.get("strength", 0):.2f}</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _timelines_html(r: dict[str, Any]) -> str:
    """Every detector's timeline on one time axis (face tracks, voice, lip-sync), then lip-sync's offsets."""
    with_tl = [f for f in r["findings"] if f["timeline"]]
    sync = next((ev["value"] for f in r["findings"] if f["detector"] == "lip-sync" for ev in f["evidence"] if ev["label"] == "sync_timeline"), None)
    if len(with_tl) < 2 and not sync:
        return ""
    media = r.get("media") or {}
    ends = [p["end_s"] for f in with_tl for p in f["timeline"]]
    t_max = media.get("duration_s") or (max(ends) if ends else 1.0)
    points = []
    for f in with_tl:
        for p in f["timeline"]:
            label = f["detector"] if not p.get("label") or p["label"] == f["detector"] else f"{f['detector']}: {p['label']}"
            points.append(dict(p, label=label))
    out = "<h3>Timelines</h3>"
    if points:
        out += (f"<figure>{timeline_svg(points, title='timelines', t_max=t_max)}<figcaption>Probability of manipulation over time, "
                "every detector on one time axis (dashed line: 0.5)</figcaption></figure>")
    if sync:
        out += (f"<figure>{offset_svg(sync, t_max=t_max)}<figcaption>lip-sync: best offset between mouth and voice per 2 s window "
                "(above the line: the mouth lags the voice; darker = stronger match; red = out of sync)</figcaption></figure>")
    return out


def _finding_html(f: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{_e(ev['label'])}</th><td class=v>{_value(ev['value'])}"
        + (f"<br><small>{_e(ev['note'])}</small>" if ev.get("note") else "")
        + "</td></tr>"
        for ev in f["evidence"]
    )
    figs = "".join(
        f'<figure><img alt="{_e(a["title"])}" src="data:{_e(a["mime"])};base64,{a["data_base64"]}"><figcaption>{_e(a["title"])}</figcaption></figure>'
        for a in f["attachments"]
    )
    timeline = ""
    if f["timeline"]:
        timeline = f"<figure>{timeline_svg(f['timeline'], title=f['detector'] + ' timeline')}<figcaption>{_e(f['detector'])}: probability of manipulation over time (dashed line: 0.5)</figcaption></figure>"
    prob = f"{f['probability']:.2f}" if f["probability"] is not None else "—"
    open_attr = " open" if f["status"] == "scored" else ""
    return (
        f"<details{open_attr}><summary class='st-{_e(f['status'])}'>{_e(f['detector'])} "
        f"<small>v{_e(f['version'])}</small> · {_e(f['status'].replace('_', ' '))} · p={prob}</summary>"
        f"<p>{_e(f['summary'])}</p>{figs}{timeline}"
        + (f"<table>{rows}</table>" if rows else "")
        + "</details>"
    )


def _report_html(r: dict[str, Any]) -> str:
    verdict = r["verdict"]
    prob = f"{r['probability'] * 100:.0f}%" if r["probability"] is not None else "n/a"
    media = r.get("media") or {}
    facts = []
    if media:
        facts.append(f"{media['kind']} · {media['format']} · {media['size_bytes']:,} bytes")
        if media.get("width_px"):
            facts.append(f"{media['width_px']}×{media['height_px']} px")
        if media.get("duration_s"):
            facts.append(f"{media['duration_s']:.1f} s")
    reasons = "".join(f"<li>{_e(x)}</li>" for x in r["reasons"])
    provenance = [f for f in r["findings"] if f["signal"] != "ml" and f["detector"] in ("c2pa", "watermark", "metadata")]
    prov_rows = "".join(
        f"<tr><td>{_e(f['detector'])}</td><td class='st-{_e(f['status'])}'>{_e(f['status'].replace('_', ' '))}</td>"
        f"<td>{_e(f['signal'].replace('_', ' ')) if f['status'] == 'scored' else ''}"
        f"{' (' + _e(f['strength']) + ')' if f['strength'] else ''}</td><td>{_e(f['summary'])}</td></tr>"
        for f in provenance
    )
    prov_table = (
        f"<h3>Provenance</h3><table><tr><th>record</th><th>status</th><th>signal</th><th>what it says</th></tr>{prov_rows}</table>"
        if prov_rows
        else ""
    )
    findings = "".join(_finding_html(f) for f in r["findings"])
    sha = f"<br><small>sha256 {media['sha256']}</small>" if media else ""
    return (
        f"<section class=file><div><span class='verdict {_e(verdict)}'>{_VERDICT_TEXT.get(verdict, verdict)}</span>"
        f"<span class=prob title='probability that the file is manipulated or machine-made'>{prob}</span></div>"
        f"<p class=src>{_e(r['source'])}<br>{_e(' · '.join(facts))}{sha}</p>"
        f"<h3>Why</h3><ul class=reasons>{reasons}</ul>{prov_table}{_timelines_html(r)}"
        + (f"<h3>Detector findings</h3>{findings}" if findings else "")
        + "</section>"
    )


def render_html(reports: Sequence[Report] | Sequence[dict[str, Any]], *, title: str = "unmask report") -> str:
    """One page for one or many reports."""
    dicts = [r.to_dict() if isinstance(r, Report) else r for r in reports]
    version = dicts[0]["unmask_version"] if dicts else ""
    body = "".join(_report_html(r) for r in dicts)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>{body}"
        "<footer>Probability = how likely the file is manipulated or machine-made (1 = certainly). "
        f"Made offline by unmask {_e(version)}. Provenance records can be stripped; their absence is not evidence.</footer>"
        "</main></body></html>"
    )
