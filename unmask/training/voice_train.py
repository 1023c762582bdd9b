"""Train, validate, calibrate and export the ``voice`` model.

``python -m unmask.training.voice_train [--out out/voice] [--minutes 8]``
(make the features first: ``python -m unmask.training.voice_data``, ``voice_hifigan`` and ``voice_tts``; ``unmask train voice`` runs them all).

- Batches of 32 random 2-4 s crops (``--min-frames`` lowers the 2 s), half real, half fake, with the fake half
  split between the neural families (``--neural-share``, default half: the
  pretrained HiFi-GANs of ``voice_hifigan``, the Kokoro, hibari and Piper TTS of ``voice_tts``
  and, when made, our own ``voice_vocoder``; they are closest to real-world clones) and the DSP/TTS families (WORLD,
  Griffin-Lim, LPC, espeak) in turn, so the easiest family does not dominate.
- Every 150 steps the held-out speakers are scored the way the detector scores a
  file (4 s windows every 2 s, mean logit) and the checkpoint with the lowest
  validation EER is kept (``<out>/best.pt``; ``<out>/last.pt`` resumes a run).
- Platt scaling on the validation logits gives the calibration the detector
  applies; the ONNX file and ``voice.json`` (sha256, calibration, validation
  numbers) are written to ``unmask/detectors/weights/``.
- ``--ensemble A.pt,B.pt`` trains nothing: it calibrates and exports the mean logit
  of finished networks as one graph (voice 0.3.0 and 0.4.0: one trained ``--exclude
  kokoro,hibari,piper``, one on everything; ``unmask train voice`` runs the whole recipe).
- ``--evaluate A.pt[,B.pt]`` trains and writes nothing: it prints the validation EER and the share
  of clips at p >= 0.5 per family, for comparing finished networks on today's validation set.
- ``--features logspec`` trains on the 128-band log spectrum instead of LFCC (the stored features hold
  both, ``voice_data.COLUMNS``). A member list may name ``onnx:PATH``: every network of an exported
  ensemble, rebuilt from the ONNX file (``voice_model.load_onnx``), e.g. the shipped 0.4.0 pair.

The dev set (``shared/data/dev/audio``) is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unmask.detectors._onnx import sigmoid
from unmask.eval.metrics import equal_error_rate
from unmask.audio.features import FEATURES
from unmask.training.voice_data import COLUMNS, DEFAULT_SHARED, load
from unmask.training.voice_model import VoiceEnsemble, VoiceLCNN, load_onnx

WINDOW_FRAMES, HOP_FRAMES = 400, 200  # 4 s windows every 2 s, as the detector scores
# spoofs from neural generators: ours (``voice_vocoder``), the two pretrained HiFi-GANs (``voice_hifigan``) and the
# three neural TTS models (``voice_tts``)
NEURAL_FAMILIES = ("neural", "hifigan", "hifigan16k", "kokoro", "hibari", "piper")
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "detectors" / "weights"


def family(method: str) -> str:
    return method.split("-")[0] if method != "bona fide" else "real"


def eer(scores_real: np.ndarray, scores_fake: np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold (higher score = fake); ``unmask.eval.metrics.equal_error_rate``."""
    labels = np.r_[np.zeros(len(scores_real), np.int8), np.ones(len(scores_fake), np.int8)]
    return equal_error_rate(labels, np.r_[scores_real, scores_fake])


def model_inputs(model: torch.nn.Module, feats: np.ndarray) -> list[torch.Tensor]:
    """The tensors ``model`` reads (one per name in ``model.inputs``), cut from stored feature matrices (..., frames, columns)."""
    return [torch.from_numpy(np.ascontiguousarray(feats[..., COLUMNS[name]], dtype=np.float32)) for name in model.inputs]


def _cmn(f: np.ndarray, on: bool) -> np.ndarray:
    return f - f.mean(axis=0, keepdims=True) if on else f


