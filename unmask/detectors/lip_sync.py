"""``lip-sync``: does the mouth move with the voice? Audio-visual synchrony of talking faces.

A person speaking opens the mouth on vowels and closes it on m, b, p; the loudness
of the voice rises and falls with it, a fraction of a second apart at most. Dubbed
audio, audio laid over another recording, and generated mouths (lip-sync models,
talking-head generators) break that: the best match sits at a large offset, drifts,
or there is no match at all.

Pipeline (``LipSyncDetector.analyze``), numpy + onnxruntime (MTCNN) only:

1. ``item.speech()``: ``detect_speech`` on ``item.audio()``, shared with the voice detector. No audio track or
   no speech → not applicable.
2. Every video frame (native rate, the first ``MAX_ANALYSED_S`` seconds) is decoded
   (luma only); faces come from the frames face-swap samples (``unmask.faces.video``:
   found once per file for both detectors, a full MTCNN every 3 s, the O-net alone in
   between) and their five points are interpolated for the frames between, so every
   frame gets a mouth patch (``unmask.faces.mouth``) of every tracked face.
3. Per face track: mouth-opening signals per frame (``mouth_signals``: darkness of the
   mouth region and of its darkest rows, brightness and contrast normalised, and a linear
   inner-lip-opening regressor fitted on still faces with 68-point landmarks) and the
   voice's envelope at the same frame times (``unmask.audio.envelope``), both
   band-passed to syllable rates (slow drift removed with a ``DETREND_S`` moving average).
4. ``sync_curve``: correlation of the two for every offset within ±``MAX_OFFSET_S``,
   over the frames with speech. Offset > 0 = the mouth moves *after* the sound it
   makes (the mouth lags the voice). The whole-track curve gives the track's best
   offset and strength (SyncNet-style confidence: peak minus median of the curve);
   2 s windows every second give the timeline.
5. A logistic model on four curve features (``curve_features``), fitted on real
   clips against shifted/swapped/TTS audio and frozen/smoothed mouths
   (``unmask.training.lipsync_calibrate``; coefficients in ``weights/lip-sync.json``),
   gives P(out of sync) per track and per window. The file's probability is the
   **lowest** over the tracks with enough speech: a listener's mouth never matches the
   voice, so one face that does match is enough for the voice to belong to someone in
   the picture.

Imports numpy at module level; the face detector loads on first use. Never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unmask.core import Evidence, Finding, Signal, TimelinePoint
from unmask.detectors._base import (
    DetectorCard,
    Stopwatch,
    failed,
    not_applicable,
    scored,
)
from unmask.detectors._onnx import sigmoid
from unmask.errors import DecodeError, ModelError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.faces.video import SampledFaces
    from unmask.media import MediaItem

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
META_FILE = "lip-sync.json"

MAX_OFFSET_S = 0.6  # ±15 frames at 25 fps: natural lead/lag is under 0.2 s; dubbing errors beyond 0.6 s show as "no match"
# Syllables come 3-7 per second; a moving average over 0.28 s (7 frames at 25 fps) removes
# head motion, exposure drift and the slow speech/pause rhythm, which match at any offset
# and flattened the curve (talking clips, 2026-11: 70 % of real clips peak within ±1 frame
# with 0.28 s, 45 % with 1 s).
DETREND_S = 0.28
# Mouth movement and sound differ by up to ~0.12 s in real speech (lips open before the
# vowel sounds); a peak within this is "in sync".
NEAR_S = 0.12
WINDOW_S = 2.0  # timeline windows
HOP_S = 1.0
# Faces are found on the frames face-swap samples (``ScanOptions.video_sample_fps``, default 2 fps,
# with ``unmask.faces.video``: found once for both detectors) and their points interpolated
# between. On the talking clips (lip-sync 0.2.0, own detection) the best offset was within ±1
# frame for 66 % of real clips with faces every 0.8 s and every 0.4 s, 69 % every 0.2 s and 62 %
# on every frame (O-net landmark jitter), held-out AUC 0.842 every 0.8 s vs 0.845 every 0.4 s:
# gaps up to 0.8 s cost nothing, so a lower sampling rate is raised to that.
MAX_FACE_GAP_S = 0.8
MAX_ANALYSED_S = 300.0  # longer videos: the first 5 minutes (all frames are decoded, which is the cost)
MIN_TRACK_SPEECH_S = 2.0  # a face must be visible during this much speech to be judged
SPEECH_PAD_S = 0.3  # frames this close to speech count as speech (lips move before and after the sound)
STRONG_SYNC = 0.15  # window strength (peak - median correlation) above which its offset is trusted


# ---------------------------------------------------------------------------- signals


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    x2 = x.reshape(len(x), -1).astype(np.float64)
    n = max(1, min(n, len(x2)))
    pad = np.pad(x2, ((n // 2, n - 1 - n // 2), (0, 0)), mode="edge")
    c = np.cumsum(np.concatenate([np.zeros((1, x2.shape[1])), pad]), axis=0)
    return ((c[n:] - c[:-n]) / n).reshape(x.shape)


def detrend(x: np.ndarray, fps: float) -> np.ndarray:
    """``x`` minus its ``DETREND_S`` moving average along axis 0 (keeps syllable-rate changes)."""
    n = max(3, int(round(DETREND_S * fps)) | 1)
    return np.asarray(x, dtype=np.float64) - _moving_average(np.asarray(x, dtype=np.float64), n)


def openness_inputs(patches: np.ndarray) -> np.ndarray:
    """(T, 432) inputs of the learned mouth-openness regressor: each patch at zero mean and
    unit contrast, averaged over 2x2 pixel blocks (24x18)."""
    p = np.asarray(patches, dtype=np.float64)
    p = p - p.mean(axis=(1, 2), keepdims=True)
    p = p / (p.std(axis=(1, 2), keepdims=True) + 1.0)
    t, h, w = p.shape
    return p.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4)).reshape(t, -1)


def mouth_signals(patches: np.ndarray, openness: "Openness | None" = None) -> np.ndarray:
    """(T, 2 or 3) mouth-opening signals of (T, H, W) mouth patches (``unmask.faces.mouth`` layout).

    Column 0: darkness of the lips' region (an open mouth shows the dark cavity);
    column 1: darkness of its three darkest rows (the gap between the lips, robust to
    teeth showing); both after removing each patch's mean and dividing by one contrast
    scale for the track. Column 2, with ``openness``: the learned inner-lip opening.
    """
    from unmask.faces.mouth import PATCH_H_PX, PATCH_W_PX, normalise_patches

    p = np.asarray(patches, dtype=np.float64)
    if p.shape[1:] != (PATCH_H_PX, PATCH_W_PX):
        raise ValueError(f"mouth patches must be {PATCH_H_PX}x{PATCH_W_PX} px, got {p.shape[1:]}")
    x = normalise_patches(p).reshape(p.shape)
    region = x[:, 8:24, 14:34]  # mouth corners at x = 14, 34, y = 13: the lips and the gap below
    dark = -region.mean(axis=(1, 2))
    rows = np.sort(x[:, 8:26, 16:32].mean(axis=2), axis=1)[:, :3].mean(axis=1)
    cols = [dark, -rows]
    if openness is not None:
        cols.append(openness.predict(p))
    return np.stack(cols, axis=1)


@dataclass(frozen=True, slots=True)
class Openness:
    """Linear (ridge) regressor: mouth patch → inner-lip opening / eye-to-mouth distance.

    Fitted on still faces with 68-point landmarks (``unmask.training.lipsync_calibrate.fit_openness``);
    the weights live in ``weights/lip-sync.json`` under ``"openness"``.
    """

    mean: np.ndarray  # (432,)
    coef: np.ndarray  # (432,)
    intercept: float

    def predict(self, patches: np.ndarray) -> np.ndarray:
        return (openness_inputs(patches) - self.mean) @ self.coef + self.intercept

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Openness":
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]))


def audio_signal(waveform: np.ndarray, frame_times_s: np.ndarray, fps: float) -> np.ndarray:
    """(T,) log energy of the voice band (300-3000 Hz) over each video frame."""
    from unmask.audio.envelope import speech_envelope

    return speech_envelope(waveform, frame_times_s, 1.0 / fps, bands_hz=((300.0, 3000.0),))[:, 0]


def max_offset_frames(fps: float) -> int:
    return max(2, int(round(MAX_OFFSET_S * fps)))


def sync_curve(audio: np.ndarray, mouth: np.ndarray, max_offset: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Correlation of ``audio[t]`` with ``mouth[t + d]`` for ``d`` in ``-max_offset..max_offset``.

    Parameters
    ----------
    audio : (T,) float ndarray
        Band-passed voice envelope per video frame.
    mouth : (T,) or (T, k) float ndarray
        Band-passed mouth signals per frame; with k columns the curve is their mean.
    max_offset : int
        Frames searched either side.
    mask : (T,) bool ndarray, optional
        Audio frames that count (speech); frames whose shifted partner falls outside
        the track are dropped for every offset alike, so all offsets see the same audio.

    Returns
    -------
    (2 * max_offset + 1,) float64 ndarray
        Index ``max_offset + d`` holds the correlation at offset ``d`` frames (d > 0: mouth lags the voice).
    """
    a = np.asarray(audio, dtype=np.float64)
    m = np.asarray(mouth, dtype=np.float64).reshape(len(a), -1)
    T, D = len(a), max_offset
    idx = np.arange(D, T - D)
    if mask is not None:
        idx = idx[np.asarray(mask, dtype=bool)[idx]]
    if len(idx) < 4:
        return np.zeros(2 * D + 1)
    # every offset at once: (offsets, frames, signals), each column centred, then Pearson correlation with the audio
    ac = a[idx] - a[idx].mean()
    shifted = m[idx[None, :] + np.arange(-D, D + 1)[:, None]]
    shifted = shifted - shifted.mean(axis=1, keepdims=True)
    num = np.einsum("n,onk->ok", ac, shifted)
    den = np.sqrt(float(ac @ ac) * np.einsum("onk,onk->ok", shifted, shifted))
    corr = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)
    return corr.mean(axis=1)


