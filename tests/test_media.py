"""unmask.media on real files made by unmask.testing.media: formats, sampling, audio extraction, limits."""

from __future__ import annotations

import numpy as np
import pytest

from unmask.config import Limits
from unmask.core import MediaKind
from unmask.errors import LimitExceededError
from unmask.media import AUDIO_RATE_HZ, open_media
from unmask.testing import media as m

# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(m.IMAGE_FORMATS))
def test_every_image_format_round_trips(tmp_path, fmt):
    path = m.make_image(tmp_path / f"x.{fmt}", fmt, (70, 44))
    item = open_media(path)
    assert item.info.kind is MediaKind.IMAGE
    assert item.info.format == fmt
    assert item.info.mime == f"image/{fmt}"
    assert (item.info.width_px, item.info.height_px) == (70, 44)
    assert item.info.size_bytes == path.stat().st_size
    rgb = item.image()
    assert rgb.mode == "RGB" and rgb.size == (70, 44)
    (frame,) = list(item.frames(2.0))
    assert frame.rgb.shape == (44, 70, 3) and frame.pts_s == 0.0 and not frame.rgb.flags.writeable
    # The gradient the maker draws runs red left→right: decoding kept the picture, not just the size.
    assert frame.rgb[:, -5:, 0].mean() > frame.rgb[:, :5, 0].mean() + 150


def test_heic_when_the_plugin_is_installed(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC needs the optional pillow-heif wheel")
    from PIL import Image

    pillow_heif.register_heif_opener()
    path = tmp_path / "x.heic"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path, format="HEIF")
    item = open_media(path)
    assert (item.info.kind, item.info.format, item.info.width_px) == (MediaKind.IMAGE, "heic", 64)


# -- content, not extension -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "suffix", "kind"),
    [
        ("png", ".mp3", MediaKind.IMAGE),
        ("jpeg", ".png", MediaKind.IMAGE),
        ("wav", ".jpg", MediaKind.AUDIO),
        ("mp4", ".wav", MediaKind.VIDEO),
        ("flac", ".mp4", MediaKind.AUDIO),
    ],
)
def test_content_beats_extension(tmp_path, good_media, real, suffix, kind):
    path = m.copy_with_suffix(good_media[real], tmp_path, suffix)
    item = open_media(path)
    assert (item.info.kind, item.info.format) == (kind, real)


# -- video ----------------------------------------------------------------------------------


@pytest.mark.parametrize("container", m.VIDEO_CONTAINERS)
def test_every_video_container_round_trips_with_its_audio(good_media, container):
    item = open_media(good_media[container])
    info = item.info
    assert (info.kind, info.format) == (MediaKind.VIDEO, container)
    assert (info.width_px, info.height_px) == (96, 64)
    # MPEG-PS/TS carry no duration: FFmpeg estimates it from timestamps, a few frames short with B-frames.
    assert info.duration_s == pytest.approx(2.0, abs=0.2 if container in ("mpeg", "ts") else 0.1)
    assert info.fps == pytest.approx(25, abs=0.5)
    assert info.has_video and info.has_audio and info.sample_rate_hz == 48_000
    audio = item.audio()
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size / AUDIO_RATE_HZ == pytest.approx(2.0, abs=0.1)


def test_video_is_sampled_at_the_requested_rate_with_true_timestamps(tmp_path):
    fps_src, size = 25, (64, 48)
    item = open_media(m.make_video(tmp_path / "ten.mp4", "mp4", seconds=10.0, fps=fps_src, size=size))
    frames = list(item.frames(2.0))
    assert len(frames) == 20
    assert [f.index for f in frames] == list(range(20))
    for k, f in enumerate(frames):
        assert f.pts_s == pytest.approx(0.5 * k, abs=1.0 / fps_src + 1e-6)
        assert f.rgb.shape == (48, 64, 3) and not f.rgb.flags.writeable
        # The decoded picture is the source frame its timestamp names (each frame is shifted 2 px).
        src = round(f.pts_s * fps_src)
        errors = {i: np.abs(f.rgb.astype(int) - m.video_frame(i, size)).mean() for i in range(max(0, src - 3), src + 4)}
        assert min(errors, key=errors.get) == src


