"""Perturbations re-encode real media into decodable files of the right kind and format."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from unmask.core import MediaKind
from unmask.errors import UsageError
from unmask.eval.perturb import apply_perturbation, parse_perturbation, parse_perturbations
from unmask.media import open_media


def _png(path: Path, w: int = 64, h: int = 48) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "RGB").save(path)
    return path


def _wav(path: Path, tones_hz: tuple[float, ...], rate_hz: int = 16000, seconds: float = 1.0) -> Path:
    import soundfile as sf

    t = np.arange(int(rate_hz * seconds)) / rate_hz
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in tones_hz)
    sf.write(path, x, rate_hz)
    return path


def _mp4(path: Path, frames: int = 12, w: int = 66, h: int = 50) -> Path:
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=Fraction(12))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        for i in range(frames):
            img = np.full((h, w, 3), i * 20 % 255, np.uint8)
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(v.encode(None))
        t = np.arange(16000) / 16000
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        fs = a.codec_context.frame_size
        for s in range(0, samples.size - fs + 1, fs):
            fr = av.AudioFrame.from_ndarray(np.stack([samples[s : s + fs]]), format="fltp", layout="mono")
            fr.sample_rate = 16000
            out.mux(a.encode(fr))
        out.mux(a.encode(None))
    return path


def test_jpeg_and_resize(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png")
    jpg = apply_perturbation(parse_perturbation("jpeg:30"), src, MediaKind.IMAGE, tmp_path)
    m = open_media(jpg)
    assert m.info.format == "jpeg" and (m.info.width_px, m.info.height_px) == (64, 48)
    small = apply_perturbation(parse_perturbation("resize:0.5"), src, MediaKind.IMAGE, tmp_path)
    m = open_media(small)
    assert m.info.format == "png" and (m.info.width_px, m.info.height_px) == (32, 24)
    assert src.read_bytes() == _png(tmp_path / "b.png").read_bytes()  # the original is untouched


def test_h264_reencodes_video_with_audio(tmp_path: Path) -> None:
    src = _mp4(tmp_path / "v.mp4")
    out = apply_perturbation(parse_perturbation("h264:crf28"), src, MediaKind.VIDEO, tmp_path)
    m = open_media(out)
    assert m.kind is MediaKind.VIDEO and m.info.video_codec == "h264"
    assert (m.info.width_px, m.info.height_px) == (66, 50)
    assert m.info.has_audio
    assert len(list(m.frames(12))) >= 10


@pytest.mark.parametrize(
    ("spec", "fmt", "rate_hz"),
    [("mp3:64k", "mp3", 16000), ("opus:16k", "opus", 48000), ("tel8k", "wav", 8000)],
)
def test_audio_codecs(tmp_path: Path, spec: str, fmt: str, rate_hz: int) -> None:
    src = _wav(tmp_path / "a.wav", (1000.0,))
    out = apply_perturbation(parse_perturbation(spec), src, MediaKind.AUDIO, tmp_path)
    m = open_media(out)
    assert m.kind is MediaKind.AUDIO and m.info.format == fmt and m.info.sample_rate_hz == rate_hz
    assert m.info.duration_s == pytest.approx(1.0, abs=0.05)
    x = m.audio()
    assert np.sqrt(np.mean(x**2)) > 0.05  # the tone survived


def test_telephone_band_removes_low_frequencies(tmp_path: Path) -> None:
    src = _wav(tmp_path / "a.wav", (100.0, 1000.0))
    out = apply_perturbation(parse_perturbation("tel8k"), src, MediaKind.AUDIO, tmp_path)
    import av

    with av.open(str(out)) as f:
        assert f.streams.audio[0].codec_context.name == "pcm_mulaw"
    x = open_media(out).audio().astype(np.float64)
    spec = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(x.size, 1 / 16000)
    at = lambda hz: spec[np.abs(f - hz) < 5].max()  # noqa: E731
    assert at(100.0) < 0.02 * at(1000.0)


def test_parse_and_applicability() -> None:
    ps = parse_perturbations("jpeg:75,resize:0.5,h264:crf28,mp3:64k,opus:16k,tel8k")
    assert [p.codec for p in ps] == ["jpeg", "resize", "h264", "mp3", "opus", "tel8k"]
    assert [p.value for p in ps] == [75, 0.5, 28, 64, 16, None]
    assert ps[0].applies_to(MediaKind.IMAGE) and not ps[0].applies_to(MediaKind.AUDIO)
    assert ps[2].applies_to(MediaKind.VIDEO) and not ps[3].applies_to(MediaKind.VIDEO)
    for bad in ("jpeg:101", "jpeg", "gif:3", "mp3:fast", "tel8k:1"):
        with pytest.raises(UsageError):
            parse_perturbation(bad)
    with pytest.raises(UsageError, match="twice"):
        parse_perturbations("jpeg:75,jpeg:75")
    with pytest.raises(ValueError, match="does not apply"):
        apply_perturbation(ps[0], Path("x.wav"), MediaKind.AUDIO, Path("."))
