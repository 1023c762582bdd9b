"""The detector protocol: a card of static facts and one ``analyze`` method.

A detector looks at one opened file (``unmask.media.MediaItem``) and returns one
``Finding``: a probability with 1 = manipulated/synthetic, or "not applicable"
with a reason, plus evidence a person can check. It never decides the verdict:
thresholds and how findings combine belong to ``unmask.fusion``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from unmask.core import Finding, FindingStatus, MediaKind, Signal, Strength

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem


@dataclass(frozen=True, slots=True)
class DetectorCard:
    """Static facts about a detector, readable without importing its code or loading weights."""

    name: str  # "c2pa", "watermark", "face-sbi", ...
    version: str  # bumps whenever weights, preprocessing or rules change
    kinds: frozenset[MediaKind]  # media kinds it accepts
    family: str  # "provenance" (reads what the file declares) or "ml" (a trained model)
    summary: str  # one line for `unmask detectors`: what it looks at
    factory: str  # "module:attr" of a callable (card, options) -> Detector
    # Experimental detectors have not yet reached their measured targets on the dev set
    # (see their model cards). They run only when named (--detectors), so that a weak model
    # never clears or flags a file by default; `unmask eval` measures them all the same.
    experimental: bool = False

    def accepts(self, kind: MediaKind) -> bool:
        return kind in self.kinds

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "kinds": sorted(k.value for k in self.kinds),
            "family": self.family,
            "summary": self.summary,
            "experimental": self.experimental,
        }


@runtime_checkable
class Detector(Protocol):
    card: DetectorCard

    def analyze(self, item: "MediaItem") -> Finding: ...


DetectorFactory = Callable[[DetectorCard, "ScanOptions"], Detector]


def not_applicable(card: DetectorCard, reason: str, summary: str, **fields: object) -> Finding:
    """A finding that says there was nothing for this detector to judge (no manifest, no face)."""
    return Finding(
        detector=card.name,
        version=card.version,
        status=FindingStatus.NOT_APPLICABLE,
        summary=summary,
        abstain_reason=reason,
        **fields,  # type: ignore[arg-type]
    )


def scored(
    card: DetectorCard,
    probability_fake: float,
    summary: str,
    *,
    signal: Signal,
    strength: Strength | None = None,
    **fields: object,
) -> Finding:
    return Finding(
        detector=card.name,
        version=card.version,
        status=FindingStatus.SCORED,
        summary=summary,
        probability_fake=float(probability_fake),
        signal=signal,
        strength=strength,
        **fields,  # type: ignore[arg-type]
    )


def failed(card: DetectorCard, message: str) -> Finding:
    """The detector broke on this file; the others still ran and the report says so."""
    return Finding(
        detector=card.name,
        version=card.version,
        status=FindingStatus.ERROR,
        summary=f"{card.name} could not analyse this file: {message}",
        abstain_reason="detector-error",
    )


class Stopwatch:
    """Collects per-stage wall times in milliseconds for ``Finding.timings_ms``."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}

    def stage(self, name: str) -> "_Stage":
        return _Stage(self, name)


class _Stage:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self.t0) * 1000.0
        self.watch.timings_ms[self.name] = self.watch.timings_ms.get(self.name, 0.0) + round(elapsed, 3)
