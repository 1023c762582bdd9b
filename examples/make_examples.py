"""Generate the example media the README's Quick start scans (nothing is downloaded).

    python examples/make_examples.py examples/media

Each file's ground truth follows from how it is made; EXPECTED lists what
`unmask scan` should say about it (the test suite checks this list).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# file name → (expected verdict, why)
EXPECTED: dict[str, tuple[str, str]] = {
    "ai_generated_c2pa.jpg": ("likely_manipulated", "C2PA manifest declares trainedAlgorithmicMedia (signer not on a trust list)"),
    "edited_after_signing.jpg": ("likely_manipulated", "C2PA manifest whose hashes no longer match: pixels changed after signing"),
    "sdxl_watermarked.png": ("likely_manipulated", "carries the SDXL invisible watermark"),
    "a1111_parameters.png": ("likely_manipulated", "PNG text chunk with AUTOMATIC1111 generation parameters"),
    "camera_photo.jpg": ("uncertain", "camera EXIF only: no provenance either way and no trained detector flags it"),
    "talking_clip.mp4": ("uncertain", "H.264 video with an AAC track and no provenance"),
    "speech.flac": ("uncertain", "a voice recording with no provenance"),
}


def make_speech(path: Path) -> None:
    """Speech from espeak-ng when installed; otherwise a vowel-like synthetic voice."""
    import soundfile as sf

    rate = 16_000
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run(
                ["espeak-ng", "-w", str(wav), "Please transfer two million dollars to the new account before noon."],
                check=True,
                capture_output=True,
            )
            import av

            with av.open(str(wav)) as c:
                r = av.AudioResampler(format="flt", layout="mono", rate=rate)
                chunks = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in r.resample(f)]
            sf.write(path, np.concatenate(chunks), rate, format="FLAC")
            return
    t = np.arange(int(3.0 * rate)) / rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)  # a gliding pitch with vowel-like formants
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k * (1.0 + np.cos(2 * np.pi * (k * f0) / 800)) for k in range(1, 30))
    envelope = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)
    sf.write(path, (0.2 * voice * envelope / np.abs(voice).max()).astype(np.float32), rate, format="FLAC")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args(argv)

    from unmask.testing.c2pa_signing import make_test_certs, sign_file, tamper_jpeg_pixels
    from unmask.testing.media import make_video
    from unmask.testing.metadata import make_a1111_png, make_camera_jpeg
    from unmask.testing.watermark import embed_sd_watermark, natural_image

    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        certs = make_test_certs(tmp / "certs", common_name="Example Generator Inc. signing key", organization="Example Generator Inc.")
        picture = tmp / "picture.jpg"
        Image.fromarray(natural_image(512, 640, seed=3)).save(picture, quality=92)
        sign_file(picture, out / "ai_generated_c2pa.jpg", certs=certs, claim_generator="ExampleGen/2.1", title="ai_generated_c2pa.jpg")
        signed_capture = tmp / "capture_signed.jpg"
        sign_file(
            picture,
            signed_capture,
            certs=certs,
            digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
            claim_generator="ExampleCam/1.0",
        )
        tamper_jpeg_pixels(signed_capture, out / "edited_after_signing.jpg")

    Image.fromarray(embed_sd_watermark(natural_image(768, 768, seed=5), which="sdxl", channel_order="rgb")).save(out / "sdxl_watermarked.png")
    make_a1111_png(out / "a1111_parameters.png", width_px=512, height_px=512)
    make_camera_jpeg(out / "camera_photo.jpg", width_px=640, height_px=480)
    make_video(out / "talking_clip.mp4", container="mp4", seconds=3.0, fps=25, size=(640, 360), with_audio=True)
    make_speech(out / "speech.flac")
    for name, (verdict, why) in EXPECTED.items():
        print(f"{out / name}: expect {verdict} — {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