FEATURES = ("strength", "near_peak", "peak_minus_near", "abs_offset")


def curve_features(curve: np.ndarray, fps: float) -> dict[str, float]:
    """The four numbers the calibration reads from a sync curve, plus the offset.

    ``strength`` = peak − median (SyncNet's confidence); ``near_peak`` = best
    correlation within ±``NEAR_S``; ``peak_minus_near`` = how much better a far
    offset matches; ``abs_offset`` = |best offset| as a share of the search range.
    """
    D = (len(curve) - 1) // 2
    near = max(1, int(round(NEAR_S * fps)))
    k = int(np.argmax(curve))
    peak = float(curve[k])
    near_peak = float(curve[D - near : D + near + 1].max())
    return {
        "strength": peak - float(np.median(curve)),
        "near_peak": near_peak,
        "peak_minus_near": peak - near_peak,
        "abs_offset": abs(k - D) / D,
        "offset_frames": float(k - D),
        "peak": peak,
    }


@dataclass(frozen=True, slots=True)
class SyncWindow:
    start_s: float
    end_s: float
    offset_s: float  # > 0: the mouth lags the voice
    strength: float  # peak - median correlation
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class SyncAnalysis:
    """Sync of one face track: the whole-track curve and per-window results."""

    fps: float
    curve: np.ndarray  # (2D+1,) over offsets -D..D frames
    features: dict[str, float]
    windows: tuple[SyncWindow, ...]
    speech_frames: int

    @property
    def offset_s(self) -> float:
        return self.features["offset_frames"] / self.fps


