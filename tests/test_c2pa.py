"""The C2PA detector on media signed here with a throwaway CA (unmask.testing.c2pa_signing).

Every expectation follows from how the file was made: which digitalSourceType was
signed, whether the test CA is on the trust list, and what was damaged after signing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from unmask.config import ScanOptions
from unmask.core import FindingStatus, Signal, Strength, Verdict
from unmask.detectors._registry import create
from unmask.errors import UsageError
from unmask.media import open_media
from unmask.testing import c2pa_signing as cs
from unmask.testing import media as m



@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return cs.make_test_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "jpg": m.make_image(d / "plain.jpg", "jpeg", (256, 256)),
        "png": m.make_image(d / "plain.png", "png", (256, 256)),
        "webp": m.make_image(d / "plain.webp", "webp", (256, 256)),
        "mp4": m.make_video(d / "plain.mp4", "mp4", seconds=1.0, fps=10, size=(160, 120), with_audio=True),
        "wav": m.make_audio(d / "plain.wav", "wav", seconds=1.0),
        "mp3": m.make_audio(d / "plain.mp3", "mp3", seconds=1.0, sample_rate_hz=44_100),
    }


@pytest.fixture(scope="module")
def ai_jpeg(certs, media, tmp_path_factory):
    return cs.sign_file(media["jpg"], tmp_path_factory.mktemp("signed") / "ai.jpg", certs=certs, claim_generator="TestDiffusion")


@pytest.fixture(autouse=True)
def _no_env_anchors(monkeypatch):
    monkeypatch.delenv("UNMASK_C2PA_TRUST_ANCHORS", raising=False)


def analyze(path, anchors=None):
    return create("c2pa", ScanOptions(trust_anchors=str(anchors) if anchors else None)).analyze(open_media(path))


def evidence(finding):
    return {e.label: e.value for e in finding.evidence}


def test_plain_jpeg_has_no_manifest(media):
    f = analyze(media["jpg"])
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "no-manifest"
    assert f.summary == "No C2PA Content Credentials in this file."


def test_ai_declaration_by_trusted_signer_is_decisive(ai_jpeg, certs):
    f = analyze(ai_jpeg, certs.ca_pem)
    assert (f.signal, f.strength, f.probability_fake) == (Signal.GENERATOR_DECLARED, Strength.DECISIVE, 0.99)
    assert "trusted signer" in f.summary and "AI-generated" in f.summary
    ev = evidence(f)
    assert ev["Signer (common name)"] == certs.signer_common_name
    assert ev["Signer issuer (organisation)"] == certs.signer_organization
    assert ev["Claim generator"].startswith("TestDiffusion")
    assert ev["Title"] == "ai.jpg"
    assert ev["digitalSourceType"] == [cs.TRAINED_ALGORITHMIC_MEDIA]
    assert ev["Actions"] == ["c2pa.created digitalSourceType=trainedAlgorithmicMedia"]
    assert ev["Validation state"] == "Trusted" and ev["Validation failures"] == []
    assert ev["Ingredients"] == 0


def test_ai_declaration_without_trust_list_is_strong_and_says_untrusted(ai_jpeg):
    f = analyze(ai_jpeg)
    assert (f.signal, f.strength, f.probability_fake) == (Signal.GENERATOR_DECLARED, Strength.STRONG, 0.95)
    assert "not on a trust list (none configured)" in f.summary
    assert evidence(f)["Validation failures"] == ["signingCredential.untrusted"]


def test_another_ca_on_the_trust_list_does_not_vouch(ai_jpeg, tmp_path):
    other = cs.make_test_certs(tmp_path / "other", organization="someone else")
    f = analyze(ai_jpeg, other.ca_pem)
    assert f.strength is Strength.STRONG and "not on the configured trust list" in f.summary


def test_env_var_supplies_trust_anchors(ai_jpeg, certs, monkeypatch):
    monkeypatch.setenv("UNMASK_C2PA_TRUST_ANCHORS", str(certs.ca_pem))
    assert analyze(ai_jpeg).strength is Strength.DECISIVE


def test_explicit_anchors_win_over_env_var(ai_jpeg, certs, monkeypatch, tmp_path):
    monkeypatch.setenv("UNMASK_C2PA_TRUST_ANCHORS", str(certs.ca_pem))
    other = cs.make_test_certs(tmp_path / "other", organization="someone else")
    assert analyze(ai_jpeg, other.ca_pem).strength is Strength.STRONG


def test_pixels_changed_after_signing_is_tampered(ai_jpeg, certs, tmp_path):
    bad = cs.tamper_jpeg_pixels(ai_jpeg, tmp_path / "tampered.jpg")
    f = analyze(bad, certs.ca_pem)
    assert (f.signal, f.strength, f.probability_fake) == (Signal.TAMPERED, Strength.STRONG, 0.9)
    assert "edited after signing" in f.summary and "assertion.dataHash.mismatch" in f.summary
    assert "AI-generated" in f.summary  # what it had declared is still listed
    assert "assertion.dataHash.mismatch" in evidence(f)["Validation failures"]


def test_trusted_capture_is_verified(certs, media, tmp_path):
    cap = cs.sign_file(media["jpg"], tmp_path / "cap.jpg", certs=certs, digital_source_type=cs.DIGITAL_CAPTURE)
    f = analyze(cap, certs.ca_pem)
    assert (f.signal, f.strength, f.probability_fake) == (Signal.CAPTURE_VERIFIED, Strength.DECISIVE, 0.03)
    g = analyze(cap)
    assert (g.signal, g.strength, g.probability_fake) == (Signal.CAPTURE_VERIFIED, Strength.WEAK, 0.4)
    assert "not on a trust list" in g.summary


def test_tampered_capture_is_not_verified(certs, media, tmp_path):
    cap = cs.sign_file(media["jpg"], tmp_path / "cap.jpg", certs=certs, digital_source_type=cs.DIGITAL_CAPTURE)
    f = analyze(cs.tamper_jpeg_pixels(cap, tmp_path / "cap-edited.jpg"), certs.ca_pem)
    assert f.signal is Signal.TAMPERED and "camera capture" in f.summary


def test_edits_only_manifest_is_edited(certs, media, tmp_path):
    actions = [{"action": "c2pa.created", "digitalSourceType": cs.IPTC + "digitalCreation"}, {"action": "c2pa.color_adjustments"}]
    f = analyze(cs.sign_file(media["jpg"], tmp_path / "edited.jpg", certs=certs, actions=actions), certs.ca_pem)
    assert (f.signal, f.probability_fake, f.strength) == (Signal.EDITED, 0.5, None)
    assert "c2pa.color_adjustments" in f.summary


def test_composite_with_ai_counts_as_declared(certs, media, tmp_path):
    dst = cs.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    f = analyze(cs.sign_file(media["jpg"], tmp_path / "fill.jpg", certs=certs, digital_source_type=dst), certs.ca_pem)
    assert f.signal is Signal.GENERATOR_DECLARED and "partly AI-generated" in f.summary


def test_malformed_manifest_is_neutral(certs, media, tmp_path):
    # C2PA 2 requires a digitalSourceType on c2pa.created; without it the manifest does not validate.
    f = analyze(cs.sign_file(media["jpg"], tmp_path / "nodst.jpg", certs=certs, digital_source_type=None), certs.ca_pem)
    assert (f.signal, f.probability_fake) == (Signal.NEUTRAL, 0.5)
    assert "assertion.action.malformed" in f.summary


@pytest.mark.parametrize("fmt", ["png", "webp", "mp4", "wav", "mp3"])
def test_other_formats_are_signed_and_read_back(fmt, certs, media, tmp_path):
    signed = cs.sign_file(media[fmt], tmp_path / f"ai.{fmt}", certs=certs)
    item = open_media(signed)
    f = create("c2pa", ScanOptions(trust_anchors=str(certs.ca_pem))).analyze(item)
    assert (f.signal, f.strength) == (Signal.GENERATOR_DECLARED, Strength.DECISIVE), f.summary
    assert item.kind.value in f.summary
    assert analyze(media[fmt]).abstain_reason == "no-manifest"


def test_unparseable_manifest_store_is_reported_not_raised(ai_jpeg, certs, tmp_path):
    bad = cs.corrupt_manifest(ai_jpeg, tmp_path / "corrupt.jpg", where="header")
    f = analyze(bad, certs.ca_pem)
    assert f.status is FindingStatus.SCORED and (f.signal, f.strength, f.probability_fake) == (Signal.NEUTRAL, None, 0.5)
    assert f.summary.startswith("C2PA data present but unreadable: ")


def test_rewritten_declaration_is_tampered_moderate(ai_jpeg, certs, tmp_path):
    bad = cs.corrupt_manifest(ai_jpeg, tmp_path / "rewritten.jpg", where="assertion")
    f = analyze(bad, certs.ca_pem)
    assert (f.signal, f.strength, f.probability_fake) == (Signal.TAMPERED, Strength.MODERATE, 0.85)
    assert "assertion.hashedURI.mismatch" in f.summary and "cannot be relied on" in f.summary


def test_format_without_c2pa_support_is_not_applicable(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / "x.bmp")
    f = analyze(tmp_path / "x.bmp")
    assert f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason == "unsupported-format"


def test_unusable_trust_anchors_are_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        create("c2pa", ScanOptions(trust_anchors=str(tmp_path / "missing.pem")))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(UsageError, match="no PEM certificate"):
        create("c2pa", ScanOptions(trust_anchors=str(tmp_path / "junk.pem")))
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAAbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(UsageError, match="broken"):
        create("c2pa", ScanOptions(trust_anchors=str(tmp_path / "broken.pem")))


def test_scan_flags_trusted_ai_and_clears_trusted_capture(ai_jpeg, certs, media, tmp_path):
    import unmask

    options = ScanOptions(detectors=("c2pa",), trust_anchors=str(certs.ca_pem))
    report = unmask.scan(ai_jpeg, options=options)
    assert report.verdict is Verdict.LIKELY_MANIPULATED and report.probability == 0.99
    cap = cs.sign_file(media["jpg"], tmp_path / "cap.jpg", certs=certs, digital_source_type=cs.DIGITAL_CAPTURE)
    assert unmask.scan(cap, options=options).verdict is Verdict.LIKELY_AUTHENTIC
    assert unmask.scan(media["jpg"], options=options).verdict is Verdict.UNCERTAIN


def test_importing_the_detector_does_not_import_c2pa():
    code = "import sys, unmask.detectors.c2pa_manifest; print('c2pa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_edit_of_an_ai_image_carries_the_ingredient_declaration(ai_jpeg, certs, media, tmp_path):
    other = m.make_image(tmp_path / "retouched.jpg", "jpeg", (256, 256), seed=7)
    edited = cs.sign_file(other, tmp_path / "edited-ai.jpg", certs=certs, parent=ai_jpeg)
    f = analyze(edited, certs.ca_pem)
    assert (f.signal, f.strength) == (Signal.GENERATOR_DECLARED, Strength.DECISIVE)
    assert "edited from AI-generated material" in f.summary
    ev = evidence(f)
    assert ev["Ingredients"] == 1 and ev["digitalSourceType"] == []
    assert ev["digitalSourceType in ingredients"] == [cs.TRAINED_ALGORITHMIC_MEDIA]


def test_edit_of_a_capture_is_edited_not_verified(certs, media, tmp_path):
    cap = cs.sign_file(media["jpg"], tmp_path / "cap.jpg", certs=certs, digital_source_type=cs.DIGITAL_CAPTURE)
    edited = cs.sign_file(m.make_image(tmp_path / "b.jpg", "jpeg", (256, 256), seed=5), tmp_path / "cap-edit.jpg", certs=certs, parent=cap)
    f = analyze(edited, certs.ca_pem)
    assert f.signal is Signal.EDITED and "camera capture (digitalCapture)" in f.summary
