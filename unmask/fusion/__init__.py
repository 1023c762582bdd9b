"""Findings → one verdict with a probability and plain-language reasons.

The rules, in the order they apply (README "How the verdict is reached" repeats them):

1. **Declared generation or tampering decides.** A finding with signal
   GENERATOR_DECLARED (C2PA ``digitalSourceType`` = AI, a decoded generator
   watermark, generator metadata) or TAMPERED (a signed manifest whose hashes no
   longer match) of strength MODERATE or more flags the file: the probability is
   the highest such finding's (DECISIVE 0.99 > STRONG 0.95 > MODERATE 0.85), or the
   highest ML score if that is higher.
2. **A trusted capture signature vouches for the signed content.** Otherwise, a
   CAPTURE_VERIFIED finding of strength DECISIVE (trusted signer, hashes intact)
   makes the file likely authentic, whatever the ML detectors say: their scores are
   still listed as reasons when they disagree.
3. **ML scores combine by their maximum.** Calibrated detector probabilities are
   per modality (face, voice, whole image, lip sync); one manipulated modality is
   enough to make a file manipulated, so the file's probability is the largest.
4. **Bands.** probability ≥ ``flag_at`` (0.65) → likely manipulated;
   ≤ ``clear_at`` (0.35) → likely authentic; in between → uncertain.
5. **No evidence → uncertain, probability None.** Missing provenance or camera
   EXIF is not evidence either way; a file no detector could score is
   "uncertain", not "authentic".

EDITED and NEUTRAL findings never move the probability; EDITED ones are listed
as reasons so a reader knows the file was processed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from unmask.core import Finding, FindingStatus, Signal, Strength, Verdict

_RANK = {Strength.DECISIVE: 3, Strength.STRONG: 2, Strength.MODERATE: 1, Strength.WEAK: 0}


@dataclass(frozen=True, slots=True)
class FusionPolicy:
    """Where the verdict bands start; probabilities are P(manipulated or synthetic)."""

    flag_at: float = 0.65
    clear_at: float = 0.35

    def __post_init__(self) -> None:
        if not 0.0 <= self.clear_at < self.flag_at <= 1.0:
            raise ValueError(f"FusionPolicy needs 0 <= clear_at < flag_at <= 1, got {self.clear_at}, {self.flag_at}")

    def band(self, probability: float) -> Verdict:
        if probability >= self.flag_at:
            return Verdict.LIKELY_MANIPULATED
        if probability <= self.clear_at:
            return Verdict.LIKELY_AUTHENTIC
        return Verdict.UNCERTAIN


@dataclass(frozen=True, slots=True)
class Fused:
    verdict: Verdict
    probability: float | None
    reasons: tuple[str, ...]


def _strength(f: Finding) -> int:
    return _RANK.get(f.strength, 0) if f.strength else 0


def _ml_reason(f: Finding) -> str:
    return f"{f.summary} ({f.detector}: {f.probability_fake:.2f})"


def fuse(findings: Sequence[Finding], policy: FusionPolicy = FusionPolicy()) -> Fused:
    fused = _fuse(findings, policy)
    failures = tuple(f.summary for f in findings if f.status is FindingStatus.ERROR)
    return Fused(fused.verdict, fused.probability, fused.reasons + failures) if failures else fused


def _fuse(findings: Sequence[Finding], policy: FusionPolicy) -> Fused:
    scored = [f for f in findings if f.status is FindingStatus.SCORED]
    declared = [
        f for f in scored if f.signal in (Signal.GENERATOR_DECLARED, Signal.TAMPERED) and _strength(f) >= _RANK[Strength.MODERATE]
    ]
    capture = [f for f in scored if f.signal is Signal.CAPTURE_VERIFIED and f.strength is Strength.DECISIVE]
    ml = sorted((f for f in scored if f.signal is Signal.ML), key=lambda f: f.probability_fake or 0.0, reverse=True)
    edited = [f.summary for f in scored if f.signal is Signal.EDITED]
    weak_notes = [
        f.summary
        for f in scored
        if f.signal in (Signal.GENERATOR_DECLARED, Signal.TAMPERED, Signal.CAPTURE_VERIFIED) and f not in declared and f not in capture
    ]
    ml_top = ml[0].probability_fake if ml else None

    if declared:
        declared.sort(key=lambda f: (_strength(f), f.probability_fake or 0.0), reverse=True)
        p = max(declared[0].probability_fake or 0.0, ml_top or 0.0)
        reasons = [f.summary for f in declared] + [_ml_reason(f) for f in ml if f.probability_fake >= policy.flag_at] + edited
        return Fused(Verdict.LIKELY_MANIPULATED if p >= policy.flag_at else policy.band(p), round(p, 6), tuple(reasons))

    if capture:
        best = min(capture, key=lambda f: f.probability_fake or 0.0)
        p = best.probability_fake or 0.0
        reasons = [best.summary]
        disagree = [f for f in ml if (f.probability_fake or 0.0) >= policy.flag_at]
        if disagree:
            reasons.append(
                "Detector scores that point the other way are outweighed by the trusted capture signature: "
                + "; ".join(_ml_reason(f) for f in disagree)
            )
        return Fused(policy.band(p), round(p, 6), tuple(reasons + edited))

    if ml:
        p = float(ml_top)  # type: ignore[arg-type]
        verdict = policy.band(p)
        lead = [_ml_reason(ml[0])] + [_ml_reason(f) for f in ml[1:] if (f.probability_fake or 0.0) >= policy.flag_at]
        return Fused(verdict, round(p, 6), tuple(lead + weak_notes + edited))

    reasons = weak_notes + edited
    abstained = [f for f in findings if f.status is FindingStatus.NOT_APPLICABLE and f.abstain_reason not in ("no-manifest", "no-watermark", "no-metadata")]
    reasons += [f.summary for f in abstained]
    reasons.append(
        "No detector found evidence either way: no provenance record, generator watermark or generator metadata, "
        "and no trained detector scored this file."
    )
    return Fused(Verdict.UNCERTAIN, None, tuple(reasons))