def analyse_sync(audio_env: np.ndarray, mouth: np.ndarray, times_s: np.ndarray, fps: float, speech_mask: np.ndarray | None = None) -> SyncAnalysis:
    """Sync curve of a whole track and of ``WINDOW_S`` windows every ``HOP_S``.

    ``audio_env`` (T,) and ``mouth`` (T, k) are raw per-frame signals of consecutive
    frames at ``times_s``; both are band-passed here.
    """
    a = detrend(audio_env, fps)
    m = detrend(mouth, fps)
    D = max_offset_frames(fps)
    mask = np.ones(len(a), bool) if speech_mask is None else np.asarray(speech_mask, bool)
    curve = sync_curve(a, m, D, mask)
    feats = curve_features(curve, fps)
    windows = []
    t = np.asarray(times_s, dtype=np.float64)
    if len(t):
        w_frames, hop_frames = int(round(WINDOW_S * fps)), max(1, int(round(HOP_S * fps)))
        for s in range(0, max(1, len(t) - w_frames + 1), hop_frames):
            e = min(len(t), s + w_frames)
            lo, hi = max(0, s - D), min(len(t), e + D)  # the shifted partners may reach outside the window
            wm = np.zeros(hi - lo, bool)
            wm[s - lo : e - lo] = mask[s:e]
            if wm.sum() < 0.5 * w_frames:
                continue
            c = sync_curve(a[lo:hi], m[lo:hi], D, wm)
            f = curve_features(c, fps)
            windows.append(SyncWindow(float(t[s]), float(t[e - 1] + 1.0 / fps), f["offset_frames"] / fps, f["strength"], f))
    return SyncAnalysis(fps, curve, feats, tuple(windows), int(mask.sum()))


