"""Every report the pipeline produces validates against the shipped JSON schema; the HTML page shows it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import unmask
from unmask._scan import error_report
from unmask.core import Attachment, Evidence, Finding, FindingStatus, Report, Signal, TimelinePoint, Verdict
from unmask.errors import DecodeError
from unmask.report import render_html, report_schema

jsonschema = pytest.importorskip("jsonschema")


def validate(report: Report) -> dict:
    data = json.loads(report.to_json())
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    return data


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from unmask.testing.media import make_audio, make_video

    d = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(d / "img.png")
    make_video(d / "clip.mp4", container="mp4", seconds=2.0, fps=10, size=(160, 120), with_audio=True)
    make_audio(d / "voice.flac", fmt="flac", seconds=2.0, sample_rate_hz=16000)
    return d


@pytest.mark.parametrize("name,kind", [("img.png", "image"), ("clip.mp4", "video"), ("voice.flac", "audio")])
def test_scan_reports_validate(media, name, kind):
    data = validate(unmask.scan(media / name))
    assert data["media"]["kind"] == kind and data["verdict"] != "error"
    if kind == "video":
        assert data["media"]["has_audio"] and data["media"]["width_px"] == 160
    assert {f["detector"] for f in data["findings"]} >= {"c2pa", "metadata"}


def test_scan_accepts_bytes_and_streams(media):
    raw = (media / "img.png").read_bytes()
    by_bytes = unmask.scan(raw)
    with open(media / "img.png", "rb") as fh:
        by_stream = unmask.scan(fh)
    assert by_bytes.source == "<bytes>" and by_bytes.media.sha256 == by_stream.media.sha256 == unmask.scan(media / "img.png").media.sha256


def test_error_report_validates():
    data = validate(error_report("x.jpg", DecodeError("x.jpg is empty (0 bytes)")))
    assert data["verdict"] == "error" and data["error"]["reference"] == "decode-failed" and data["error"]["exit_code"] == 3


def test_rich_finding_validates_and_renders():
    png = Image.new("RGB", (8, 8), (200, 0, 0))
    import io

    buf = io.BytesIO()
    png.save(buf, format="PNG")
    finding = Finding(
        detector="face-demo",
        version="0.0.1",
        status=FindingStatus.SCORED,
        summary="Blending boundary around the face <b>",
        probability_fake=0.91,
        signal=Signal.ML,
        evidence=(Evidence("faces", 1), Evidence("box", {"x": 1, "y": 2}, note="pixels")),
        attachments=(Attachment("face heatmap", "image/png", buf.getvalue()),),
        timeline=tuple(TimelinePoint(t, t + 1, p, "face 1") for t, p in [(0, 0.2), (1, 0.9), (2, 0.95)]),
    )
    report = Report("clip.mp4", Verdict.LIKELY_MANIPULATED, 0.91, ("Blending boundary around the face <b>",), findings=(finding,), unmask_version="t")
    validate(report)
    page = render_html([report])
    assert "LIKELY MANIPULATED" in page and "91%" in page
    assert "&lt;b&gt;" in page and "<b>" not in page  # detector text is escaped
    assert "data:image/png;base64," in page and "<svg" in page and "polyline" in page


def test_schema_rejects_a_wrong_report():
    bad = json.loads(error_report("x", DecodeError("e")).to_json())
    bad["probability"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_schema()).validate(bad)