def test_sampling_faster_than_the_source_gives_every_frame_once(good_media):
    frames = list(open_media(good_media["webm"]).frames(100.0))
    assert len(frames) == 50
    assert np.all(np.diff([f.pts_s for f in frames]) > 0)


def test_a_callers_frame_cap_stops_quietly(good_media):
    assert len(list(open_media(good_media["mp4"]).frames(10.0, max_frames=3))) == 3


def test_video_soundtrack_is_16khz_mono_with_the_right_pitch(tmp_path):
    # tone() sweeps 300 → 3000 Hz over the clip: 300 + 2700 * t / 3 Hz at t seconds of a 3 s clip.
    path = m.make_video(tmp_path / "talk.mkv", "mkv", seconds=3.0, fps=10, with_audio=True, audio_rate_hz=44_100)
    item = open_media(path)
    audio = item.audio()
    assert audio.ndim == 1 and audio.dtype == np.float32 and not audio.flags.writeable
    assert audio.size / AUDIO_RATE_HZ == pytest.approx(3.0, abs=0.06)
    for t_s in (0.5, 2.0):
        win = audio[int(t_s * AUDIO_RATE_HZ) - 1600 : int(t_s * AUDIO_RATE_HZ) + 1600] * np.hanning(3200)
        peak_hz = np.argmax(np.abs(np.fft.rfft(win, 32000))) * AUDIO_RATE_HZ / 32000
        assert peak_hz == pytest.approx(300 + 2700 * t_s / 3.0, rel=0.05)


def test_video_without_audio_says_so(tmp_path):
    item = open_media(m.make_video(tmp_path / "mute.mp4", "mp4", seconds=1.0))
    assert not item.info.has_audio
    from unmask.errors import DecodeError

    with pytest.raises(DecodeError, match="no audio track"):
        item.audio()


# -- audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "rate_hz", "channels"),
    [("wav", 8_000, 1), ("wav", 44_100, 2), ("flac", 22_050, 1), ("mp3", 44_100, 2), ("ogg", 16_000, 1), ("opus", 48_000, 2), ("m4a", 44_100, 1)],
)
def test_every_audio_format_round_trips_to_16khz_mono(tmp_path, fmt, rate_hz, channels):
    path = m.make_audio(tmp_path / f"x.{fmt}", fmt, seconds=1.5, sample_rate_hz=rate_hz, channels=channels)
    item = open_media(path)
    info = item.info
    assert (info.kind, info.format) == (MediaKind.AUDIO, fmt)
    assert info.sample_rate_hz == rate_hz and info.channels == channels
    assert info.duration_s == pytest.approx(1.5, abs=0.06)
    audio = item.audio()
    assert audio.dtype == np.float32 and audio.ndim == 1 and not audio.flags.writeable
    assert audio.size / AUDIO_RATE_HZ == pytest.approx(1.5, abs=0.06)
    rms = float(np.sqrt(np.mean(audio**2)))
    assert 0.25 < rms < 0.45  # a half-scale sine has RMS 0.354; silence or clipping would not


def test_zero_length_wav_is_a_decode_error(tmp_path):
    from unmask.errors import DecodeError

    with pytest.raises(DecodeError, match="no audio"):
        open_media(m.make_wav_header_only(tmp_path / "empty.wav"))


# -- limits ---------------------------------------------------------------------------------


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_file_size_limit(good_media):
    size = good_media["wav"].stat().st_size
    with pytest.raises(LimitExceededError) as exc:
        open_media(good_media["wav"], Limits(max_file_bytes=1024))
    text = _one_line(exc)
    assert f"{size / 1024:.1f} KiB" in text and "1.0 KiB file-size limit" in text