# ---------------------------------------------------------------------------- calibration


class SyncCalibration:
    """Logistic model over ``FEATURES`` (``weights/lip-sync.json``): P(out of sync)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.features = tuple(meta["features"])
        self.mean = np.asarray(meta["mean"], dtype=np.float64)
        self.scale = np.asarray(meta["scale"], dtype=np.float64)
        self.coef = np.asarray(meta["coef"], dtype=np.float64)
        self.intercept = float(meta["intercept"])
        self.describe = str(meta.get("describe", "logistic"))
        self.openness = Openness.from_dict(meta["openness"]) if meta.get("openness") else None

    @classmethod
    def load(cls, weights_dir: Path = WEIGHTS_DIR) -> "SyncCalibration":
        try:
            return cls(json.loads((weights_dir / META_FILE).read_text()))
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"lip-sync calibration {META_FILE} is missing or unreadable ({exc})", hint="reinstall unmask") from exc

    def probability(self, features: dict[str, float]) -> float:
        x = (np.array([features[k] for k in self.features]) - self.mean) / self.scale
        return float(sigmoid(float(x @ self.coef + self.intercept)))


# ---------------------------------------------------------------------------- video → tracks


@dataclass
class MouthTrack:
    track_id: int
    times_s: list[float]
    patches: list[np.ndarray]
    face_px: list[float]


def mouth_tracks(frames, faces: "SampledFaces") -> tuple[list[MouthTrack], np.ndarray, float]:
    """Mouth patches of every face track over consecutive ``frames``.

    ``frames`` are every frame of the video (``MediaItem.luma_frames``: anything with
    ``pts_s`` and a grey ``luma`` plane); ``faces`` are the tracked faces on the sampled frames
    (``unmask.faces.video.sampled_faces``, shared with face-swap). A frame at a sample time
    takes that sample's faces; the five points of a frame between two samples are
    interpolated for the tracks seen on both (frames after the last sample keep its points).
    Returns the tracks, every frame's time, and the frame rate measured from the timestamps.
    """
    from unmask.faces.mouth import mouth_patch

    samples = [(t, {tid: f for tid, f in assigned}) for t, assigned in zip(faces.times_s, faces.faces)]
    tracks: dict[int, MouthTrack] = {}
    all_times: list[float] = []
    j = 0  # samples[j] is the last sample at or before the frame
    for fr in frames:
        t = float(fr.pts_s)
        all_times.append(t)
        while j + 1 < len(samples) and samples[j + 1][0] <= t + 1e-6:
            j += 1
        if not samples or t < samples[0][0] - 1e-6:
            continue
        t0, faces0 = samples[j]
        if abs(t - t0) <= 1e-6 or j + 1 == len(samples):  # on a sample, or after the last: its points
            pts = {tid: (f.points, f.size_px) for tid, f in faces0.items()}
        else:
            t1, faces1 = samples[j + 1]
            w = (t - t0) / max(1e-9, t1 - t0)
            pts = {tid: ((1 - w) * f.points + w * faces1[tid].points, f.size_px) for tid, f in faces0.items() if tid in faces1}
        for tid, (p, size) in pts.items():
            tr = tracks.setdefault(tid, MouthTrack(tid, [], [], []))
            tr.times_s.append(t)
            tr.patches.append(mouth_patch(fr.luma, p))
            tr.face_px.append(size)
    t = np.asarray(all_times)
    fps = float(1.0 / np.median(np.diff(t))) if len(t) > 1 else 25.0
    return list(tracks.values()), t, fps


def track_mouths(item: "MediaItem", face_fps: float) -> tuple[list[MouthTrack], np.ndarray, float]:
    """``mouth_tracks`` of the first ``MAX_ANALYSED_S`` seconds of a video: faces at ``face_fps`` (shared), luma of every frame."""
    from unmask.faces.video import sampled_faces

    faces = sampled_faces(item, face_fps, max_frames=int(MAX_ANALYSED_S * face_fps) + 1)
    max_frames = int(MAX_ANALYSED_S * (item.info.fps or 25.0)) + 1
    return mouth_tracks(item.luma_frames(max_frames=max_frames, skip_loop_filter=True), faces)


def _split_runs(track: MouthTrack, fps: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive-frame runs of a track (a track missing frames is cut there)."""
    t = np.asarray(track.times_s)
    p = np.stack(track.patches)
    cut = np.flatnonzero(np.diff(t) > 1.5 / fps) + 1
    return [(t[a:b], p[a:b]) for a, b in zip(np.r_[0, cut], np.r_[cut, len(t)])]


