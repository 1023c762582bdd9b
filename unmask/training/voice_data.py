"""Real speech → paired real / spoofed training features for the ``voice`` model.

``python -m unmask.training.voice_data [--shared ../shared] [--out out/voice]``

For every real utterance in ``shared/data/speech`` (251 LibriSpeech speakers and
60 home-microphone sentences) we keep the utterance and make one spoof per
copy-synthesis path in ``voice_spoofs`` from an excerpt of it; 160 espeak-ng
utterances add a TTS path. Every clip, real or fake, then goes through two
independent random channels (``unmask.testing.voice.random_channel``: MP3, Opus,
AAC, telephone, noise, reverberation, resampling, gain) so the codec is never
the cue, then through the same front end as inference: VAD, silence trimmed,
level normalised, then every front end in ``unmask.audio.features.FEATURES``
side by side (LFCC and the log spectrum: ``COLUMNS`` says which columns are which).
Features are float16, one ``.npz`` per source utterance in ``<out>/feats/`` so an
interrupted run resumes where it stopped.

Split by speaker: LibriSpeech speakers whose id is divisible by 5 (50 of 251)
and the espeak voices ``en-029`` and ``en-gb-scotland`` are held out for
validation and calibration; the home-mic speaker is in training.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unmask.audio import detect_speech, normalise_level, trim_silence
from unmask.audio.features import FEATURES
from unmask.testing import voice as tv

DEFAULT_SHARED = str(Path(__file__).resolve().parents[3] / "shared")  # ../shared beside the repository
VAL_ESPEAK_VOICES = ("en-029", "en-gb-scotland")
VAL_TTS_SPEAKERS = ("kokoro-jf_tebukuro", "hibari-val", "piper-val")  # held-out voices of ``voice_tts``
N_CHANNELS = 2  # random channel variants per clip
SPOOF_EXCERPT_S = 8.0
_EDGES = np.cumsum([0, *(width for _, width in FEATURES.values())])
COLUMNS = {name: slice(int(a), int(b)) for name, a, b in zip(FEATURES, _EDGES, _EDGES[1:])}  # front end → its stored columns
N_ESPEAK = 160


def speaker_of(path: Path) -> str:
    return "homemic" if path.parent.name == "homemic" else path.stem.split("-")[0]


def is_val_speaker(speaker: str) -> bool:
    return speaker.isdigit() and int(speaker) % 5 == 0


def validation_recordings(shared: str | Path) -> list[Path]:
    """The LibriSpeech utterances of the validation speakers (never trained on)."""
    return [p for p in sorted(Path(shared, "data", "speech", "librispeech").glob("*.flac")) if is_val_speaker(speaker_of(p))]


def read_speech(path: str | Path) -> np.ndarray:
    """A recording as 16 kHz mono float32."""
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return tv.resample(x.mean(axis=1), sr, 16000)


def excerpt(x: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``seconds``-long stretch of 16 kHz ``x`` (all of it when shorter)."""
    n = int(seconds * 16000)
    a = int(rng.integers(0, max(1, len(x) - n)))
    return x[a : a + n]


def front_end(x: np.ndarray) -> np.ndarray | None:
    """VAD → trimmed speech → level → every front end side by side (``COLUMNS``), as the detector does; None without
    active sound.

    Unlike the detector, clips the voicing checks call music or unvoiced are kept:
    a briefly trained vocoder buzzes at a steady pitch, yet its other traces are
    the ones to learn.
    """
    act = detect_speech(x)
    if not act.segments_s:
        return None
    y = normalise_level(trim_silence(x, act))
    return np.concatenate([fn(y) for fn, _ in FEATURES.values()], axis=1).astype(np.float16)


def _render(clips: list[tuple[np.ndarray, int, str]], rng: np.random.Generator) -> tuple[list[np.ndarray], list[dict]]:
    feats, meta = [], []
    for x, label, method in clips:
        for _ in range(N_CHANNELS):
            y, channel = tv.random_channel(x, rng)
            f = front_end(y)
            if f is not None and len(f) >= 50:
                feats.append(f)
                meta.append({"label": label, "method": method, "channel": channel})
    return feats, meta


def _job_real(path: str, out_dir: str, seed: int) -> None:
    from unmask.training import voice_spoofs as vs

    dst = Path(out_dir) / f"{Path(path).parent.name}__{Path(path).stem}.npz"
    if dst.exists():
        return
    rng = np.random.default_rng(seed)
    x = read_speech(path)
    part = excerpt(x, SPOOF_EXCERPT_S, rng)
    clips = [(x, 0, "bona fide")]
    for name, fn in vs.COPY_SYNTHESIS.items():
        y, desc = fn(part, rng)
        clips.append((y, 1, desc))
    _save(dst, *_render(clips, rng), speaker=speaker_of(Path(path)))


def _job_espeak(index: int, out_dir: str, seed: int) -> None:
    from unmask.training import voice_spoofs as vs

    dst = Path(out_dir) / f"espeak__{index:04d}.npz"
    if dst.exists():
        return
    rng = np.random.default_rng(seed)
    y, desc = vs.espeak(rng)
    _save(dst, *_render([(y, 1, desc)], rng), speaker=desc)


def _save(dst: Path, feats: list[np.ndarray], meta: list[dict], *, speaker: str) -> None:
    tmp = dst.with_suffix(".tmp.npz")
    np.savez(tmp, *feats, meta=json.dumps({"speaker": speaker, "clips": meta}))
    os.replace(tmp, dst)  # atomic: a killed run never leaves a half-written file behind


def load(out_dir: str | Path) -> list[dict]:
    """Every clip: {"feats", "label", "method", "channel", "speaker", "val"}."""
    items = []
    for p in sorted(Path(out_dir, "feats").glob("*.npz")):
        if p.name.endswith(".tmp.npz"):
            continue
        z = np.load(p)
        meta = json.loads(str(z["meta"]))
        spk = meta["speaker"]
        val = is_val_speaker(spk) or any(spk == f"espeak-{v}" for v in VAL_ESPEAK_VOICES) or spk in VAL_TTS_SPEAKERS
        for i, m in enumerate(meta["clips"]):
            items.append({"feats": z[f"arr_{i}"], **m, "speaker": spk, "val": val})
    return items


def run_jobs(jobs: list[tuple[Callable, tuple]], workers: int) -> None:
    """Run ``fn(*args)`` for every job in worker processes, in order, printing progress every 25 (each job skips finished files)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as ex:
        futs = [ex.submit(fn, *fn_args) for fn, fn_args in jobs]
        for k, f in enumerate(futs):
            f.result()
            if k % 25 == 0:
                print(f"{k + 1}/{len(futs)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    feats_dir = Path(args.out) / "feats"
    feats_dir.mkdir(parents=True, exist_ok=True)
    reals = sorted(Path(args.shared, "data", "speech").glob("*/*.flac"))
    jobs = [(_job_real, (str(p), str(feats_dir), 1000 + i)) for i, p in enumerate(reals)]
    jobs += [(_job_espeak, (i, str(feats_dir), 5000 + i)) for i in range(N_ESPEAK)]
    run_jobs(jobs, args.workers)
    print("done", len(list(feats_dir.glob("*.npz"))), "files")


if __name__ == "__main__":
    main()
