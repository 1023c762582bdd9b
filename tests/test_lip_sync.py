"""lip-sync: the sync core on a drawn mouth driven by a known envelope, the detector end to end
on a GRID clip (when ../shared is present), not-applicable cases, reasons and the HTML timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import unmask
from unmask.config import ScanOptions
from unmask.core import FindingStatus, MediaKind
from unmask.detectors import lip_sync as ls
from unmask.testing.talking import grid_words, read_clip, shift_audio, synthetic_mouth, write_clip

SHARED = Path(__file__).resolve().parents[2] / "shared"
GRID_CLIP = SHARED / "data" / "faces" / "videos" / "brbk7n.mpg"
FPS = 25.0
ONLY = ScanOptions(detectors=("lip-sync",))


@pytest.fixture(scope="module")
def mouth():
    """A drawn mouth opening with a syllable envelope, its patches (points known: no detector) and audio."""
    from unmask.faces.mouth import mouth_patch

    frames, times, audio, points5 = synthetic_mouth(8.0, fps=FPS)
    patches = np.stack([mouth_patch(f, points5) for f in frames])
    return times, patches, audio


def _analyse(times, patches, audio):
    from unmask.audio import detect_speech

    act = detect_speech(audio)
    assert act.has_speech
    mask = ls.speech_mask(times, act.segments_s)
    sa = ls.analyse_sync(ls.audio_signal(audio, times, FPS), ls.mouth_signals(patches), times, FPS, mask)
    cal = ls.SyncCalibration.load()
    return sa, cal.probability(sa.features), [cal.probability(w.features) for w in sa.windows]


def test_card():
    from unmask.detectors._registry import get_card

    card = get_card("lip-sync")
    assert card.accepts(MediaKind.VIDEO) and not card.accepts(MediaKind.AUDIO) and not card.accepts(MediaKind.IMAGE)
    assert card.experimental  # held-out AUC below the 0.95 target (unmask/models/lip-sync.md)


def test_synthetic_mouth_in_sync(mouth):
    times, patches, audio = mouth
    sa, p, wprobs = _analyse(times, patches, audio)
    assert abs(sa.features["offset_frames"]) <= 1
    assert sa.features["strength"] > 0.3
    assert p < 0.5
    assert all(abs(w.offset_s) <= 1.0 / FPS for w in sa.windows)
    assert ls.describe_windows(sa.windows, wprobs) == []


@pytest.mark.parametrize("shift_s", [0.5, -0.5])
def test_synthetic_mouth_shifted_audio_is_found_and_flagged(mouth, shift_s):
    times, patches, audio = mouth
    sa, p, wprobs = _analyse(times, patches, shift_audio(audio, shift_s))
    # audio delayed by 0.5 s: the mouth moves 0.5 s before its sound, offset -0.5 s
    assert sa.offset_s == pytest.approx(-shift_s, abs=1.0 / FPS)
    assert p >= 0.5
    reasons = ls.describe_windows(sa.windows, wprobs)
    verb = "runs ahead of the voice" if shift_s > 0 else "lags the voice"
    assert reasons and reasons[0].startswith(f"mouth movement {verb} by 0.5 s from 0:00")


def test_frozen_mouth_is_flagged(mouth):
    times, patches, audio = mouth
    frozen = np.repeat(patches[:1], len(patches), axis=0) + np.random.default_rng(0).normal(0, 1.0, patches.shape)
    _, p, _ = _analyse(times, frozen, audio)
    assert p >= 0.5


def test_sync_curve_sign_convention():
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    m = np.roll(a, 4)  # the mouth does at t+4 what the audio did at t: it lags by 4 frames
    c = ls.sync_curve(a, m, 10)
    assert int(np.argmax(c)) - 10 == 4


def test_sync_curve_equals_per_offset_pearson_correlation():
    """The vectorised curve is, offset by offset, the mean over mouth signals of the Pearson correlation on the masked frames."""
    rng = np.random.default_rng(3)
    T, D = 120, 7
    audio = rng.standard_normal(T)
    mouth = np.c_[np.roll(audio, 2) + 0.5 * rng.standard_normal(T), rng.standard_normal(T), np.zeros(T)]  # a flat signal adds 0
    mask = rng.random(T) > 0.3
    idx = np.arange(D, T - D)
    idx = idx[mask[idx]]
    expected = [np.mean([np.corrcoef(audio[idx], mouth[idx + d, k])[0, 1] if mouth[idx + d, k].std() > 0 else 0.0 for k in range(3)])
                for d in range(-D, D + 1)]
    curve = ls.sync_curve(audio, mouth, D, mask)
    np.testing.assert_allclose(curve, expected, atol=1e-12)
    assert int(np.argmax(curve)) - D == 2


def test_reason_text_names_the_lag_and_the_time_range():
    feats = {"strength": 0.5}
    ws = tuple(ls.SyncWindow(float(s), float(s + 2), 0.4, 0.5, feats) for s in range(12, 30))
    assert ls.describe_windows(ws, [0.9] * len(ws)) == ["mouth movement lags the voice by 0.4 s from 0:12 to 0:31"]
    assert ls.describe_windows(ws, [0.1] * len(ws)) == []


def test_grid_words():
    assert grid_words("bbaf2n.mpg") == "bin blue at f two now"


def test_not_applicable_without_face_or_sound(tmp_path):
    from unmask.testing.media import make_video
    from unmask.testing.voice import make_video_with_speech

    # speech but a flat grey picture: no face
    _, _, audio, _ = synthetic_mouth(4.0)
    path = make_video_with_speech(tmp_path / "noface.mp4", audio, fps=25, size=(96, 96))
    f = unmask.scan(path, options=ONLY).findings[0]
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "no-face"
    silent = make_video(tmp_path / "silent.mp4")
    f = unmask.scan(silent, options=ONLY).findings[0]
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason in ("no-audio", "no-speech")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    if not GRID_CLIP.exists():
        pytest.skip("../shared (GRID clips) not present")
    frames, _, fps, audio = read_clip(GRID_CLIP)
    d = tmp_path_factory.mktemp("grid")
    return write_clip(d / "in_sync.mp4", frames, fps, audio), write_clip(d / "shifted.mp4", frames, fps, shift_audio(audio, 0.5))


def test_grid_clip_in_sync(grid):
    report = unmask.scan(grid[0], options=ONLY)
    f = report.findings[0]
    assert f.status is FindingStatus.SCORED, f.summary
    ev = {e.label: e.value for e in f.evidence}
    assert abs(ev["offset_s"]) <= 1.0 / FPS + 1e-6
    assert f.probability_fake < 0.5
    assert f.timeline and all(p.label == "lip-sync" for p in f.timeline)


def test_grid_clip_with_audio_shifted_half_a_second_is_flagged(grid):
    report = unmask.scan(grid[1], options=ONLY)
    f = report.findings[0]
    assert f.status is FindingStatus.SCORED, f.summary
    assert f.probability_fake >= 0.5
    ev = {e.label: e.value for e in f.evidence}
    assert ev["offset_s"] == pytest.approx(-0.5, abs=1.5 / FPS)
    assert "runs ahead of the voice by 0.5 s" in f.summary
    from unmask.report.html import render_html

    page = render_html([report])
    assert "lip-sync" in page and "offset" in page and "<svg" in page


def test_faces_are_found_once_for_face_swap_and_lip_sync(grid, monkeypatch):
    import unmask.faces.track as track

    calls = []
    real = track.follow_faces
    monkeypatch.setattr(track, "follow_faces", lambda *a, **k: calls.append(1) or real(*a, **k))
    both = unmask.scan(grid[0], options=ScanOptions(detectors=("face-swap", "lip-sync")))
    assert len(calls) == 1  # face-swap found the faces; lip-sync read them from the item
    alone = unmask.scan(grid[0], options=ONLY)
    assert len(calls) == 2  # lip-sync alone finds them itself, on the same frames
    p_both = {f.detector: f.probability_fake for f in both.findings}
    assert p_both["lip-sync"] is not None and p_both["face-swap"] is not None
    assert alone.findings[0].probability_fake == p_both["lip-sync"]


def test_html_puts_face_voice_and_sync_timelines_on_one_axis():
    from unmask.core import Evidence, Finding, MediaInfo, Report, Signal, TimelinePoint, Verdict
    from unmask.report.html import render_html

    def finding(name, label, evidence=()):
        pts = tuple(TimelinePoint(float(s), float(s + 2), 0.2 if s < 12 else 0.9, label=label) for s in range(0, 30))
        return Finding(name, "0", FindingStatus.SCORED, "s", 0.5, Signal.ML, evidence=evidence, timeline=pts)

    sync = [{"start_s": float(s), "end_s": float(s + 2), "offset_s": 0.4 if s >= 12 else 0.0, "strength": 0.5,
             "probability_fake": 0.9 if s >= 12 else 0.1} for s in range(30)]
    media = MediaInfo(kind=MediaKind.VIDEO, format="mp4", mime="video/mp4", size_bytes=1, sha256="0", duration_s=32.0)
    report = Report("x.mp4", Verdict.UNCERTAIN, 0.5, ("mouth movement lags the voice by 0.4 s from 0:12 to 0:31",), media,
                    (finding("face-swap", "track 1"), finding("voice", None), finding("lip-sync", "lip-sync", (Evidence("sync_timeline", sync),))))
    page = render_html([report])
    timelines = page.split("<h3>Timelines</h3>")[1].split("<h3>")[0]
    assert "face-swap: track 1" in timelines and ">voice<" in timelines and ">lip-sync<" in timelines
    assert "lip-sync offset" in timelines and "offset +0.40 s" in timelines
    assert "mouth movement lags the voice by 0.4 s from 0:12 to 0:31" in page


def test_luma_frames_gives_every_frame_as_its_luma_plane(tmp_path):
    from unmask.media import open_media
    from unmask.testing.media import make_video

    path = make_video(tmp_path / "v.mp4", seconds=1.0, fps=25, size=(96, 64))
    item = open_media(path)
    frames = list(item.luma_frames(max_frames=1000))
    assert len(frames) == 25 and [f.index for f in frames] == list(range(25))
    assert np.allclose(np.diff([f.pts_s for f in frames]), 0.04, atol=1e-3)
    f0 = frames[0]
    assert f0.luma.shape == (64, 96) and f0.luma.dtype == np.uint8
    rgb = next(item.frames(25.0)).rgb
    grey = rgb.astype(float) @ [0.299, 0.587, 0.114]
    # the Y plane is limited range (16-235): a linear function of the picture's grey
    assert np.corrcoef(grey.ravel(), f0.luma.ravel().astype(float))[0, 1] > 0.98
    assert len(list(item.luma_frames(max_frames=7))) == 7
    assert len(list(item.luma_frames(max_frames=1000, skip_loop_filter=True))) == 25


def test_lower_face_paste_changes_only_the_mouth_and_jaw():
    """unmask.eval.lower_face: the pasted region covers the mouth corners, not the eyes; outside it the frame is untouched."""
    from unmask.eval.lower_face import CROP, lower_face_mask, paste
    from unmask.faces.align import CANONICAL_POINTS

    mask = lower_face_mask()
    pts = CANONICAL_POINTS * CROP
    at = lambda p: mask[int(p[1]), int(p[0])]  # noqa: E731
    assert at(pts[3]) > 0.9 and at(pts[4]) > 0.9 and at(pts[:2].mean(0)) < 0.01 and at(pts[0]) < 0.01
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    face = CANONICAL_POINTS * 120 + [100, 60]  # a 120 px face crop's five points, placed in the frame
    src = np.full_like(frame, 128)
    out = paste(frame, face, src, face, mask, np.zeros(3))
    changed = np.abs(out.astype(int) - frame).sum(axis=2) > 0
    mouth = face[3:].mean(axis=0).astype(int)
    assert changed[mouth[1], mouth[0]] and abs(int(out[mouth[1], mouth[0], 0]) - 128) < 10
    eye = face[0].astype(int)
    assert not changed[eye[1], eye[0]] and not changed[:20].any() and changed.mean() < 0.2
