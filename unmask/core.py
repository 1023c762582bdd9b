"""The vocabulary every stage speaks: media descriptions, findings, verdicts, reports.

Only the standard library and numpy-free plain data live here, so that reports
are cheap to build, compare, serialise and send between processes.
Every object is frozen; collections are tuples. ``to_dict`` gives the JSON form
described by ``unmask/report/schema.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SCHEMA_VERSION = "1.0"


class MediaKind(str, Enum):
    """What a file is once its content (not its extension) has been read."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class Verdict(str, Enum):
    LIKELY_MANIPULATED = "likely_manipulated"
    LIKELY_AUTHENTIC = "likely_authentic"
    UNCERTAIN = "uncertain"
    ERROR = "error"  # the file could not be analysed; see Report.error

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class FindingStatus(str, Enum):
    SCORED = "scored"  # probability_fake is set
    NOT_APPLICABLE = "not_applicable"  # nothing to look at for this detector (no manifest, no face, no speech)
    ERROR = "error"  # the detector failed on this file; other detectors still ran


class Signal(str, Enum):
    """How fusion should treat a scored finding (see unmask/fusion)."""

    ML = "ml"  # a calibrated model score
    GENERATOR_DECLARED = "generator_declared"  # provenance says the content was machine-made
    TAMPERED = "tampered"  # a signed manifest no longer matches the content
    CAPTURE_VERIFIED = "capture_verified"  # a trusted signer vouches for the capture
    EDITED = "edited"  # editing software touched the file (informative, not evidence of fakery)
    NEUTRAL = "neutral"  # recorded for the reader, carries no weight


class Strength(str, Enum):
    """How much a provenance signal is worth; fusion maps each to a probability."""

    DECISIVE = "decisive"  # e.g. AI declaration signed by a trusted signer
    STRONG = "strong"  # e.g. valid signature by an untrusted signer, decoded watermark
    MODERATE = "moderate"  # e.g. generator text in metadata (easy to add or strip)
    WEAK = "weak"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing a file found, before any detector runs."""

    kind: MediaKind
    format: str  # container/codec family from content sniffing: "jpeg", "png", "mp4", "flac", ...
    mime: str
    size_bytes: int
    sha256: str
    width_px: int | None = None
    height_px: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    sample_rate_hz: int | None = None
    channels: int | None = None
    has_audio: bool = False
    has_video: bool = False
    video_codec: str | None = None
    audio_codec: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "format": self.format,
            "mime": self.mime,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "duration_s": self.duration_s,
            "fps": self.fps,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "has_audio": self.has_audio,
            "has_video": self.has_video,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a person can check: ``label: value`` with an optional note."""

    label: str
    value: Any  # str | int | float | bool | None | list | dict (JSON-serialisable)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "note": self.note}


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image a detector attaches for people: face boxes, a heatmap, a timeline plot."""

    title: str
    mime: str  # "image/png" or "image/jpeg"
    data: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        import base64

        return {"title": self.title, "mime": self.mime, "data_base64": base64.b64encode(self.data).decode("ascii")}


@dataclass(frozen=True, slots=True, order=True)
class TimelinePoint:
    """Score of one window of a video or recording; ``probability_fake`` in [0, 1]."""

    start_s: float
    end_s: float
    probability_fake: float
    label: str | None = None  # e.g. face track id

    def __post_init__(self) -> None:
        if not 0 <= self.start_s <= self.end_s:
            raise ValueError(f"TimelinePoint needs 0 <= start_s <= end_s, got {self.start_s:g}s..{self.end_s:g}s")
        if not 0.0 <= self.probability_fake <= 1.0:
            raise ValueError(f"probability_fake must be in [0, 1], got {self.probability_fake!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": self.start_s, "end_s": self.end_s, "probability_fake": self.probability_fake, "label": self.label}


@dataclass(frozen=True, slots=True)
class Finding:
    """What one detector concluded about one file.

    ``probability_fake`` is 1 = manipulated/synthetic, 0 = authentic, and is set
    only when ``status`` is SCORED. ``signal`` and ``strength`` tell fusion how to
    weigh it; ``summary`` is one sentence a person reads as a reason.
    """

    detector: str
    version: str
    status: FindingStatus
    summary: str
    probability_fake: float | None = None
    signal: Signal = Signal.NEUTRAL
    strength: Strength | None = None
    evidence: tuple[Evidence, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    timeline: tuple[TimelinePoint, ...] = ()
    abstain_reason: str | None = None  # kebab-case, e.g. "no-manifest", "no-face"
    calibration: str | None = None  # which calibration produced probability_fake
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is FindingStatus.SCORED:
            if self.probability_fake is None or not 0.0 <= self.probability_fake <= 1.0:
                raise ValueError(f"{self.detector}: a scored finding needs probability_fake in [0, 1], got {self.probability_fake!r}")
        elif self.probability_fake is not None:
            raise ValueError(f"{self.detector}: probability_fake must be None when status is {self.status.value}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "version": self.version,
            "status": self.status.value,
            "summary": self.summary,
            "probability": self.probability_fake,
            "signal": self.signal.value,
            "strength": self.strength.value if self.strength else None,
            "abstain_reason": self.abstain_reason,
            "calibration": self.calibration,
            "evidence": [e.to_dict() for e in self.evidence],
            "attachments": [a.to_dict() for a in self.attachments],
            "timeline": [p.to_dict() for p in self.timeline],
            "timings_ms": dict(self.timings_ms),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The answer for one file: a verdict, its probability and the reasons, then every finding."""

    source: str  # the path as given, or "<bytes>"
    verdict: Verdict
    probability: float | None  # fused probability that the file is manipulated/synthetic
    reasons: tuple[str, ...]
    media: MediaInfo | None = None
    findings: tuple[Finding, ...] = ()
    error: dict[str, Any] | None = None  # UnmaskError.to_dict() when verdict is ERROR
    timings_ms: dict[str, float] = field(default_factory=dict)
    unmask_version: str = ""

    @property
    def flagged(self) -> bool:
        return self.verdict is Verdict.LIKELY_MANIPULATED

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "unmask_version": self.unmask_version,
            "source": self.source,
            "verdict": self.verdict.value,
            "probability": self.probability,
            "reasons": list(self.reasons),
            "media": self.media.to_dict() if self.media else None,
            "findings": [f.to_dict() for f in self.findings],
            "error": self.error,
            "timings_ms": dict(self.timings_ms),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)


for _cls in (MediaKind, Verdict, FindingStatus, Signal, Strength, MediaInfo, Evidence, Attachment, TimelinePoint, Finding, Report):
    _cls.__module__ = "unmask"