def speech_mask(times_s: np.ndarray, segments_s) -> np.ndarray:
    t = np.asarray(times_s)
    m = np.zeros(len(t), bool)
    for s, e in segments_s:
        m |= (t >= s - SPEECH_PAD_S) & (t <= e + SPEECH_PAD_S)
    return m


def judgeable(mask: np.ndarray, fps: float) -> bool:
    """Whether a run of frames (``mask``: its speech frames) is long enough, with enough speech, to be judged."""
    return bool(mask.sum() >= MIN_TRACK_SPEECH_S * fps and len(mask) >= 2 * max_offset_frames(fps) + int(WINDOW_S * fps) // 2)


# ---------------------------------------------------------------------------- the detector


def _fmt_t(s: float) -> str:
    s = max(0.0, s)
    return f"{int(s // 60)}:{int(s % 60):02d}"


def describe_windows(windows: tuple[SyncWindow, ...], probs: list[float]) -> list[str]:
    """Plain-words reasons for runs of out-of-sync windows: "mouth movement lags the voice by 0.4 s from 0:12 to 0:31"."""
    out: list[str] = []
    run: list[int] = []

    def close() -> None:
        if not run:
            return
        ws = [windows[i] for i in run]
        start, end = ws[0].start_s, ws[-1].end_s
        strong = [w for w in ws if w.strength >= STRONG_SYNC]
        offs = [w.offset_s for w in strong]
        if strong and np.std(offs) <= 0.12 and abs(np.median(offs)) >= NEAR_S:
            off = float(np.median(offs))
            verb = "lags the voice" if off > 0 else "runs ahead of the voice"
            out.append(f"mouth movement {verb} by {abs(off):.1f} s from {_fmt_t(start)} to {_fmt_t(end)}")
        elif strong and np.std(offs) > 0.12:
            out.append(f"the best match between mouth and voice drifts ({min(offs):+.1f} s to {max(offs):+.1f} s) from {_fmt_t(start)} to {_fmt_t(end)}")
        else:
            out.append(f"mouth movement does not follow the voice from {_fmt_t(start)} to {_fmt_t(end)}")
        run.clear()

    for i, p in enumerate(probs):
        if p >= 0.5:
            run.append(i)
        else:
            close()
    close()
    return out


class LipSyncDetector:
    def __init__(self, card: DetectorCard, options: "ScanOptions") -> None:
        self.card = card
        self._cal: SyncCalibration | None = None
        # faces where face-swap looks for them (so it finds them once for both), at least every MAX_FACE_GAP_S
        self.face_fps = max(float(options.video_sample_fps), 1.0 / MAX_FACE_GAP_S)

    @property
    def calibration(self) -> SyncCalibration:
        if self._cal is None:
            self._cal = SyncCalibration.load()
        return self._cal

    def analyze(self, item: "MediaItem") -> Finding:
        watch = Stopwatch()
        if not item.info.has_audio:
            return not_applicable(self.card, "no-audio", "The video has no sound track, so mouth and voice cannot be compared.")
        try:
            with watch.stage("decode_audio"):
                x = item.audio()
        except DecodeError as exc:
            return not_applicable(self.card, "no-audio", f"No audio to compare with the mouth: {exc}", timings_ms=watch.timings_ms)
        with watch.stage("vad"):
            activity = item.speech()  # the voice detector's VAD result when it ran first
        if not activity.has_speech:
            return not_applicable(self.card, "no-speech", f"No speech found ({activity.reason}), so there is no voice for a mouth to follow.",
                                  timings_ms=watch.timings_ms)
        try:
            cal = self.calibration
        except ModelError as exc:
            return failed(self.card, str(exc))
        try:
            with watch.stage("frames_faces_mouths"):
                tracks, times, fps = track_mouths(item, self.face_fps)
        except ModelError as exc:
            return failed(self.card, f"face detector could not be loaded ({exc})")
        with watch.stage("sync"):
            results = []
            for tr in tracks:
                for rt, rp in _split_runs(tr, fps):
                    mask = speech_mask(rt, activity.segments_s)
                    if not judgeable(mask, fps):
                        continue
                    env = audio_signal(x, rt, fps)
                    sa = analyse_sync(env, mouth_signals(rp, cal.openness), rt, fps, mask)
                    results.append((tr.track_id, rt, sa, float(np.median(tr.face_px))))
        if not results:
            reason = "no-face" if not tracks else "too-little-speech"
            text = ("No face was found in the video" if not tracks
                    else f"No face was visible for {MIN_TRACK_SPEECH_S:g} s of speech")
            return not_applicable(self.card, reason, f"{text}, so the mouth could not be compared with the voice.",
                                  evidence=(Evidence("face_tracks", len(tracks)), Evidence("speech_s", round(activity.speech_s, 2))),
                                  timings_ms=watch.timings_ms)
        scored_tracks = []
        for tid, rt, sa, face_px in results:
            p = cal.probability(sa.features)
            wprobs = [cal.probability(w.features) for w in sa.windows]
            scored_tracks.append((p, tid, rt, sa, wprobs, face_px))
        scored_tracks.sort(key=lambda r: r[0])
        p_file, tid, rt, sa, wprobs, face_px = scored_tracks[0]
        return self._finding(p_file, tid, rt, sa, wprobs, face_px, scored_tracks, activity, watch.timings_ms)

    def _finding(self, p_file, tid, rt, sa: SyncAnalysis, wprobs, face_px, all_tracks, activity, timings_ms) -> Finding:
        label = f"face {tid}"
        timeline = tuple(TimelinePoint(round(w.start_s, 3), round(w.end_s, 3), float(np.clip(p, 0, 1)), label="lip-sync") for w, p in zip(sa.windows, wprobs))
        off = sa.offset_s
        st = sa.features["strength"]
        reasons = describe_windows(sa.windows, wprobs)
        if p_file >= 0.5:
            if reasons:
                summary = "The mouth does not match the voice: " + "; ".join(reasons[:3]) + "."
            elif abs(off) >= NEAR_S and st >= STRONG_SYNC:
                verb = "lags the voice" if off > 0 else "runs ahead of the voice"
                summary = f"The mouth does not match the voice: mouth movement {verb} by {abs(off):.1f} s over the clip."
            else:
                summary = "The mouth does not follow the voice: no consistent match between lip movement and the sound."
        else:
            summary = f"Mouth movement follows the voice (best match at {off:+.2f} s, sync strength {st:.2f})."
        sync_timeline = [
            {"start_s": round(w.start_s, 2), "end_s": round(w.end_s, 2), "offset_s": round(w.offset_s, 3), "strength": round(w.strength, 3),
             "probability_fake": round(p, 3)}
            for w, p in zip(sa.windows, wprobs)
        ]
        evidence = (
            Evidence("offset_s", round(off, 3), note="best audio-video offset over the whole face track; > 0: the mouth moves after the sound"),
            Evidence("sync_strength", round(st, 3), note="peak minus median correlation over offsets ±0.6 s (SyncNet-style confidence)"),
            Evidence("near_sync_correlation", round(sa.features["near_peak"], 3), note=f"best correlation within ±{NEAR_S:g} s"),
            Evidence("face_track", label, note=f"{len(rt)} frames at {sa.fps:.2f} fps, face about {face_px:.0f} px; {len(all_tracks)} track(s) with speech judged, the best-matching one reported"),
            Evidence("speech_s", round(activity.speech_s, 2)),
            Evidence("out_of_sync_windows", reasons, note=f"{WINDOW_S:g} s windows every {HOP_S:g} s"),
            Evidence("sync_timeline", sync_timeline, note="per window: best offset (s) and strength; drawn in the report"),
            Evidence("curve", [round(float(c), 3) for c in sa.curve], note="correlation at offsets -0.6..+0.6 s, one per frame"),
        )
        return scored(self.card, float(np.clip(p_file, 0, 1)), summary, signal=Signal.ML, evidence=evidence, timeline=timeline,
                      calibration=self.calibration.describe, timings_ms=dict(timings_ms))


def create(card: DetectorCard, options: "ScanOptions") -> LipSyncDetector:
    return LipSyncDetector(card, options)
