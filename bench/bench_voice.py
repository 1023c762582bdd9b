"""Voice detector: dev-set EER per generator, false positives on held-out real speech, speed, streaming latency.

    python bench/bench_voice.py [--shared ../shared] [--aasist] [--skip-fpr] [--json out.json]

- Dev set (``shared/data/dev/audio``, labels.csv): EER overall and per generator
  (each generator's fakes against all reals) for the shipped model, and with
  ``--aasist`` for the published AASIST / AASIST-L checkpoints, both through our
  pipeline (VAD, 64,600-sample windows) and as published (first 64,600 samples of
  the file, repeat-padded). Files without speech are counted as abstentions.
- Held-out real speech: LibriSpeech speakers with id % 5 == 0 (never trained on)
  and the 28 VoxCeleb2/LRS2/BBC talking-face clips (a domain never trained on):
  FPR at the default threshold 0.5, clean, after MP3 64 kbit/s and after a
  telephone-band (8 kHz G.711) round trip.
- Speed: seconds of audio per second of processing on this machine (1 thread),
  and streaming latency per window.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unmask.audio import detect_speech  # noqa: E402
from unmask.detectors import voice as V  # noqa: E402
from unmask.detectors._registry import get_card  # noqa: E402
from unmask.testing import voice as tv  # noqa: E402
from unmask.eval.metrics import equal_error_rate  # noqa: E402
from unmask.training.voice_data import validation_recordings  # noqa: E402  (numpy only: no torch)
from bench.bench_scan import median_time  # noqa: E402


def _card():
    try:
        return get_card("voice")
    except Exception:  # not registered yet
        from unmask.core import MediaKind
        from unmask.detectors._base import DetectorCard

        return DetectorCard("voice", "0.1.0", frozenset({MediaKind.AUDIO, MediaKind.VIDEO}), "ml", "", "unmask.detectors.voice:create")


def eer(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    return equal_error_rate(np.r_[np.zeros(len(real), np.int8), np.ones(len(fake), np.int8)], np.r_[real, fake])


def load_audio(path: Path) -> np.ndarray:
    from unmask.media import open_media

    return np.asarray(open_media(path).audio(), dtype=np.float32)


def score(model, x: np.ndarray) -> float | None:
    act = detect_speech(x)
    if not act.has_speech:
        return None
    return V.score_recording(_card(), model, x, act).probability_fake


def dev_table(shared: Path, models: dict, *, as_published: dict | None = None) -> dict:
    rows = list(csv.DictReader(open(shared / "data/dev/audio/labels.csv")))
    audio = {r["path"]: load_audio(shared / "data/dev/audio" / r["path"]) for r in rows}
    out = {}
    for name, fn in list(models.items()) + list((as_published or {}).items()):
        t0 = time.perf_counter()
        scores = {r["path"]: fn(audio[r["path"]]) for r in rows}
        elapsed = time.perf_counter() - t0
        real = np.array([scores[r["path"]] for r in rows if r["label"] == "real" and scores[r["path"]] is not None])
        fake_rows = [r for r in rows if r["label"] == "fake" and scores[r["path"]] is not None]
        fake = np.array([scores[r["path"]] for r in fake_rows])
        abstain = sum(s is None for s in scores.values())
        res = {"eer": eer(real, fake)[0], "n_real": len(real), "n_fake": len(fake), "abstained": abstain,
               "fpr_at_0.5": float(np.mean(real >= 0.5)), "tpr_at_0.5": float(np.mean(fake >= 0.5)), "seconds": round(elapsed, 1)}
        per = {}
        for m in sorted({r["method"] for r in fake_rows}):
            f = np.array([scores[r["path"]] for r in fake_rows if r["method"] == m])
            per[m] = {"n": len(f), "eer": eer(real, f)[0], "tpr_at_0.5": float(np.mean(f >= 0.5))}
        res["per_generator"] = per
        out[name] = res
        print(f"\n== {name}: EER {res['eer']:.3f}  (real {len(real)}, fake {len(fake)}, abstained {abstain})  FPR@0.5 {res['fpr_at_0.5']:.3f}  TPR@0.5 {res['tpr_at_0.5']:.3f}")
        for m, v in per.items():
            print(f"   {v['eer']:.3f}  tpr {v['tpr_at_0.5']:.2f}  n={v['n']:2d}  {m[:70]}")
    return out


def heldout_reals(shared: Path) -> list[tuple[str, np.ndarray]]:
    """(group, audio): the LibriSpeech validation speakers (model selection and the threshold were set on them)
    and the talking-face clips (never used at all)."""
    out = [("librispeech-val", load_audio(p)) for p in validation_recordings(shared)]
    for p in sorted((shared / "data/talking").rglob("*")):
        if p.suffix.lower() in {".mp4", ".avi", ".mkv", ".mov", ".wav", ".flac", ".mpg"}:
            try:
                out.append(("talking", load_audio(p)))
            except Exception as exc:  # clips without an audio track
                print("skip", p.name, exc)
    return out


def fpr_table(model, reals) -> dict:
    """FPR at 0.5 per channel (``unmask.testing.voice.EVAL_CHANNELS``), for all held-out reals and per group."""
    out = {}
    for chan, fn in tv.EVAL_CHANNELS.items():
        scored = [(group, score(model, fn(x))) for group, x in reals]
        for group in ("all", "librispeech-val", "talking"):
            s = np.array([v for g, v in scored if v is not None and group in ("all", g)])
            key = chan if group == "all" else f"{chan}/{group}"
            out[key] = {"n": len(s), "fpr_at_0.5": float(np.mean(s >= 0.5)), "p95": float(np.percentile(s, 95))}
            print(f"held-out real, {key}: FPR@0.5 {out[key]['fpr_at_0.5']:.3f} (n={len(s)}, 95th pct P(fake) {out[key]['p95']:.2f})")
    return out


def speed(model, x: np.ndarray) -> dict:
    t_cold = median_time(lambda: score(model, x), 1)  # the first call pays ONNX Runtime's warm-up: reported apart
    t_warm = median_time(lambda: score(model, x), 3)
    t_vad = median_time(lambda: detect_speech(x), 3)  # baseline in the same run: speech finding alone
    cold, rt, vad_ratio = len(x) / 16000 / t_cold, len(x) / 16000 / t_warm, t_warm / t_vad
    # streaming: feed the recording as a WAV stream
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV", subtype="PCM_16")
    buf.seek(0)
    lat = [r["latency_ms"] for r in V.listen(buf, model=model)]
    res = {"audio_s": round(len(x) / 16000, 1), "x_real_time": round(rt, 1), "x_real_time_cold": round(cold, 1), "scan_over_vad_only": round(vad_ratio, 2), "stream_windows": len(lat),
           "stream_latency_ms_median": float(np.median(lat)), "stream_latency_ms_max": float(np.max(lat))}
    print("speed", res)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--aasist", action="store_true", help="also score the published AASIST / AASIST-L checkpoints")
    ap.add_argument("--no-shipped", action="store_true", help="skip the shipped (or --weights-dir) model on the dev set")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-fpr", action="store_true")
    ap.add_argument("--weights-dir", type=Path, default=V.WEIGHTS_DIR,
                    help="voice.onnx + voice.json to measure (default: the shipped ones; a candidate from voice_train --weights-dir)")
    ap.add_argument("--json")
    args = ap.parse_args()
    shared = Path(args.shared)
    import onnxruntime

    model = V.ShippedModel(args.weights_dir)
    models = {} if args.no_shipped else {"voice (shipped lcnn)": lambda x: score(model, x)}
    published = {}
    if args.aasist:
        from unmask.detectors.aasist import AasistModel, repeat_pad

        for v in ("AASIST", "AASIST-L"):
            m = AasistModel(shared / f"models/aasist/{v}.pth")
            models[f"{v} via unmask pipeline"] = lambda x, m=m: score(m, x)
            published[f"{v} as published"] = lambda x, m=m: float(m.probability(m.window_logits([repeat_pad(x)])[0]))
    results = {"machine": platform.platform(), "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
               "date": time.strftime("%Y-%m-%d"), "dev": dev_table(shared, models, as_published=published)}
    if not args.skip_fpr:
        results["heldout_real"] = fpr_table(model, heldout_reals(shared))
    if not args.skip_speed:
        long = np.concatenate([load_audio(p) for p in sorted((shared / "data/speech/librispeech").glob("*.flac"))[:8]])
        results["speed"] = speed(model, long)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
