"""The written-down fusion rules, one test per rule."""

import pytest

from unmask.core import Finding, FindingStatus, Signal, Strength, Verdict
from unmask.fusion import FusionPolicy, fuse


def f(name, p=None, signal=Signal.NEUTRAL, strength=None, status=FindingStatus.SCORED, summary=None, reason=None):
    if status is not FindingStatus.SCORED:
        p = None
    return Finding(
        detector=name,
        version="1",
        status=status,
        summary=summary or f"{name} says {signal.value}",
        probability_fake=p,
        signal=signal,
        strength=strength,
        abstain_reason=reason,
    )


def test_no_evidence_is_uncertain_without_probability():
    out = fuse([f("c2pa", status=FindingStatus.NOT_APPLICABLE, reason="no-manifest"), f("metadata", status=FindingStatus.NOT_APPLICABLE, reason="no-metadata")])
    assert out.verdict is Verdict.UNCERTAIN and out.probability is None
    assert any("No detector found evidence" in r for r in out.reasons)


def test_neutral_and_edited_findings_never_move_the_verdict():
    out = fuse([f("metadata", 0.5, Signal.EDITED, summary="Edited with GIMP"), f("exif", 0.5, Signal.NEUTRAL)])
    assert out.verdict is Verdict.UNCERTAIN and out.probability is None
    assert "Edited with GIMP" in out.reasons


@pytest.mark.parametrize("strength,p", [(Strength.DECISIVE, 0.99), (Strength.STRONG, 0.95), (Strength.MODERATE, 0.85)])
def test_declared_generation_flags_the_file(strength, p):
    out = fuse([f("c2pa", p, Signal.GENERATOR_DECLARED, strength, summary="declares AI")])
    assert out.verdict is Verdict.LIKELY_MANIPULATED and out.probability == p
    assert out.reasons[0] == "declares AI"


def test_weak_declaration_does_not_flag():
    out = fuse([f("x", 0.7, Signal.GENERATOR_DECLARED, Strength.WEAK, summary="maybe")])
    assert out.verdict is Verdict.UNCERTAIN and out.probability is None and "maybe" in out.reasons


def test_tampered_manifest_flags_the_file():
    out = fuse([f("c2pa", 0.9, Signal.TAMPERED, Strength.STRONG, summary="edited after signing")])
    assert out.verdict is Verdict.LIKELY_MANIPULATED and out.reasons[0] == "edited after signing"


def test_strongest_declaration_leads_and_ml_can_raise_probability():
    out = fuse(
        [
            f("metadata", 0.85, Signal.GENERATOR_DECLARED, Strength.MODERATE, summary="meta"),
            f("c2pa", 0.95, Signal.GENERATOR_DECLARED, Strength.STRONG, summary="c2pa"),
            f("face", 0.97, Signal.ML, summary="face"),
        ]
    )
    assert out.reasons[0] == "c2pa" and out.probability == 0.97


def test_trusted_capture_outweighs_ml_but_says_so():
    out = fuse([f("c2pa", 0.03, Signal.CAPTURE_VERIFIED, Strength.DECISIVE, summary="signed at capture"), f("face", 0.9, Signal.ML, summary="blend")])
    assert out.verdict is Verdict.LIKELY_AUTHENTIC and out.probability == 0.03
    assert out.reasons[0] == "signed at capture" and "outweighed" in out.reasons[1]


def test_untrusted_capture_is_only_a_note():
    out = fuse([f("c2pa", 0.4, Signal.CAPTURE_VERIFIED, Strength.WEAK, summary="untrusted capture"), f("face", 0.2, Signal.ML)])
    assert out.verdict is Verdict.LIKELY_AUTHENTIC and out.probability == 0.2 and "untrusted capture" in out.reasons


@pytest.mark.parametrize("scores,verdict", [((0.1, 0.2), Verdict.LIKELY_AUTHENTIC), ((0.1, 0.5), Verdict.UNCERTAIN), ((0.1, 0.8), Verdict.LIKELY_MANIPULATED)])
def test_ml_scores_combine_by_maximum_into_bands(scores, verdict):
    out = fuse([f(f"d{i}", p, Signal.ML) for i, p in enumerate(scores)])
    assert out.verdict is verdict and out.probability == max(scores)


def test_band_edges_and_policy_validation():
    policy = FusionPolicy(flag_at=0.6, clear_at=0.4)
    assert policy.band(0.6) is Verdict.LIKELY_MANIPULATED and policy.band(0.4) is Verdict.LIKELY_AUTHENTIC and policy.band(0.5) is Verdict.UNCERTAIN
    with pytest.raises(ValueError):
        FusionPolicy(flag_at=0.3, clear_at=0.4)


def test_detector_failures_are_listed_as_reasons():
    out = fuse([f("face", status=FindingStatus.ERROR, summary="face could not analyse this file: boom")])
    assert "face could not analyse this file: boom" in out.reasons


def test_finding_invariants():
    with pytest.raises(ValueError):
        Finding("x", "1", FindingStatus.SCORED, "s", probability_fake=None)
    with pytest.raises(ValueError):
        Finding("x", "1", FindingStatus.SCORED, "s", probability_fake=1.5)
    with pytest.raises(ValueError):
        Finding("x", "1", FindingStatus.NOT_APPLICABLE, "s", probability_fake=0.5)