def test_pixel_limit(good_media):
    with pytest.raises(LimitExceededError) as exc:
        open_media(good_media["png"], Limits(max_image_pixels=1000))
    text = _one_line(exc)
    assert "64x48" in text and "limit" in text


def test_pixel_limit_refuses_a_bomb_without_decoding_it(tmp_path):
    path = m.make_png_bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 2000
    with pytest.raises(LimitExceededError, match=r"30000x30000 pixels \(900 MP\) is above the 100 MP limit"):
        open_media(path)
    # The same file under a limit it fits is only refused as broken, after the header check passed.
    from unmask.errors import DecodeError

    with pytest.raises(DecodeError):
        open_media(path, Limits(max_image_pixels=10**9))


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp4"])
def test_duration_limit(good_media, fmt):
    with pytest.raises(LimitExceededError) as exc:
        open_media(good_media[fmt], Limits(max_duration_s=1.0))
    text = _one_line(exc)
    assert "2.0 s" in text and "1.0 s limit" in text


def test_sampled_frame_limit(good_media):
    item = open_media(good_media["mp4"], Limits(max_frames=5))
    with pytest.raises(LimitExceededError) as exc:
        list(item.frames(10.0))
    text = _one_line(exc)
    assert "20 frames" in text and "5-frame limit" in text


def test_decoded_frame_limit(good_media):
    with pytest.raises(LimitExceededError, match="50 video frames, above the 10-frame"):
        open_media(good_media["mp4"], Limits(max_decoded_frames=10))


def test_frame_size_limit(good_media):
    with pytest.raises(LimitExceededError, match="96x64 are above"):
        open_media(good_media["mkv"], Limits(max_frame_pixels=1000))


# -- header checks must not reject good files ---------------------------------------------------


def test_streamed_wav_with_unknown_sizes_is_read_to_its_end(tmp_path):
    # Live recorders that cannot seek back write 0xFFFFFFFF as the RIFF and data sizes.
    item = open_media(m.make_wav_absurd_length(tmp_path / "live.wav", seconds=1.0, declared_bytes=0xFFFFFFFF))
    assert item.audio().size / AUDIO_RATE_HZ == pytest.approx(1.0, abs=0.01)


def test_padding_after_the_last_mp4_box_is_not_truncation(tmp_path, good_media):
    path = tmp_path / "padded.mp4"
    path.write_bytes(good_media["mp4"].read_bytes() + b"\x00" * 300)
    assert open_media(path).info.duration_s == pytest.approx(2.0, abs=0.1)


def test_container_tag_that_is_not_utf8_does_not_reject_the_file(tmp_path):
    # FFmpeg tags are bytes; a camera or muxer writing Latin-1 must not make the video unreadable.
    import av

    from unmask.testing.metadata import replace_bytes

    path = tmp_path / "tagged.mp4"
    with av.open(str(path), "w") as out:
        out.metadata["comment"] = "XXXXMARKXXXX"
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    replace_bytes(path, b"XXXXMARKXXXX", b"\xff\xfe\xfa" * 4)
    assert open_media(path).info.kind is MediaKind.VIDEO


@pytest.mark.parametrize("container", ["mpeg", "ts"])
def test_broadcast_streams_are_sniffed_and_timed_from_zero(good_media, tmp_path, container):
    # .mpg/.ts files count time on a running clock that does not start at 0; sampled frame
    # times are made relative to the file's start, so timelines and A/V offsets line up.
    renamed = m.copy_with_suffix(good_media[container], tmp_path, ".bin")
    item = open_media(renamed)
    assert item.info.format == container
    times = [f.pts_s for f in item.frames(fps=5.0)]
    assert times[0] == pytest.approx(0.0, abs=0.05)
    assert times[-1] == pytest.approx(1.8, abs=0.15)