def _crop(f: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(f) < n:
        f = np.tile(f, (int(np.ceil(n / len(f))), 1))
    a = int(rng.integers(0, len(f) - n + 1))
    return f[a : a + n]


def windows(f: np.ndarray) -> list[np.ndarray]:
    if len(f) <= WINDOW_FRAMES:
        return [f]
    starts = list(range(0, len(f) - WINDOW_FRAMES + 1, HOP_FRAMES))
    if starts[-1] + WINDOW_FRAMES < len(f):
        starts.append(len(f) - WINDOW_FRAMES)
    return [f[a : a + WINDOW_FRAMES] for a in starts]


@torch.no_grad()
def score_clips(model: VoiceLCNN, clips: list[dict]) -> np.ndarray:
    """Each clip's file logit (mean over 4 s windows every 2 s), in eval mode; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    out = []
    for c in clips:
        ws = windows(c["feats"])  # model_inputs converts only the columns the model reads
        by_len: dict[int, list[np.ndarray]] = {}
        for w in ws:
            by_len.setdefault(len(w), []).append(w)
        logits = [model(*model_inputs(model, np.stack(g))).numpy() for g in by_len.values()]
        out.append(float(np.mean(np.concatenate(logits))))
    model.train(was_training)
    return np.array(out)


def channel_quantiles(model: VoiceLCNN, shared: Path, q: float) -> dict[str, float]:
    """Logit quantile ``q`` of the validation speakers' whole recordings, clean and after an MP3 64 kbit/s and a
    telephone-band round trip, scored as the detector scores a file: a threshold above all three keeps the
    false-positive rate on real speech near its target on each channel, not only on the random channel mix."""
    from unmask.testing.voice import EVAL_CHANNELS
    from unmask.training.voice_data import front_end, read_speech, validation_recordings

    logits: dict[str, list[float]] = {c: [] for c in EVAL_CHANNELS}
    for p in validation_recordings(shared):
        x = read_speech(p)
        for name, fn in EVAL_CHANNELS.items():
            f = front_end(fn(x))
            if f is not None and len(f) >= 50:
                logits[name].append(float(score_clips(model, [{"feats": f}])[0]))
    out = {name: float(np.quantile(v, q)) for name, v in logits.items() if v}
    print("validation-speaker logit quantiles per channel:", {k: round(v, 3) for k, v in out.items()})
    return out


def fit_platt(logits: np.ndarray, labels: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """p = sigmoid(a * logit + b) by Newton's method on the log-loss, classes weighted equally."""
    w = np.where(labels == 1, 0.5 / max(1, labels.sum()), 0.5 / max(1, (1 - labels).sum()))
    a, b = 1.0, 0.0
    X = np.stack([logits, np.ones_like(logits)], axis=1)
    for _ in range(iters):
        p = sigmoid(a * logits + b)
        g = X.T @ (w * (p - labels))
        H = (X * (w * p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        a, b = np.array([a, b]) - np.linalg.solve(H, g)
    return float(a), float(b)


def evaluate(model: VoiceLCNN, val: list[dict]) -> dict:
    s = score_clips(model, val)
    y = np.array([c["label"] for c in val])
    fam = np.array([family(c["method"]) for c in val])
    res = {"eer": eer(s[y == 0], s[y == 1])[0]}
    for f in sorted(set(fam[y == 1])):
        res[f"eer_{f}"] = eer(s[y == 0], s[(y == 1) & (fam == f)])[0]
    return res | {"_scores": s, "_labels": y}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--shared", default=DEFAULT_SHARED,
                    help="for the threshold: the validation speakers' recordings, clean, MP3 64k and telephone ('' = skip)")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=150, metavar="STEPS")
    ap.add_argument("--export-only", action="store_true", help="skip training: calibrate and export best.pt")
    ap.add_argument("--channels", default="16,24,32,48", help="conv widths of the four LCNN blocks (0.1.0: 12,16,24,32)")
    ap.add_argument("--hidden", type=int, default=96, help="width of the per-frame projection (0.1.0: 64)")
    ap.add_argument("--features", choices=sorted(FEATURES), default="lfcc", help="front end a new network reads (0.1.0-0.4.0: lfcc)")
    ap.add_argument("--target-fpr", type=float, default=0.03,
                    help="share of validation real clips allowed at p >= 0.5 (sets the intercept; 0.3.0: 0.04)")
    ap.add_argument("--min-frames", type=int, default=200, help="shortest training crop in 10 ms frames (crops are min..400 frames)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps too (0: only the time budget)")
    ap.add_argument("--cosine", action="store_true", help="decay the learning rate to zero over the time budget (cosine)")
    ap.add_argument("--no-cmn", dest="cmn", action="store_false", help="no cepstral mean normalisation per window inside the model (0.1.0)")
    ap.add_argument("--run", default="", help="checkpoints in <out>/<run>/ instead of <out>/ (several runs on one feature set)")
    ap.add_argument("--weights-dir", default=str(WEIGHTS_DIR), help="where voice.onnx and voice.json are written (default: the shipped ones)")
    ap.add_argument("--init", metavar="PT", help="start from these weights (a state_dict), with a fresh optimiser and best score")
    ap.add_argument("--neural-share", type=float, default=0.5, help="share of the fake half drawn from the neural-vocoder families")
    ap.add_argument("--exclude", default="", metavar="FAMILIES",
                    help="comma-separated spoof families left out of training and validation (kokoro,hibari,piper: 0.2.0's data)")
    ap.add_argument("--evaluate", metavar="PT[,PT]", help="no training, no export: validation EER and share flagged per family of the mean logit "
                                                          "of these networks (onnx:PATH = every network in that file), "
                                                          "flagged = logit >= --threshold-logit")
    ap.add_argument("--threshold-logit", type=float, help="for --evaluate (default: p = 0.5 of the shipped voice.json)")
    ap.add_argument("--ensemble", metavar="PT,PT", help="no training: calibrate and export the mean of these members' logits (state dicts of "
                                                        "networks with --channels/--hidden/--cmn/--features, or onnx:PATH)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # two shared cores: leave one to the other trainers
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    items = load(args.out)
    out = Path(args.out, args.run)
    out.mkdir(parents=True, exist_ok=True)
    excluded = set(filter(None, args.exclude.split(",")))
    train = [c for c in items if not c["val"] and family(c["method"]) not in excluded]
    val = [c for c in items if c["val"] and family(c["method"]) not in excluded]
    print(f"{len(train)} train clips ({sum(c['label'] for c in train)} fake), {len(val)} val clips ({sum(c['label'] for c in val)} fake)")

    def network() -> VoiceLCNN:
        return VoiceLCNN(tuple(int(c) for c in args.channels.split(",")), args.hidden, cmn=args.cmn, features=args.features)

    def members(pts: str) -> VoiceEnsemble:
        nets = []
        for pt in pts.split(","):
            if pt.startswith("onnx:"):
                nets += load_onnx(pt[len("onnx:") :], cmn=args.cmn)
                continue
            m = network()
            m.load_state_dict(torch.load(pt, weights_only=True))
            nets.append(m)
        return VoiceEnsemble(nets).eval()

    if args.evaluate:
        if args.threshold_logit is None:
            cal = json.loads((WEIGHTS_DIR / "voice.json").read_text())["calibration"]
            args.threshold_logit = -cal["b"] / cal["a"]
        with torch.no_grad():
            res = evaluate(members(args.evaluate), val)
        fam = np.array([family(c["method"]) for c in val])
        flagged = {f: round(float(np.mean(res["_scores"][fam == f] >= args.threshold_logit)), 3) for f in sorted(set(fam))}
        print(json.dumps({"networks": args.evaluate.split(","), "threshold_logit": round(args.threshold_logit, 4),
                          "eer": {k: round(v, 4) for k, v in res.items() if not k.startswith("_")}, "flagged": flagged}, indent=1))
        return
    if args.ensemble:
        ensemble = members(args.ensemble)
        calibrate_and_export(ensemble, val, args, {"ensemble": args.ensemble.split(","), "val_clips": len(val), "cmn": args.cmn,
                                                   "channels": args.channels, "hidden": args.hidden, "target_fpr": args.target_fpr})
        return
    model = network()
    allf = np.concatenate([_cmn(c["feats"][:, COLUMNS[args.features]].astype(np.float32), args.cmn)[::4] for c in train])
    model.mean.copy_(torch.from_numpy(allf.mean(0)))
    model.std.copy_(torch.from_numpy(allf.std(0) + 1e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    step, best = 0, {"eer": 1.0}
    if args.init:
        model.load_state_dict(torch.load(args.init, weights_only=True))
        print(f"initialised from {args.init}")
    elif (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, best = ck["step"], ck["best"]
        print(f"resumed at step {step}, best val EER {best['eer']:.4f}")
    reals = [c for c in train if c["label"] == 0]
    fakes_by_family: dict[str, list[dict]] = {}
    for c in train:
        if c["label"] == 1:
            fakes_by_family.setdefault(family(c["method"]), []).append(c)
    fams = sorted(fakes_by_family)
    t_start = time.time()
    t_end = t_start + 60 * args.minutes
    model.train()
    while not args.export_only and time.time() < t_end and (not args.max_steps or step < args.max_steps):
        n = int(rng.integers(args.min_frames, WINDOW_FRAMES + 1))
        half = args.batch // 2
        batch = [reals[i] for i in rng.integers(0, len(reals), half)]
        neural = [f for f in fams if f in NEURAL_FAMILIES]
        others = [f for f in fams if f not in NEURAL_FAMILIES]
        n_neural = int(round(args.neural_share * half)) if neural else 0
        for k in range(half):
            pool = fakes_by_family[neural[k % len(neural)] if k < n_neural else others[k % len(others)]]
            batch.append(pool[int(rng.integers(0, len(pool)))])
        x = model_inputs(model, np.stack([_crop(c["feats"], n, rng) for c in batch]))
        y = torch.tensor([float(c["label"]) for c in batch])
        if args.cosine:  # by elapsed time, since the budget is in minutes
            for group in opt.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, (time.time() - t_start) / (t_end - t_start))))
        loss = F.binary_cross_entropy_with_logits(model(*x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % args.eval_every == 0 or time.time() >= t_end or step == args.max_steps:
            res = evaluate(model, val)
            msg = " ".join(f"{k}={v:.3f}" for k, v in res.items() if not k.startswith("_"))
            print(f"step {step} loss {loss.item():.3f} ({(time.time() - t_start) / step:.2f} s/step) val {msg}", flush=True)
            if res["eer"] <= best["eer"]:
                best = {k: v for k, v in res.items() if not k.startswith("_")} | {"step": step}
                torch.save(model.state_dict(), out / "best.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best}, out / "last.pt")
    print("best", best)
    model.load_state_dict(torch.load(out / "best.pt", weights_only=True))
    model.eval()
    calibrate_and_export(model, val, args, {"train_clips": len(train), "val_clips": len(val), "steps": best.get("step", step), "cmn": args.cmn,
                                            "channels": args.channels, "hidden": args.hidden, "target_fpr": args.target_fpr,
                                            "features": args.features, "min_frames": args.min_frames, "lr": args.lr, "cosine": args.cosine, "init": args.init, "excluded": sorted(excluded)})


def calibrate_and_export(model: torch.nn.Module, val: list[dict], args: argparse.Namespace, train_info: dict) -> None:
    """Platt slope and threshold from the validation clips (and the validation speakers' channels), then ONNX + voice.json."""
    res = evaluate(model, val)
    a, b = fit_platt(res["_scores"], res["_labels"].astype(float))
    # The default threshold (p = 0.5) must mean something on real speech: it sits no lower than the
    # validation reals' (1 - target FPR) quantile, whatever the class-balanced Platt fit put it at.
    real_quantile = float(np.quantile(res["_scores"][res["_labels"] == 0], 1 - args.target_fpr))
    per_channel = channel_quantiles(model, Path(args.shared), 1 - args.target_fpr) if args.shared else {}
    b = -a * max(-b / a, real_quantile, *per_channel.values())
    p = sigmoid(a * res["_scores"] + b)
    fpr_05 = float(np.mean(p[res["_labels"] == 0] >= 0.5))
    tpr_05 = float(np.mean(p[res["_labels"] == 1] >= 0.5))
    export(model, a, b, {k: round(v, 4) for k, v in res.items() if not k.startswith("_")} | {"fpr_at_0.5": fpr_05, "tpr_at_0.5": tpr_05},
           train_info, Path(args.weights_dir))


def export(model: torch.nn.Module, a: float, b: float, val_metrics: dict, train_info: dict, weights_dir: Path = WEIGHTS_DIR) -> None:
    weights_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = weights_dir / "voice.onnx"
    names = list(model.inputs)
    dummies = tuple(torch.zeros(1, WINDOW_FRAMES, FEATURES[n][1]) for n in names)
    torch.onnx.export(
        model, dummies, str(onnx_path), input_names=names, output_names=["logit"],
        dynamic_axes={n: {0: "batch", 1: "frames"} for n in names} | {"logit": {0: "batch"}}, opset_version=17, dynamo=False,
    )
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    meta = {
        "weights": "voice.onnx",
        "sha256": sha,
        "input": "; ".join(f"{n} (batch, frames, {FEATURES[n][1]}) float32, unmask.audio.features.{FEATURES[n][0].__name__} of "
                           "level-normalised speech" for n in names),
        "window_s": WINDOW_FRAMES / 100,
        "hop_s": HOP_FRAMES / 100,
        "calibration": {"method": "platt", "a": a, "b": b, "threshold_rule": "slope from Platt; intercept puts p = 0.5 no lower than the (1 - target FPR) quantile of the validation reals: their random-channel clips, and their whole recordings clean, MP3 64k and telephone", "fitted_on": "held-out LibriSpeech speakers (id % 5 == 0) with their spoofs + held-out espeak voices (en-029, en-gb-scotland) and TTS voices (Kokoro jf_tebukuro, every fifth hibari and Piper clip)"},
        "validation": val_metrics,
        "training": train_info,
        "created": time.strftime("%Y-%m-%d"),
    }
    (weights_dir / "voice.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
