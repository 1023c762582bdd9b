"""The metadata detector on real files whose metadata was written the way each tool writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from unmask.config import ScanOptions
from unmask.core import FindingStatus, Signal, Strength, Verdict
from unmask.detectors._registry import create
from unmask.detectors.metadata import MAX_TEXT_VALUE_BYTES, decode_user_comment, parse_a1111_parameters, png_text_chunks
from unmask.media import open_media
from unmask.testing import metadata as make

ONLY_METADATA = ScanOptions(detectors=("metadata",))


@pytest.fixture(scope="module")
def detector():
    return create("metadata", ScanOptions())


def analyze(detector, path):
    return detector.analyze(open_media(path))


def ev(finding, label):
    """The value of the first evidence item with this label (KeyError when absent)."""
    for e in finding.evidence:
        if e.label == label:
            return e.value
    raise KeyError(f"{label!r} not in {[e.label for e in finding.evidence]}")


def assert_declared(finding, strength=Strength.MODERATE, p=0.85):
    assert finding.status is FindingStatus.SCORED, finding.summary
    assert finding.signal is Signal.GENERATOR_DECLARED, finding.summary
    assert finding.strength is strength
    assert finding.probability_fake == pytest.approx(p)
    assert "easy to add or strip" in finding.summary


# -- generators -----------------------------------------------------------------------------


def test_a1111_png_parameters_are_parsed(detector, tmp_path):
    f = analyze(detector, make.make_a1111_png(tmp_path / "sd.png"))
    assert_declared(f)
    assert "AUTOMATIC1111" in f.summary and "PNG" in f.summary
    assert ev(f, "Prompt") == make.A1111_PROMPT
    assert ev(f, "Negative prompt") == make.A1111_NEGATIVE
    assert ev(f, "Steps") == "28"
    assert ev(f, "Sampler") == "DPM++ 2M Karras"
    assert ev(f, "Seed") == "1234567890"
    assert ev(f, "Model") == "v1-5-pruned-emaonly"


def test_forge_version_names_forge(detector, tmp_path):
    params = make.A1111_PARAMETERS.replace("Version: v1.9.4", "Version: f2.0.1v1.10.1-previous-313-g8a042934")
    f = analyze(detector, make.make_a1111_png(tmp_path / "forge.png", parameters=params))
    assert_declared(f)
    assert "Forge" in f.summary


def test_comfyui_png_prompt_and_workflow(detector, tmp_path):
    f = analyze(detector, make.make_comfyui_png(tmp_path / "comfy.png"))
    assert_declared(f)
    assert "ComfyUI" in f.summary
    assert ev(f, "Model") == "sd_xl_base_1.0.safetensors"
    assert ev(f, "Seed") == 156680208700286
    assert ev(f, "Prompt").startswith("beautiful scenery")  # traced from KSampler.positive to its CLIPTextEncode
    assert ev(f, "Negative prompt") == "text, watermark"
    assert ev(f, "Workflow nodes") == len(make.COMFYUI_PROMPT)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("WEBP", "webp")])
def test_a1111_exif_usercomment_utf16(detector, tmp_path, fmt, suffix):
    f = analyze(detector, make.make_a1111_jpeg(tmp_path / f"sd.{suffix}", fmt=fmt))
    assert_declared(f)
    assert "EXIF UserComment" in f.summary
    assert ev(f, "Prompt") == make.A1111_PROMPT
    assert ev(f, "Seed") == "1234567890"


def test_usercomment_byte_order_is_detected():
    text = "Steps: 20, Sampler: Euler a, Seed: 1"
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"ASCII\x00\x00\x00" + text.encode()) == text


def test_novelai_png(detector, tmp_path):
    comment = {"prompt": "1girl, masterpiece", "steps": 28, "sampler": "k_euler_ancestral", "seed": 42, "scale": 5, "uc": "lowres"}
    path = make.make_png_with_text(
        tmp_path / "nai.png",
        {"Title": "NovelAI generated image", "Description": "1girl, masterpiece", "Software": "NovelAI", "Source": "NovelAI Diffusion V4 4BDE2A90", "Comment": json.dumps(comment)},
    )
    f = analyze(detector, path)
    assert_declared(f)
    assert "NovelAI" in f.summary
    assert ev(f, "Seed") == 42
    assert ev(f, "Negative prompt") == "lowres"


def test_invokeai_and_fooocus_keys(detector, tmp_path):
    invoke = {"positive_prompt": "a castle", "negative_prompt": "", "seed": 7, "steps": 30, "scheduler": "euler", "model": {"name": "sdxl"}}
    f = analyze(detector, make.make_png_with_text(tmp_path / "inv.png", {"invokeai_metadata": json.dumps(invoke)}))
    assert_declared(f)
    assert "InvokeAI" in f.summary and ev(f, "Model") == "sdxl"
    fooocus = {"prompt": "a cat", "negative_prompt": "", "base_model": "juggernautXL_v8Rundiffusion", "seed": 5, "steps": 30, "sampler": "dpmpp_2m_sde_gpu"}
    path = make.make_png_with_text(tmp_path / "foo.png", {"parameters": json.dumps(fooocus), "fooocus_scheme": "fooocus"}, compress=True)
    f = analyze(detector, path)  # zTXt chunks this time
    assert_declared(f)
    assert "Fooocus" in f.summary and ev(f, "Model") == "juggernautXL_v8Rundiffusion"


def test_midjourney_description(detector, tmp_path):
    path = make.make_png_with_text(
        tmp_path / "mj.png", {"Description": "a red fox in snow --ar 3:2 --v 6.1 Job ID: 3f6c1a3e-2b1d-4f5e-9c8a-1d2e3f4a5b6c", "Author": "someone"}
    )
    f = analyze(detector, path)
    assert_declared(f)
    assert "Midjourney" in f.summary
    assert ev(f, "Prompt").startswith("a red fox in snow")


@pytest.mark.parametrize(
    "source_type,signal",
    [
        ("trainedAlgorithmicMedia", Signal.GENERATOR_DECLARED),
        ("compositeWithTrainedAlgorithmicMedia", Signal.GENERATOR_DECLARED),
        ("algorithmicMedia", Signal.GENERATOR_DECLARED),
        ("humanEdits", Signal.EDITED),
        ("digitalCapture", Signal.NEUTRAL),
    ],
)
def test_xmp_digital_source_type(detector, tmp_path, source_type, signal):
    f = analyze(detector, make.make_xmp_jpeg(tmp_path / "x.jpg", source_type=source_type))
    assert f.status is FindingStatus.SCORED
    assert f.signal is signal, f.summary
    assert ev(f, "IPTC DigitalSourceType").endswith(source_type)
    if signal is Signal.GENERATOR_DECLARED:
        assert_declared(f)
        assert source_type in f.summary
    else:
        assert f.probability_fake == 0.5


def test_xmp_element_form_and_credit(detector, tmp_path):
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">'
        "<photoshop:Credit>Made with Google AI</photoshop:Credit>"
        '<Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    f = analyze(detector, make.make_xmp_jpeg(tmp_path / "g.jpg", packet=packet))
    assert_declared(f)
    assert ev(f, "IPTC DigitalSourceType").endswith("trainedAlgorithmicMedia")
    assert ev(f, "Generator named in metadata") == "Made with Google AI"


@pytest.mark.parametrize("label,strength,p", [("1", Strength.MODERATE, 0.85), ("3", Strength.WEAK, 0.7)])
def test_china_aigc_label(detector, tmp_path, label, strength, p):
    aigc = json.dumps({"Label": label, "ContentProducer": "001191110108MA01KP2T5U00000", "ProduceID": "a1b2", "ReservedCode1": ""})
    f = analyze(detector, make.make_xmp_jpeg(tmp_path / "cn.jpg", packet=make.xmp_packet({"TC260:AIGC": aigc})))
    assert f.signal is Signal.GENERATOR_DECLARED
    assert f.strength is strength and f.probability_fake == pytest.approx(p)
    assert ev(f, "AIGC content producer") == "001191110108MA01KP2T5U00000"


def test_generator_named_in_mp4_tags(detector, tmp_path):
    f = analyze(detector, make.make_tagged_mp4(tmp_path / "gen.mp4"))
    assert_declared(f)
    assert "Runway" in f.summary and "video" in f.summary
    assert "Runway" in ev(f, "Generator named in metadata")
    assert ev(f, "Written by").startswith("Lavf")  # the FFmpeg muxer's own tag is listed too


# -- editing, camera, nothing ---------------------------------------------------------------


def test_photoshop_is_edited_not_fake(detector, tmp_path):
    f = analyze(detector, make.make_edited_jpeg(tmp_path / "ps.jpg"))
    assert f.status is FindingStatus.SCORED and f.signal is Signal.EDITED
    assert f.probability_fake == 0.5 and f.strength is None
    assert f.summary.startswith("Edited with Adobe Photoshop 25.1")
    assert ev(f, "Editing software") == "Adobe Photoshop 25.1 (Windows)"


def test_ffmpeg_only_video_is_reencoded(detector, tmp_path):
    f = analyze(detector, make.make_tagged_mp4(tmp_path / "plain.mp4", tags={}))
    assert f.signal is Signal.EDITED, f.summary
    assert f.summary.startswith("Re-encoded or remuxed with FFmpeg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_camera_exif_is_a_neutral_fact(detector, tmp_path, fmt):
    f = analyze(detector, make.make_camera_jpeg(tmp_path / f"cam.{fmt.lower()}", fmt=fmt))
    assert f.status is FindingStatus.SCORED and f.signal is Signal.NEUTRAL
    assert f.probability_fake == 0.5
    assert "Canon EOS R5" in f.summary and "not as evidence" in f.summary
    assert ev(f, "Camera model") == "Canon EOS R5"
    assert ev(f, "Taken") == "2023:05:01 10:00:00"
    assert ev(f, "Exposure time") == "1/250 s"
    assert ev(f, "F-number") == "f/2.8"


def test_camera_exif_does_not_move_the_verdict(tmp_path):
    import unmask

    report = unmask.scan(make.make_camera_jpeg(tmp_path / "cam.jpg"), options=ONLY_METADATA)
    assert report.verdict is Verdict.UNCERTAIN
    assert report.probability is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_plain_image_is_not_applicable(detector, tmp_path, fmt):
    f = analyze(detector, make.make_plain_image(tmp_path / f"plain.{fmt.lower()}", fmt))
    assert f.status is FindingStatus.NOT_APPLICABLE
    assert f.abstain_reason == "no-metadata"
    assert "not evidence either way" in f.summary


@pytest.mark.parametrize(
    "caption,declared",
    [
        ("Models on the runway at Paris fashion week, shot for Gemini magazine", False),  # tool-only names
        ("Midjourney founder David Holz speaks at a conference in San Francisco, 2023", False),  # news, not a declaration
        ("Midjourney v6", True),  # a value that is little more than the name
        ("A castle at dusk. Image generated with Midjourney v6 and upscaled", True),
        ("Imagined with AI", True),
    ],
)
def test_generator_names_in_captions(detector, tmp_path, caption, declared):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = caption
    path = tmp_path / "caption.jpg"
    Image.fromarray(make.pattern_rgb()).save(path, "JPEG", exif=exif)
    f = analyze(detector, path)
    assert (f.signal is Signal.GENERATOR_DECLARED) is declared, f.summary


def test_scan_flags_declared_generator(tmp_path):
    import unmask

    report = unmask.scan(make.make_a1111_png(tmp_path / "sd.png"), options=ONLY_METADATA)
    assert report.verdict is Verdict.LIKELY_MANIPULATED
    assert report.probability == pytest.approx(0.85)
    assert any("AUTOMATIC1111" in r for r in report.reasons)


# -- hostile and broken metadata ------------------------------------------------------------


def test_malformed_xmp_is_pattern_scanned(detector, tmp_path):
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia">'
        b"<dc:title><unclosed></rdf:RDF>\xff\xfe garbage"
    )
    f = analyze(detector, make.make_xmp_jpeg(tmp_path / "bad.jpg", packet=packet))
    assert_declared(f)
    assert "malformed" in ev(f, "Unreadable metadata")


def test_xmp_entity_bomb_is_refused(detector, tmp_path):
    lol = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    packet = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">{lol}]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="&l9;"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    t0 = time.perf_counter()
    f = analyze(detector, make.make_xmp_jpeg(tmp_path / "bomb.jpg", packet=packet))
    assert time.perf_counter() - t0 < 5.0
    assert "DTD" in ev(f, "Unreadable metadata")
    assert all(len(str(e.value)) <= 300 for e in f.evidence)


def test_giant_text_chunk(detector, tmp_path):
    prompt = "a very long prompt " * 300_000  # 5.7 MB, above the per-value cap
    params = f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 99"
    path = make.make_png_with_text(tmp_path / "huge.png", {"Comment": "x" * 6_000_000, "parameters": params})
    f = analyze(detector, path)
    assert f.signal is Signal.GENERATOR_DECLARED  # a multi-MB 'parameters' chunk is only written by SD web UIs
    assert all(len(str(e.value)) <= 300 for e in f.evidence)


def test_ztxt_zip_bomb_is_capped(tmp_path):
    # Pillow already refuses such a PNG when it decodes the image (open_media raises DecodeError),
    # so the chunk reader is tested directly: it must inflate no more than its cap.
    path = make.make_plain_image(tmp_path / "bomb.png")
    data = path.read_bytes()
    body = b"Comment\x00\x00" + zlib.compress(b"\x00" * 200_000_000, 9)  # 200 MB of zeros in ~200 KB
    chunk = len(body).to_bytes(4, "big") + b"zTXt" + body + zlib.crc32(b"zTXt" + body).to_bytes(4, "big")
    iend = data.rindex(b"IEND") - 4
    chunks, note = png_text_chunks(data[:iend] + chunk + data[iend:])
    assert note is None
    [(key, text, truncated)] = chunks
    assert key == "Comment" and truncated
    assert len(text) == MAX_TEXT_VALUE_BYTES


def test_truncated_png_chunk_list_is_reported():
    chunks, note = png_text_chunks(b"\x89PNG\r\n\x1a\n" + (10_000).to_bytes(4, "big") + b"tEXt" + b"parameters\x00abc")
    assert chunks == [] and "past the end" in note


def test_binary_garbage_in_tags(detector, tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0131] = b"\xff\xfe\x00Photo\x80\x81shop\x00\x00"
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + os.urandom(301)
    path = tmp_path / "junk.jpg"
    Image.fromarray(make.pattern_rgb()).save(path, "JPEG", exif=exif, comment=os.urandom(200))
    f = analyze(detector, path)
    assert f.status is FindingStatus.SCORED and f.signal is Signal.NEUTRAL  # an unknown 'software' is a fact
    assert all("\x00" not in str(e.value) for e in f.evidence)

    png = make.make_png_with_text(tmp_path / "junk.png", {"parameters": os.urandom(4000).decode("latin-1"), "prompt": "{not json"})
    f = analyze(detector, png)
    assert f.status is FindingStatus.NOT_APPLICABLE


def test_binary_garbage_in_mp4_tag(detector, tmp_path):
    marker = "M" * 48
    path = make.make_tagged_mp4(tmp_path / "junk.mp4", tags={"comment": marker})
    # Probe the clean file, then plant invalid UTF-8 and NULs in the tag: open_media currently
    # rejects such files outright (PyAV decodes tags strictly there), the detector must not.
    item = open_media(path)
    make.replace_bytes(path, marker.encode(), b"\xff\xfe\xc3\x28\x00\x80" * 8)
    f = detector.analyze(item)
    assert f.status is FindingStatus.SCORED
    assert f.signal is Signal.EDITED  # only the FFmpeg muxer tag is meaningful


# -- parsing units and start-up cost --------------------------------------------------------


def test_parse_a1111_parameters_variants():
    p = parse_a1111_parameters('a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Lora hashes: "x: 1, y: 2", Model: m')
    assert p is not None
    assert p["prompt"] == "a cat" and p["negative_prompt"] == "" and p["Model"] == "m"
    assert p["Lora hashes"] == "x: 1, y: 2"
    assert parse_a1111_parameters("a holiday photo, Steps: many") is None
    assert parse_a1111_parameters("just a caption") is None


def test_importing_the_detector_stays_light():
    code = "import sys, unmask.detectors.metadata; print(sorted(m for m in ('PIL', 'av') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"
