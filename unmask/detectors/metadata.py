"""What a file says about how it was made: EXIF, XMP, IPTC, PNG text chunks, JPEG comments, container tags.

The detector reads metadata only; it never looks at pixels or samples. It
recognises three kinds of statement and reports the strongest:

* **generator declarations** (scored GENERATOR_DECLARED, MODERATE, 0.85):
  IPTC ``DigitalSourceType`` = trainedAlgorithmicMedia and its composite/
  algorithmic relatives, ``Iptc4xmpExt:AISystemUsed``, China's 2025 AIGC label
  (TC260 XMP namespace, ``Label`` = 1), generation parameters written by
  AUTOMATIC1111/Forge/SD.Next (``parameters``), ComfyUI (``prompt``/``workflow``),
  NovelAI (``Software`` + ``Comment``), InvokeAI (``invokeai_metadata``,
  ``sd-metadata``, ``Dream``), Fooocus (``fooocus_scheme``), Midjourney
  (``Description`` with a Job ID), and generator names in software/encoder fields;
* **editing** (scored EDITED, 0.5): Photoshop, GIMP, Lightroom, FFmpeg re-encodes ...;
* **camera facts** (scored NEUTRAL, 0.5): Make/Model/exposure. They are reported
  so a person can see them, never as evidence of authenticity: EXIF is easy to forge.

No metadata at all is ``not_applicable``: platforms strip it, so its absence says
nothing. Metadata is easy to add and to strip, which is why a generator
declaration here is MODERATE and the summary says so.

Untrusted input: XMP is parsed with ``xml.etree`` only after refusing DTDs and
entities (no entity expansion, no external fetches) and above a size cap a
pattern scan replaces the parser; compressed PNG text is inflated with a cap;
every reader failure becomes an evidence note, never an exception.
Imports PIL and PyAV inside functions only.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unmask.core import Evidence, Finding, MediaKind, Signal, Strength
from unmask.detectors._base import DetectorCard, Stopwatch, not_applicable, scored

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem

# Real XMP packets are a few KiB (a JPEG APP1 segment holds at most 64 KiB), but
# Photoshop's DocumentAncestors lists can bloat them to several MiB; above this the
# packet is pattern-scanned instead of parsed, so a hostile file cannot make us
# build a huge tree.
MAX_XMP_BYTES = 4 * 1024 * 1024
# ComfyUI workflows with hundreds of nodes reach ~1 MiB of JSON; a text value
# beyond this is kept truncated (its key still counts) and not JSON-parsed.
MAX_TEXT_VALUE_BYTES = 4 * 1024 * 1024
# Caps the memory all PNG text chunks together may take (zTXt/iTXt can be zip bombs).
MAX_TEXT_TOTAL_BYTES = 16 * 1024 * 1024
MAX_PNG_CHUNKS = 100_000
EVIDENCE_TEXT_CHARS = 300  # long prompts are cut in evidence; the file still holds all of it
MAX_EVIDENCE_ITEMS = 40

_PROB_DECLARED = 0.85  # GENERATOR_DECLARED MODERATE (project convention, see fusion)
_PROB_DECLARED_WEAK = 0.7  # an AIGC label saying "possibly"/"suspected" generated
_PROB_UNWEIGHTED = 0.5  # EDITED and NEUTRAL never move the fused probability

_EASY_TO_FORGE = "metadata like this is easy to add or strip, so it is a declaration, not proof"

_NS = {
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://www.tc260.org.cn/ns/AIGC/1.0/": "TC260",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_SKIP_NS = {_RDF, "adobe:ns:meta/", "http://www.w3.org/XML/1998/namespace"}

# IPTC NewsCodes digital source types (cv.iptc.org/newscodes/digitalsourcetype/).
_DST_GENERATED = {
    "trainedalgorithmicmedia": "made by a trained AI model",
    "compositewithtrainedalgorithmicmedia": "a composite that includes AI-generated content",
    "algorithmicmedia": "made by an algorithm",
    "compositesynthetic": "a composite with synthetic elements",
}
_DST_EDITED = {"humanedits", "minorhumanedits", "algorithmicallyenhanced", "compositecapture", "composite"}

_KIND_NOUN = {MediaKind.IMAGE: "image", MediaKind.VIDEO: "video", MediaKind.AUDIO: "recording"}


@dataclass(frozen=True, slots=True)
class MetaField:
    """One metadata entry as found: where, under which key, with what (decoded) value."""

    source: str  # "EXIF", "XMP", "IPTC", "PNG text", "JPEG comment", "container tag", "stream 0 tag"
    key: str  # "Software", "xmp:CreatorTool", "parameters", "encoder"
    value: str
    truncated: bool = False

    @property
    def where(self) -> str:
        return f"{self.source} {self.key!r}"

    @property
    def phrase(self) -> str:
        """Where the field sits, as the start of a sentence."""
        if self.source == "container tag":
            return f"The container's {self.key!r} tag"
        if self.source.startswith("stream "):
            return f"Stream {self.source.split()[1]}'s {self.key!r} tag"
        if self.source == "PNG text":
            return f"The PNG text chunk {self.key!r}"
        if self.source == "XMP":
            return f"The XMP property {self.key}"
        if self.source.endswith("comment"):
            return f"A {self.source}"
        return f"The {self.source} {self.key} field"


@dataclass(slots=True)
class _Claim:
    signal: Signal
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    strength: Strength | None = None
    probability_fake: float = _PROB_UNWEIGHTED
    role: str = ""  # EDITED: "editor" | "encoder" | "declared"; NEUTRAL: "camera" | "software" | "other"


# ----------------------------------------------------------------------------------------------
# Generator and editor names


@dataclass(frozen=True, slots=True)
class _Name:
    pattern: re.Pattern[str]
    display: str
    in_text: bool  # also counts in free text (descriptions, comments), not only software fields
    phrase: bool = False  # the pattern is itself a declaration ("Made with Google AI")


def _n(regex: str, display: str, in_text: bool, *, phrase: bool = False) -> _Name:
    return _Name(re.compile(regex, re.IGNORECASE), display, in_text, phrase)


# Names that are ordinary words ("runway", "flux", "gemini", "imagen" = Spanish for image)
# count only in software/encoder fields, where they name a tool; free-text captions
# use them for other things.
_GENERATORS: tuple[_Name, ...] = (
    _n(r"midjourney", "Midjourney", True),
    _n(r"\bdall[\s\-·.]?e\b", "OpenAI DALL·E", True),
    _n(r"\bgpt-image|\bgpt-4o\b|\bchatgpt\b|\bsora\b", "OpenAI", False),
    _n(r"stable[\s\-_]?diffusion|\bsdxl\b|\bsd3(\.5)?\b", "Stable Diffusion", True),
    _n(r"automatic1111|stable-diffusion-webui", "AUTOMATIC1111", True),
    _n(r"\bnovel\s?ai\b", "NovelAI", True),
    _n(r"comfyui", "ComfyUI", True),
    _n(r"invoke\s?ai", "InvokeAI", True),
    _n(r"fooocus", "Fooocus", True),
    _n(r"\bsd\.next\b", "SD.Next", True),
    _n(r"draw things", "Draw Things", False),
    _n(r"adobe firefly", "Adobe Firefly", True),
    _n(r"\bfirefly\b", "Adobe Firefly", False),
    _n(r"leonardo[\s.]?ai", "Leonardo.Ai", True),
    _n(r"ideogram", "Ideogram", True),
    _n(r"dreamstudio", "DreamStudio", True),
    _n(r"nightcafe", "NightCafe", True),
    _n(r"craiyon", "Craiyon", True),
    _n(r"bing image creator|image creator from (microsoft )?designer", "Microsoft Image Creator", True),
    _n(r"black forest labs", "Black Forest Labs FLUX", True),
    _n(r"\bflux(\.1)?\b", "Black Forest Labs FLUX", False),
    _n(r"\bimagen\b", "Google Imagen", False),
    _n(r"\bgemini\b", "Google Gemini", False),
    _n(r"\bveo\s?\d?\b", "Google Veo", False),
    _n(r"runwayml|runway gen-?\d", "Runway", True),
    _n(r"\brunway\b", "Runway", False),
    _n(r"pika labs|\bpika\b", "Pika", False),
    _n(r"kling ai|\bkling\b", "Kling", False),
    _n(r"luma (ai|dream machine)", "Luma Dream Machine", True),
    _n(r"hailuo|\bminimax\b", "MiniMax Hailuo", False),
    _n(r"\bgrok\b", "xAI Grok", False),
    _n(r"elevenlabs|eleven labs", "ElevenLabs", True),
    _n(r"\bsuno\b", "Suno", False),
    _n(r"\budio\b", "Udio", False),
    _n(r"dreamina|jimeng|即梦", "Dreamina (Jimeng)", False),
    _n(r"doubao|豆包", "Doubao", False),
    _n(r"wanxiang|通义万相", "Tongyi Wanxiang", False),
    _n(r"playground ?(ai|v\d)", "Playground", True),
    _n(r"\bkrea\b", "Krea", False),
    _n(r"artbreeder", "Artbreeder", True),
    _n(r"starryai", "starryai", True),
    _n(r"wombo dream", "Wombo Dream", True),
    _n(r"made with google ai|edited with google ai", "Google AI", True, phrase=True),
    _n(r"imagined with ai|made with meta ai", "Meta AI", True, phrase=True),
    _n(
        r"\bai[\s-]generated image\b|\b(generated|created|made) (with|by) (an? )?(ai|artificial intelligence)\b",
        "an AI generator",
        True,
        phrase=True,
    ),
)

_EDITORS: tuple[_Name, ...] = (
    _n(r"photoshop", "Adobe Photoshop", False),
    _n(r"lightroom", "Adobe Lightroom", False),
    _n(r"camera raw", "Adobe Camera Raw", False),
    _n(r"adobe (express|illustrator|premiere|after effects|audition)", "Adobe", False),
    _n(r"\bgimp\b", "GIMP", False),
    _n(r"snapseed", "Snapseed", False),
    _n(r"affinity", "Affinity", False),
    _n(r"pixelmator", "Pixelmator", False),
    _n(r"capture one", "Capture One", False),
    _n(r"darktable|rawtherapee|\bkrita\b|paint\.net|photoscape|\bfotor\b|\bpolarr\b|luminar|acdsee|picasa", "photo editor", False),
    _n(r"\bcanva\b|picsart|facetune|meitu|\bvsco\b", "photo app", False),
    _n(r"imagemagick|graphicsmagick", "ImageMagick", False),
    _n(r"final cut|davinci resolve|\bimovie\b|capcut|shotcut|kdenlive|openshot|filmora|clipchamp|inshot|vegas pro", "video editor", False),
    _n(r"handbrake", "HandBrake", False),
    _n(r"\blav[fc]\s?\d|\bffmpeg\b", "FFmpeg", False),
    _n(r"audacity|garageband|logic pro|\breaper\b|ableton|fl studio", "audio editor", False),
)

# Keys whose value names the program that wrote the file.
_TOOL_KEYS = {
    "software",
    "xmp:creatortool",
    "tiff:software",
    "stevt:softwareagent",
    "originatingprogram",
    "encoder",
    "encoded_by",
    "encoded-by",
    "writing_application",
    "creation_tool",
    "com.apple.quicktime.software",
    "tsse",
    "tenc",
}
# Keys holding free text that a person or a generator wrote.
_TEXT_KEYS = {
    "imagedescription",
    "usercomment",
    "xpcomment",
    "artist",
    "dc:description",
    "dc:title",
    "dc:creator",
    "photoshop:credit",
    "photoshop:source",
    "credit",
    "source",
    "caption/abstract",
    "objectname",
    "comment",
    "description",
    "title",
    "author",
    "synopsis",
    "com.apple.quicktime.description",
    "com.apple.quicktime.comment",
    "com.apple.quicktime.title",
    "com.apple.quicktime.author",
    "copyright",
}
_CAMERA_KEYS = {
    "make": "Camera make",
    "model": "Camera model",
    "tiff:make": "Camera make",
    "tiff:model": "Camera model",
    "com.apple.quicktime.make": "Camera make",
    "com.apple.quicktime.model": "Camera model",
    "com.android.manufacturer": "Camera make",
    "com.android.model": "Camera model",
    "datetimeoriginal": "Taken",
    "exposuretime": "Exposure time",
    "fnumber": "F-number",
    "isospeedratings": "ISO",
    "focallength": "Focal length",
    "lensmodel": "Lens",
    "exifex:lensmodel": "Lens",
    "com.apple.quicktime.creationdate": "Recorded",
    "gps": "GPS position",
}


# In free text a generator's name is also news ("Midjourney CEO speaks ..."); it counts
# there only as a declaration: a short value that is little more than the name, or the
# name next to a word about making or output ("generated with DALL·E 3", "Midjourney render").
_MADE_BEFORE = re.compile(r"\b(made|created|generated|rendered|produced|imagined|drawn|painted|designed|generation)\b[^.;\n]{0,30}$", re.IGNORECASE)
_MADE_AFTER = re.compile(r"^[^.;\n]{0,20}\b(generated|generation|render(ed|ing)?|output|prompt|image|art(work)?|picture)\b", re.IGNORECASE)
_SHORT_VALUE_CHARS = 40


def _match(names: Iterable[_Name], text: str, *, tool_field: bool) -> _Name | None:
    sample = text[:4096]
    for name in names:
        if not (tool_field or name.in_text):
            continue
        for m in name.pattern.finditer(sample):
            if tool_field or name.phrase or len(sample.strip()) <= _SHORT_VALUE_CHARS:
                return name
            if _MADE_BEFORE.search(sample[max(0, m.start() - 40) : m.start()]) or _MADE_AFTER.search(sample[m.end() : m.end() + 40]):
                return name
    return None


# ----------------------------------------------------------------------------------------------
# Detector


class MetadataDetector:
    """Reads EXIF/XMP/IPTC/PNG text/container tags and reports declared generation, editing or camera facts."""

    def __init__(self, card: DetectorCard) -> None:
        self.card = card

    def analyze(self, item: "MediaItem") -> Finding:
        watch = Stopwatch()
        with watch.stage("read"):
            fields, problems = read_metadata(item)
        with watch.stage("classify"):
            finding = self._judge(fields, problems, _KIND_NOUN.get(item.kind, "file"))
        return _with_timings(finding, watch.timings_ms)

    def _judge(self, fields: list[MetaField], problems: list[str], noun: str) -> Finding:
        claims = classify(fields, noun)
        notes = [Evidence("Unreadable metadata", p) for p in problems]
        generated = [c for c in claims if c.signal is Signal.GENERATOR_DECLARED]
        edited = [c for c in claims if c.signal is Signal.EDITED]
        neutral = [c for c in claims if c.signal is Signal.NEUTRAL]
        if generated:
            generated.sort(key=lambda c: c.probability_fake, reverse=True)
            lead = generated[0]
            evidence = [e for c in generated + edited + neutral for e in c.evidence] + notes
            return scored(
                self.card,
                lead.probability_fake,
                lead.summary,
                signal=Signal.GENERATOR_DECLARED,
                strength=lead.strength,
                evidence=_cap(evidence),
            )
        if edited:
            summary = _edited_summary(edited)
            evidence = [e for c in edited + neutral for e in c.evidence] + notes
            return scored(self.card, _PROB_UNWEIGHTED, summary, signal=Signal.EDITED, evidence=_cap(evidence))
        if neutral:
            neutral.sort(key=lambda c: c.role != "camera")
            summary = _neutral_summary(neutral, noun)
            evidence = [e for c in neutral for e in c.evidence] + notes
            return scored(self.card, _PROB_UNWEIGHTED, summary, signal=Signal.NEUTRAL, evidence=_cap(evidence))
        if problems:
            return not_applicable(
                self.card,
                "unreadable-metadata",
                f"The {noun}'s metadata could not be read ({problems[0]}); nothing it declares can be used, "
                "which is not evidence either way.",
                evidence=tuple(notes),
            )
        return not_applicable(
            self.card,
            "no-metadata",
            "No generator, editing or camera metadata (often stripped by social media; not evidence either way).",
        )


def create(card: DetectorCard, options: "ScanOptions") -> MetadataDetector:
    """Registry factory; the detector has no options or weights."""
    return MetadataDetector(card)


def _with_timings(finding: Finding, timings_ms: dict[str, float]) -> Finding:
    from dataclasses import replace

    return replace(finding, timings_ms=dict(timings_ms))


def _cap(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[Evidence] = []
    for e in evidence:
        key = (e.label, str(e.value))
        if key not in seen:
            seen.add(key)
            out.append(e)
    if len(out) > MAX_EVIDENCE_ITEMS:
        dropped = len(out) - MAX_EVIDENCE_ITEMS + 1
        out = out[: MAX_EVIDENCE_ITEMS - 1] + [Evidence("More metadata", f"{dropped} further items not listed")]
    return tuple(out)


def _edited_summary(claims: list[_Claim]) -> str:
    def names(role: str) -> list[str]:
        return list(dict.fromkeys(c.summary for c in claims if c.role == role))[:3]

    editors, encoders, declared = names("editor"), names("encoder"), names("declared")
    parts = []
    if editors:
        parts.append("Edited with " + _join(editors))
    if encoders:
        parts.append(("re-encoded" if parts else "Re-encoded") + " or remuxed with " + _join(encoders))
    if declared:
        parts.append(("declared as edited" if parts else "Declared as edited") + " by " + _join(declared))
    return ", ".join(parts) + " (editing software is not evidence of fakery)."


def _neutral_summary(claims: list[_Claim], noun: str) -> str:
    camera = [c for c in claims if c.role == "camera"]
    if camera:
        return (
            f"Camera metadata says the {noun} was taken with {camera[0].summary}; such metadata is easy to edit, "
            "so this is reported as a fact, not as evidence either way."
        )
    what = _join(list(dict.fromkeys(c.summary for c in claims))[:3])
    return f"Metadata names {what}, which is neither a known generator nor an editor; recorded as a fact, not evidence."


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------------------------
# Classification


def classify(fields: list[MetaField], noun: str = "image") -> list[_Claim]:
    """Turn raw metadata fields into claims (generator / edited / neutral), strongest kinds first."""
    claims: list[_Claim] = []
    by_key: dict[str, list[MetaField]] = {}
    for f in fields:
        by_key.setdefault(f.key.lower(), []).append(f)
    used: set[int] = set()  # fields already explained by a structured parser

    claims += _structured_generators(fields, by_key, used, noun)
    for f in fields:
        if id(f) in used:
            continue
        claim = _field_claim(f, noun)
        if claim is not None:
            claims.append(claim)
    camera = _camera_claim(fields)
    if camera is not None:
        claims.append(camera)
    return claims


def _field_claim(f: MetaField, noun: str) -> _Claim | None:
    key = f.key.lower()
    short = key.rsplit(":", 1)[-1]
    value = f.value.strip()
    if not value:
        return None
    if short == "digitalsourcetype":
        return _dst_claim(f, noun)
    if key in ("iptc4xmpext:aisystemused", "iptc4xmpext:aisystemversionused", "iptc4xmpext:aipromptinformation"):
        return _claim_declared(
            f"{_src(f)} names the AI system used to make the {noun} ({_clip(value, 80)}); {_EASY_TO_FORGE}.",
            [Evidence("AI system declared", _clip(value), note=f.where)],
        )
    if "aigc" in key:
        return _aigc_claim(f, noun)
    is_tool = key in _TOOL_KEYS or short in _TOOL_KEYS
    is_text = key in _TEXT_KEYS or short in _TEXT_KEYS
    if is_tool or is_text:
        gen = _match(_GENERATORS, value, tool_field=is_tool)
        if gen is not None:
            return _claim_declared(
                f"{f.phrase} names the generator {gen.display} ({_clip(value, 80)!r}): the {noun} says it was "
                f"made with an AI generator; {_EASY_TO_FORGE}.",
                [Evidence("Generator named in metadata", _clip(value), note=f.where)],
            )
    if is_tool:
        editor = _match(_EDITORS, value, tool_field=True)
        if editor is not None:
            encoder = editor.display in ("FFmpeg", "HandBrake")
            name = f"{editor.display} ({_clip(value, 60)})" if encoder else _clip(value, 80)
            label = "Written by" if encoder else "Editing software"
            return _Claim(Signal.EDITED, name, [Evidence(label, _clip(value), note=f.where)], role="encoder" if encoder else "editor")
        if short in ("software", "creatortool", "softwareagent", "originatingprogram", "com.apple.quicktime.software"):
            return _Claim(Signal.NEUTRAL, f"the software {_clip(value, 60)!r}", [Evidence("Software", _clip(value), note=f.where)], role="software")
    return None


def _src(f: MetaField) -> str:
    """The metadata block a field came from, as the start of a sentence."""
    names = {"XMP": "XMP metadata", "EXIF": "EXIF metadata", "IPTC": "IPTC metadata", "PNG text": "PNG metadata", "container tag": "The container's metadata"}
    if f.source.startswith("stream "):
        return f"Stream {f.source.split()[1]}'s metadata"
    return names.get(f.source, f"A {f.source}" if f.source.endswith("comment") else f.source)


def _claim_declared(summary: str, evidence: list[Evidence], *, weak: bool = False) -> _Claim:
    return _Claim(
        Signal.GENERATOR_DECLARED,
        summary,
        evidence,
        strength=Strength.WEAK if weak else Strength.MODERATE,
        probability_fake=_PROB_DECLARED_WEAK if weak else _PROB_DECLARED,
    )


def _dst_claim(f: MetaField, noun: str) -> _Claim | None:
    code = f.value.strip().rstrip("/").rsplit("/", 1)[-1]
    low = code.lower()
    ev = Evidence("IPTC DigitalSourceType", _clip(f.value), note=f.where)
    if low in _DST_GENERATED:
        return _claim_declared(
            f"{_src(f)} declares the {noun} as {_DST_GENERATED[low]} (IPTC DigitalSourceType {code}); {_EASY_TO_FORGE}.",
            [ev],
        )
    if low in _DST_EDITED:
        return _Claim(Signal.EDITED, f"IPTC DigitalSourceType {code}", [ev], role="declared")
    return _Claim(Signal.NEUTRAL, f"the IPTC DigitalSourceType {code!r}", [ev], role="other")


def _aigc_claim(f: MetaField, noun: str) -> _Claim | None:
    """China's 2025 AIGC labelling (GB 45438-2025): JSON with Label 1 = generated, 2 = possibly, 3 = suspected."""
    data = _json_object(f.value)
    label = None
    producer = None
    if data is not None:
        label = str(data.get("Label", data.get("label", ""))).strip()
        producer = data.get("ContentProducer") or data.get("contentProducer")
    else:
        m = re.search(r'Label"?\s*[:=]\s*"?(\d)', f.value)
        label = m.group(1) if m else None
    evidence = [Evidence("AIGC label", _clip(f.value), note=f"{f.where} (GB 45438-2025 implicit label)")]
    if producer:
        evidence.append(Evidence("AIGC content producer", _clip(str(producer))))
    if label == "1":
        return _claim_declared(
            f"{_src(f)} carries China's AIGC label declaring the {noun} AI-generated (Label 1); {_EASY_TO_FORGE}.", evidence
        )
    if label in ("2", "3"):
        word = "possibly" if label == "2" else "suspected to be"
        return _claim_declared(
            f"{_src(f)} carries China's AIGC label marking the {noun} as {word} AI-generated (Label {label}); "
            "a platform's guess, not a declaration by the maker.",
            evidence,
            weak=True,
        )
    return _Claim(Signal.NEUTRAL, "an AIGC label without a recognised Label value", evidence, role="other")


def _camera_claim(fields: list[MetaField]) -> _Claim | None:
    facts: dict[str, tuple[str, str]] = {}
    for f in fields:
        key = f.key.lower()
        prefix, _, short = key.rpartition(":")
        label = _CAMERA_KEYS.get(key) or (_CAMERA_KEYS.get(short) if prefix in ("exif", "tiff", "exifex", "aux") else None)
        if label and f.value.strip() and label not in facts:
            facts[label] = (_clip(f.value.strip(), 120), f.where)
    if not facts:
        return None
    make = facts.get("Camera make", ("", ""))[0]
    model = facts.get("Camera model", ("", ""))[0]
    desc = model if make and model.lower().startswith(make.lower().split()[0]) else f"{make} {model}".strip()
    if not desc:
        desc = "an unnamed camera"
    taken = facts.get("Taken") or facts.get("Recorded")
    if taken:
        desc += f" on {taken[0]}"
    evidence = [Evidence(label, value, note=where) for label, (value, where) in facts.items()]
    return _Claim(Signal.NEUTRAL, desc, evidence, role="camera")


# ----------------------------------------------------------------------------------------------
# Structured generator metadata (text chunks, UserComment)


def _structured_generators(
    fields: list[MetaField], by_key: dict[str, list[MetaField]], used: set[int], noun: str
) -> list[_Claim]:
    claims: list[_Claim] = []

    def first(key: str) -> MetaField | None:
        found = by_key.get(key.lower())
        return found[0] if found else None

    scheme = first("fooocus_scheme")
    params = first("parameters")
    if params is not None:
        claim = _parameters_claim(params, scheme, noun)
        if claim is not None:
            claims.append(claim)
            used.add(id(params))
            if scheme is not None:
                used.add(id(scheme))

    comfy = _comfyui_claim(first("prompt"), first("workflow"), noun)
    if comfy is not None:
        claims.append(comfy)
        used.update(id(f) for f in (first("prompt"), first("workflow")) if f is not None)

    for key in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
        f = first(key)
        if f is not None and f.value.strip():
            claims.append(_invokeai_claim(f, noun))
            used.add(id(f))
            break

    software = first("software")
    comment = first("comment")
    if software is not None and software.source == "PNG text" and software.value.strip().lower() == "novelai":
        claims.append(_novelai_claim(software, comment, first("source"), first("description"), noun))
        used.update(id(f) for f in (software, comment, first("description"), first("source"), first("title")) if f is not None)

    gen_data = first("generation_data")
    if gen_data is not None and gen_data.value.strip():
        data = _json_object(gen_data.value)
        claims.append(
            _claim_declared(
                f"{_src(gen_data)} holds generation settings ('generation_data', as web generators such as Tensor.Art "
                f"write): the {noun} was made by an AI generator; {_EASY_TO_FORGE}.",
                [Evidence("Generator metadata", "generation_data chunk", note=gen_data.where)] + _settings_evidence(data or {}),
            )
        )
        used.add(id(gen_data))

    # Midjourney puts "<prompt> Job ID: <uuid>" in Description.
    for f in by_key.get("description", []) + by_key.get("dc:description", []):
        if re.search(r"\bJob ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-", f.value, re.IGNORECASE):
            prompt = re.split(r"\s*Job ID:", f.value, maxsplit=1, flags=re.IGNORECASE)[0]
            claims.append(
                _claim_declared(
                    f"{_src(f)} holds a Midjourney prompt and Job ID: the {noun} was made with Midjourney; {_EASY_TO_FORGE}.",
                    [Evidence("Generator", "Midjourney", note=f.where), Evidence("Prompt", _clip(prompt))],
                )
            )
            used.add(id(f))
            break

    # A1111 writes its parameters to EXIF UserComment in JPEG/WebP; other tools
    # put the same text in JPEG comments or XMP exif:UserComment (Draw Things: JSON).
    for f in fields:
        if id(f) in used or f.key.lower().rsplit(":", 1)[-1] not in ("usercomment", "comment", "description", "xpcomment"):
            continue
        a1111 = parse_a1111_parameters(f.value)
        if a1111 is not None:
            claims.append(_a1111_claim(f, a1111, noun))
            used.add(id(f))
            continue
        data = _json_object(f.value)
        if data is not None and _looks_like_settings(data):
            tool = "Draw Things" if f.key.lower() == "exif:usercomment" else "an AI image generator"
            claims.append(
                _claim_declared(
                    f"{f.where} holds generation settings (prompt, sampler, seed) written by {tool}: the {noun} was "
                    f"made by an AI generator; {_EASY_TO_FORGE}.",
                    [Evidence("Generator metadata", "JSON generation settings", note=f.where)] + _settings_evidence(data),
                )
            )
            used.add(id(f))
    return claims


def _parameters_claim(f: MetaField, scheme: MetaField | None, noun: str) -> _Claim | None:
    data = _json_object(f.value)
    if data is not None:
        is_fooocus = scheme is not None or "base_model" in data or "fooocus" in str(data.get("version", "")).lower()
        tool = "Fooocus" if is_fooocus else "an AI image generator"
        if not (is_fooocus or _looks_like_settings(data)):
            return None
        ev = [Evidence("Generator", "Fooocus" if is_fooocus else "JSON generation parameters", note=f.where)]
        if scheme is not None:
            ev.append(Evidence("Metadata scheme", _clip(scheme.value), note=scheme.where))
        return _claim_declared(
            f"{_src(f)} holds {tool} generation parameters (prompt, sampler, seed): the {noun} was made with "
            f"{'Stable Diffusion XL in Fooocus' if is_fooocus else 'an AI image generator'}; {_EASY_TO_FORGE}.",
            ev + _settings_evidence(data),
        )
    parsed = parse_a1111_parameters(f.value)
    if parsed is None:
        if f.truncated:  # too big to parse, but only generators write a huge 'parameters' chunk
            return _claim_declared(
                f"{_src(f)} holds a very large 'parameters' entry of the kind Stable Diffusion web UIs write; "
                f"{_EASY_TO_FORGE}.",
                [Evidence("Generator metadata", "'parameters' (truncated, not parsed)", note=f.where)],
            )
        return None
    return _a1111_claim(f, parsed, noun)


def _a1111_claim(f: MetaField, parsed: dict[str, str], noun: str) -> _Claim:
    version = parsed.get("Version", "")
    if "fooocus" in version.lower():
        tool = "Fooocus"
    elif parsed.get("App", "").lower() == "sd.next" or "sd.next" in version.lower():
        tool = "SD.Next"
    elif re.match(r"f\d", version):
        tool = "Stable Diffusion WebUI Forge"
    else:
        tool = "AUTOMATIC1111"
    where = {"PNG text": "PNG metadata", "EXIF": "EXIF UserComment", "JPEG comment": "A JPEG comment"}.get(f.source, f.where)
    have = [k.lower() for k in ("prompt", "Sampler", "Seed") if parsed.get(k)]
    what = ", ".join(have) if have else "settings"
    ev = [Evidence("Generator", tool + "-style parameters", note=f.where)]
    labels = [
        ("prompt", "Prompt"),
        ("negative_prompt", "Negative prompt"),
        ("Steps", "Steps"),
        ("Sampler", "Sampler"),
        ("Model", "Model"),
        ("Model hash", "Model hash"),
        ("Seed", "Seed"),
        ("CFG scale", "CFG scale"),
        ("Size", "Size"),
        ("Version", "Version"),
    ]
    ev += [Evidence(label, _clip(parsed[key])) for key, label in labels if parsed.get(key)]
    return _claim_declared(
        f"{where} holds {tool} generation parameters ({what}): the {noun} was made by Stable Diffusion; {_EASY_TO_FORGE}.",
        ev,
    )


_A1111_PARAM = re.compile(r'\s*(\w[\w \-/.()]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def parse_a1111_parameters(text: str) -> dict[str, str] | None:
    """Parse AUTOMATIC1111-style infotext: prompt, "Negative prompt: ...", then "Steps: 20, Sampler: ...".

    Returns
    -------
    dict or None
        ``prompt``, ``negative_prompt`` and every ``Key: value`` of the settings line,
        or None when the text has no settings line with Steps plus Sampler, Seed or CFG scale.
    """
    if "Steps:" not in text[:MAX_TEXT_VALUE_BYTES]:
        return None
    lines = text.strip().replace("\r\n", "\n").split("\n")
    for idx in range(len(lines) - 1, -1, -1):
        line = lines[idx]
        if not re.match(r"\s*Steps:\s*\d+", line) and not re.search(r"(^|,\s*)Steps:\s*\d+", line):
            continue
        settings = {m.group(1).strip(): m.group(2).strip().strip('"') for m in _A1111_PARAM.finditer(line) if m.group(1)}
        if "Steps" not in settings or not ({"Sampler", "Seed", "CFG scale"} & settings.keys()):
            continue
        head = "\n".join(lines[:idx])
        prompt, _, negative = head.partition("Negative prompt:")
        settings["prompt"] = prompt.strip()
        settings["negative_prompt"] = negative.strip()
        return settings
    return None


def _comfyui_claim(prompt: MetaField | None, workflow: MetaField | None, noun: str) -> _Claim | None:
    graph = _json_object(prompt.value) if prompt is not None else None
    flow = _json_object(workflow.value) if workflow is not None else None
    is_graph = graph is not None and any(isinstance(v, dict) and "class_type" in v for v in graph.values())
    is_flow = flow is not None and isinstance(flow.get("nodes"), list)
    if not (is_graph or is_flow):
        return None
    ev = [Evidence("Generator", "ComfyUI", note=" and ".join(f.where for f in (prompt, workflow) if f is not None))]
    if is_graph:
        ev += _comfy_graph_evidence(graph)  # type: ignore[arg-type]
    if is_flow:
        ev.append(Evidence("Workflow nodes", len(flow["nodes"])))  # type: ignore[index]
    what = "prompt graph and workflow" if is_graph and is_flow else ("prompt graph" if is_graph else "workflow")
    return _claim_declared(
        f"PNG metadata holds a ComfyUI {what}: the {noun} was generated with ComfyUI; {_EASY_TO_FORGE}.", ev
    )


def _comfy_graph_evidence(graph: dict[str, Any]) -> list[Evidence]:
    ev: list[Evidence] = []
    nodes = {k: v for k, v in graph.items() if isinstance(v, dict)}
    models: list[str] = []
    sampler_node: dict[str, Any] | None = None
    for node in nodes.values():
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        if sampler_node is None and ("seed" in inputs or "noise_seed" in inputs) and "steps" in inputs:
            sampler_node = inputs
    if models:
        ev.append(Evidence("Model", _clip(", ".join(dict.fromkeys(models)))))
    if sampler_node is not None:
        for key, label in (("seed", "Seed"), ("noise_seed", "Seed"), ("steps", "Steps"), ("sampler_name", "Sampler"), ("cfg", "CFG scale")):
            if isinstance(sampler_node.get(key), (int, float, str)):
                ev.append(Evidence(label, sampler_node[key]))
        for key, label in (("positive", "Prompt"), ("negative", "Negative prompt")):
            link = sampler_node.get(key)
            if isinstance(link, list) and link and str(link[0]) in nodes:
                text = (nodes[str(link[0])].get("inputs") or {}).get("text")
                if isinstance(text, str):
                    ev.append(Evidence(label, _clip(text)))
    return ev


def _invokeai_claim(f: MetaField, noun: str) -> _Claim:
    data = _json_object(f.value)
    ev = [Evidence("Generator", "InvokeAI", note=f.where)]
    if data is not None:
        image = data.get("image") if isinstance(data.get("image"), dict) else {}
        flat = dict(image, **{k: v for k, v in data.items() if not isinstance(v, dict)})
        model = data.get("model")
        if isinstance(model, dict) and model.get("name"):
            flat.setdefault("model", model["name"])
        elif data.get("model_weights"):
            flat.setdefault("model", data["model_weights"])
        ev += _settings_evidence(flat)
    else:
        ev.append(Evidence("Parameters", _clip(f.value)))
    return _claim_declared(
        f"{_src(f)} holds InvokeAI generation metadata ({f.key}): the {noun} was made by Stable Diffusion in InvokeAI; "
        f"{_EASY_TO_FORGE}.",
        ev,
    )


def _novelai_claim(software: MetaField, comment: MetaField | None, source: MetaField | None, description: MetaField | None, noun: str) -> _Claim:
    ev = [Evidence("Generator", "NovelAI", note=software.where)]
    if source is not None:
        ev.append(Evidence("Model", _clip(source.value), note=source.where))
    data = _json_object(comment.value) if comment is not None else None
    if data is not None:
        ev += _settings_evidence(dict(data, negative_prompt=data.get("uc", "")))
    elif description is not None:
        ev.append(Evidence("Prompt", _clip(description.value)))
    return _claim_declared(
        f"PNG metadata names NovelAI as the software and holds its generation settings: the {noun} was made with "
        f"NovelAI; {_EASY_TO_FORGE}.",
        ev,
    )


_SETTING_KEYS = (
    ("prompt", "Prompt"),
    ("positive_prompt", "Prompt"),
    ("c", "Prompt"),
    ("negative_prompt", "Negative prompt"),
    ("model", "Model"),
    ("base_model", "Model"),
    ("steps", "Steps"),
    ("sampler", "Sampler"),
    ("sampler_name", "Sampler"),
    ("scheduler", "Scheduler"),
    ("seed", "Seed"),
    ("cfg_scale", "CFG scale"),
    ("guidance_scale", "CFG scale"),
    ("scale", "CFG scale"),
)


def _looks_like_settings(data: dict[str, Any]) -> bool:
    keys = {k.lower() for k in data if isinstance(k, str)}
    prompt = keys & {"prompt", "positive_prompt", "c", "uc", "negative_prompt"}
    knobs = keys & {"seed", "steps", "sampler", "sampler_name", "cfg_scale", "guidance_scale", "scale", "scheduler", "model"}
    return bool(prompt) and len(knobs) >= 2


def _settings_evidence(data: dict[str, Any]) -> list[Evidence]:
    ev: list[Evidence] = []
    seen: set[str] = set()
    lower = {k.lower(): v for k, v in data.items() if isinstance(k, str)}
    for key, label in _SETTING_KEYS:
        value = lower.get(key)
        if label in seen or value is None or value == "" or isinstance(value, (dict, list)):
            continue
        seen.add(label)
        ev.append(Evidence(label, value if isinstance(value, (int, float, bool)) else _clip(str(value))))
    return ev


# ----------------------------------------------------------------------------------------------
# Reading


def read_metadata(item: "MediaItem") -> tuple[list[MetaField], list[str]]:
    """Every metadata field the file holds, plus one line per source that could not be read."""
    if item.kind is MediaKind.IMAGE:
        return _read_image(item)
    return _read_av(item)


# Errors that a malformed-but-decodable file makes the readers raise; any of them
# means "this source is unreadable", which is reported, not raised.
def _read_errors() -> tuple[type[BaseException], ...]:
    return (OSError, ValueError, SyntaxError, KeyError, IndexError, TypeError, EOFError, struct.error, zlib.error, RecursionError)


def _read_image(item: "MediaItem") -> tuple[list[MetaField], list[str]]:
    fields: list[MetaField] = []
    problems: list[str] = []
    errors = _read_errors()
    fmt = item.info.format
    data = item.read_bytes()
    xmp_packets: list[bytes] = []
    png_texts: list[tuple[str, str, bool]] = []
    if fmt == "png":
        try:
            png_texts, note = png_text_chunks(data)
            if note:
                problems.append(note)
        except errors as exc:
            problems.append(f"PNG text chunks: {_err(exc)}")
        for key, value, truncated in png_texts:
            if key == "XML:com.adobe.xmp":
                xmp_packets.append(value.encode("utf-8", "replace"))
            elif key != "Raw profile type exif":
                fields.append(MetaField("PNG text", key, _sanitize(value), truncated))
    with item.pil() as im:
        try:
            fields += _exif_fields(_png_exif(data, png_texts) if fmt == "png" else im.getexif())
        except errors as exc:
            problems.append(f"EXIF: {_err(exc)}")
        try:
            fields += _iptc_fields(im)
        except errors as exc:
            problems.append(f"IPTC: {_err(exc)}")
        try:
            raw = None if fmt == "png" else im.info.get("xmp")
            if raw is None and hasattr(im, "tag_v2"):
                raw = im.tag_v2.get(700)
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "replace")
            if isinstance(raw, (bytes, bytearray)) and raw:
                xmp_packets.append(bytes(raw))
        except errors as exc:
            problems.append(f"XMP: {_err(exc)}")
        if fmt == "jpeg":
            for marker, body in getattr(im, "applist", []) or []:
                if marker == "COM" and body:
                    fields.append(_field("JPEG comment", "Comment", body))
        elif fmt != "png":
            comment = im.info.get("comment")
            if isinstance(comment, (bytes, str)) and comment:
                fields.append(_field(f"{fmt.upper()} comment", "Comment", comment))
    if not xmp_packets and fmt != "png":
        # GIF, HEIC/AVIF and others where Pillow does not expose the packet.
        raw = _find_xmp_in_bytes(data)
        if raw:
            xmp_packets.append(raw)
    for packet in xmp_packets[:4]:
        xf, problem = xmp_fields(packet)
        fields += xf
        if problem:
            problems.append(problem)
    return fields, problems


_EXIF_BASE = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x010E: "ImageDescription", 0x013B: "Artist", 0x8298: "Copyright", 0x9C9C: "XPComment"}
_EXIF_IFD = {
    0x9286: "UserComment",
    0x9003: "DateTimeOriginal",
    0x829A: "ExposureTime",
    0x829D: "FNumber",
    0x8827: "ISOSpeedRatings",
    0x920A: "FocalLength",
    0xA434: "LensModel",
    0x927C: "MakerNote",
}


def _exif_fields(exif: Any) -> list[MetaField]:
    if not exif:
        return []
    out: list[MetaField] = []
    for tag, name in _EXIF_BASE.items():
        if tag in exif:
            raw = exif[tag]
            if tag == 0x9C9C and isinstance(raw, (bytes, tuple)):
                raw = bytes(raw).decode("utf-16-le", "replace")
            out.append(_field("EXIF", name, raw))
    ifd = exif.get_ifd(0x8769)
    for tag, name in _EXIF_IFD.items():
        if tag not in ifd:
            continue
        raw = ifd[tag]
        if tag == 0x9286:
            out.append(MetaField("EXIF", name, _sanitize(decode_user_comment(raw))))
        elif tag == 0x927C:
            # Camera maker notes are binary; Fooocus writes its scheme name here as text.
            if isinstance(raw, bytes) and len(raw) <= 64 and raw.isascii() and raw.strip(b"\0").isalnum():
                out.append(_field("EXIF", name, raw))
        else:
            out.append(_field("EXIF", name, _exif_value(name, raw)))
    if exif.get_ifd(0x8825):
        out.append(MetaField("EXIF", "GPS", "present (coordinates not shown)"))
    return out


def _exif_value(name: str, raw: Any) -> Any:
    """Camera settings in the units people read: 1/250 s, f/2.8, 50 mm."""
    try:
        if isinstance(raw, tuple) and len(raw) == 2:
            value = raw[0] / raw[1]
        elif name in ("ExposureTime", "FNumber", "FocalLength"):
            value = float(raw)
        else:
            return raw
    except (TypeError, ValueError, ZeroDivisionError):
        return raw
    if name == "ExposureTime":
        return f"1/{round(1 / value)} s" if 0 < value < 1 else f"{value:g} s"
    if name == "FNumber":
        return f"f/{value:.1f}"
    if name == "FocalLength":
        return f"{value:g} mm"
    return f"{value:g}"


def decode_user_comment(raw: Any) -> str:
    """Decode EXIF UserComment: an 8-byte charset prefix (ASCII/UNICODE/JIS/undefined) then the text.

    AUTOMATIC1111 (through piexif) writes ``UNICODE\\0`` followed by UTF-16 big-endian;
    other writers use little-endian, so the byte order is guessed from where the
    zero bytes of ASCII characters fall.
    """
    if isinstance(raw, str):
        return raw
    if isinstance(raw, tuple):
        raw = bytes(raw)
    if not isinstance(raw, (bytes, bytearray)):
        return str(raw)
    head, body = bytes(raw[:8]), bytes(raw[8:])
    if head == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace")
        even_zeros = body[0:200:2].count(0)
        odd_zeros = body[1:200:2].count(0)
        return body.decode("utf-16-be" if even_zeros >= odd_zeros else "utf-16-le", "replace").rstrip("\x00")
    if head == b"ASCII\x00\x00\x00":
        return body.decode("utf-8", "replace").rstrip("\x00")
    if head == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", "replace").rstrip("\x00")
    if head == b"\x00" * 8:
        return body.decode("utf-8", "replace").rstrip("\x00")
    return bytes(raw).decode("utf-8", "replace").rstrip("\x00")


_IPTC = {(2, 65): "OriginatingProgram", (2, 70): "ProgramVersion", (2, 110): "Credit", (2, 115): "Source", (2, 120): "Caption/Abstract", (2, 5): "ObjectName", (2, 80): "By-line"}


def _iptc_fields(im: Any) -> list[MetaField]:
    from PIL import IptcImagePlugin

    info = IptcImagePlugin.getiptcinfo(im)
    if not info:
        return []
    out: list[MetaField] = []
    for key, name in _IPTC.items():
        value = info.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        out.append(_field("IPTC", name, b"; ".join(v for v in values if isinstance(v, bytes))))
    return out


def _png_chunk_spans(data: bytes, wanted: frozenset[bytes]) -> tuple[list[tuple[bytes, int, int]], str | None]:
    """(type, body start, body end) of the wanted chunks, walking the whole file (text may follow IDAT)."""
    spans: list[tuple[bytes, int, int]] = []
    pos, count = 8, 0
    while pos + 8 <= len(data):
        count += 1
        if count > MAX_PNG_CHUNKS:
            return spans, f"PNG: more than {MAX_PNG_CHUNKS} chunks; the rest were not read"
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            return spans, f"PNG: chunk {ctype.decode('latin-1')!r} runs past the end of the file"
        if ctype == b"IEND":
            break
        if ctype in wanted:
            spans.append((ctype, start, end))
        pos = end + 4  # skip CRC
    return spans, None


_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})


def png_text_chunks(data: bytes) -> tuple[list[tuple[str, str, bool]], str | None]:
    """(keyword, text, truncated) for every tEXt/zTXt/iTXt chunk of a PNG, with memory caps.

    Reads chunks after IDAT too (ComfyUI and others may write text after the image data).
    Returns a note when the chunk list is cut short or capped.
    """
    out: list[tuple[str, str, bool]] = []
    spans, note = _png_chunk_spans(data, _PNG_TEXT)
    total = 0
    for ctype, start, end in spans:
        key_b, sep, rest = data[start:end].partition(b"\x00")
        if not sep:
            continue
        key = key_b[:79].decode("latin-1")
        budget = min(MAX_TEXT_VALUE_BYTES, MAX_TEXT_TOTAL_BYTES - total)
        if budget <= 0:
            note = f"PNG: text chunks above {MAX_TEXT_TOTAL_BYTES >> 20} MiB in total were not read"
            break
        try:
            if ctype == b"tEXt":
                raw, truncated = rest[:budget], len(rest) > budget
                text = raw.decode("latin-1")
            elif ctype == b"zTXt":
                raw, truncated = _inflate(rest[1:], budget)
                text = raw.decode("latin-1")
            else:
                if len(rest) < 2:
                    continue
                compressed = rest[0] == 1
                _lang, _, rest2 = rest[2:].partition(b"\x00")
                _tkey, _, payload = rest2.partition(b"\x00")
                if compressed:
                    raw, truncated = _inflate(payload, budget)
                else:
                    raw, truncated = payload[:budget], len(payload) > budget
                text = raw.decode("utf-8", "replace")
        except zlib.error:
            out.append((key, "(compressed text that does not inflate)", False))
            continue
        total += len(raw)
        out.append((key, text, truncated))
    return out, note


def _png_exif(data: bytes, texts: list[tuple[str, str, bool]]) -> Any:
    """The PNG's EXIF as a Pillow ``Exif``, from eXIf or ImageMagick's hex "Raw profile type exif".

    Pillow's own ``PngImageFile.getexif`` decodes the whole image to look for eXIf
    after IDAT; walking the chunks is ~50x faster on a 512 px PNG.
    """
    from PIL import Image

    exif = Image.Exif()
    spans, _ = _png_chunk_spans(data, frozenset({b"eXIf"}))
    if spans:
        _, start, end = spans[0]
        exif.load(data[start:end])
        return exif
    for key, text, _ in texts:
        if key == "Raw profile type exif":
            # "\nexif\n     <length>\n<hex lines>"
            hex_digits = "".join(text.strip().split("\n")[2:])
            exif.load(bytes.fromhex("".join(hex_digits.split())))
            break
    return exif


def _inflate(payload: bytes, budget: int) -> tuple[bytes, bool]:
    d = zlib.decompressobj()
    raw = d.decompress(payload, budget)
    return raw, bool(d.unconsumed_tail)


def _find_xmp_in_bytes(data: bytes) -> bytes | None:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
        end_tag = b"</rdf:RDF>"
    else:
        end_tag = b"</x:xmpmeta>"
    if start < 0:
        return None
    end = data.find(end_tag, start)
    if end < 0:
        return data[start : start + MAX_XMP_BYTES + 1]
    return data[start : end + len(end_tag)]


def xmp_fields(packet: bytes, *, source: str = "XMP") -> tuple[list[MetaField], str | None]:
    """Flatten an XMP packet into ``prefix:Name`` fields; returns (fields, problem or None).

    The packet is parsed with ``xml.etree`` only when it is under ``MAX_XMP_BYTES``
    and declares no DTD or entity (XMP never needs one; refusing them rules out
    entity expansion bombs and external entity fetches). Otherwise, or when it is
    malformed, simple ``prefix:Name="value"`` and ``<prefix:Name>value<`` patterns
    are read instead, so a damaged packet still yields what it plainly says.
    """
    import xml.etree.ElementTree as ET

    text = packet.decode("utf-8", "replace").strip("\x00 \r\n\t")
    start = min((i for i in (text.find("<x:xmpmeta"), text.find("<rdf:RDF"), text.find("<x:xapmeta")) if i >= 0), default=-1)
    body = text[start:] if start >= 0 else text
    for end_tag in ("</x:xmpmeta>", "</x:xapmeta>", "</rdf:RDF>"):
        end = body.rfind(end_tag)
        if end >= 0 and body.startswith(end_tag[:1] + end_tag[2:-1]):
            body = body[: end + len(end_tag)]
            break
    if len(packet) > MAX_XMP_BYTES:
        return _xmp_pattern_fields(body[:MAX_XMP_BYTES], source), f"XMP packet is {len(packet) >> 20} MiB; only pattern-scanned"
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        return _xmp_pattern_fields(body, source), "XMP packet declares a DTD or entities; refused to parse it, pattern-scanned instead"
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError) as exc:
        return _xmp_pattern_fields(body, source), f"XMP packet is malformed ({_err(exc)}); pattern-scanned instead"
    out: list[MetaField] = []
    for el in root.iter():
        ns, local = _split_tag(el.tag)
        for attr, value in el.attrib.items():
            ans, alocal = _split_tag(attr)
            if ans in _SKIP_NS or ans is None:
                if ans == _RDF and alocal == "resource" and ns not in _SKIP_NS:
                    out.append(MetaField(source, _qname(ns, local), _sanitize(value)))
                continue
            out.append(MetaField(source, _qname(ans, alocal), _sanitize(value)))
        if ns in _SKIP_NS or ns is None:
            continue
        own = (el.text or "").strip()
        if own:
            out.append(MetaField(source, _qname(ns, local), _sanitize(own)))
        else:
            items = [(li.text or "").strip() for li in el.iter(f"{{{_RDF}}}li")]
            items = [i for i in items if i]
            if items:
                out.append(MetaField(source, _qname(ns, local), _sanitize("; ".join(items))))
    return out, None


_XMP_ATTR = re.compile(r'\b([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s*=\s*"([^"<]{0,2000})"')
_XMP_ELEM = re.compile(r"<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)(?:\s[^>]*)?>([^<]{1,2000})</\1:\2>")
_XMP_RESOURCE = re.compile(r'<([A-Za-z][\w.-]*):([A-Za-z][\w.-]*)\s+rdf:resource\s*=\s*"([^"<]{0,2000})"')


def _xmp_pattern_fields(text: str, source: str) -> list[MetaField]:
    out: list[MetaField] = []
    for regex in (_XMP_ATTR, _XMP_ELEM, _XMP_RESOURCE):
        for m in regex.finditer(text):
            prefix, name, value = m.group(1), m.group(2), m.group(3)
            if prefix in ("xmlns", "rdf", "x", "xml") or not value.strip():
                continue
            out.append(MetaField(source, f"{prefix}:{name}", _sanitize(value)))
            if len(out) >= 10_000:
                return out
    return out


def _split_tag(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _qname(ns: str | None, local: str) -> str:
    return f"{_NS.get(ns or '', ns)}:{local}"


def _read_av(item: "MediaItem") -> tuple[list[MetaField], list[str]]:
    import av

    fields: list[MetaField] = []
    problems: list[str] = []
    try:
        # Tag bytes that are not UTF-8 come back with replacement characters rather than raising.
        container = av.open(str(item.path), metadata_errors="replace", timeout=10.0)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        return fields, [f"container tags: {_err(exc)}"]
    with container:
        try:
            fields += _tag_fields("container tag", container.metadata)
            for stream in container.streams:
                fields += _tag_fields(f"stream {stream.index} tag", stream.metadata)
        except (av.FFmpegError, *_read_errors(), UnicodeDecodeError) as exc:
            problems.append(f"container tags: {_err(exc)}")
    return fields, problems


# Tags every muxer writes; they say nothing about how the content was made.
_IGNORED_TAGS = {"major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id", "language", "duration", "creation_time", "timecode"}


def _tag_fields(source: str, tags: dict[str, Any]) -> Iterator[MetaField]:
    for key, value in list(tags.items())[:1000]:
        k = str(key)
        if k.lower() in _IGNORED_TAGS:
            continue
        if k.lower() in ("location", "com.apple.quicktime.location.iso6709", "location-eng"):
            yield MetaField(source, "GPS", "present (coordinates not shown)")
            continue
        yield _field(source, k.lower(), value)


def _field(source: str, key: str, raw: Any) -> MetaField:
    if isinstance(raw, (bytes, bytearray)):
        text = bytes(raw[:MAX_TEXT_VALUE_BYTES]).decode("utf-8", "replace")
    elif isinstance(raw, tuple) and len(raw) == 2 and all(isinstance(x, int) for x in raw):
        text = f"{raw[0]}/{raw[1]}"
    else:
        text = str(raw)
    return MetaField(source, key, _sanitize(text), truncated=isinstance(raw, (bytes, bytearray)) and len(raw) > MAX_TEXT_VALUE_BYTES)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+")


def _sanitize(text: str) -> str:
    """Drop control characters (binary garbage, NUL padding) so values print and compare cleanly."""
    return _CONTROL.sub(" ", text).strip()


def _clip(text: str, limit: int = EVIDENCE_TEXT_CHARS) -> str:
    text = " ".join(str(text)[: 20 * limit].split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _json_object(text: str) -> dict[str, Any] | None:
    s = text.strip()
    if not s.startswith("{") or len(s) > MAX_TEXT_VALUE_BYTES:
        return None
    try:
        data = json.loads(s)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _err(exc: BaseException) -> str:
    text = str(exc).split("\n")[0].strip()
    return f"{exc.__class__.__name__}: {text}"[:200] if text else exc.__class__.__name__
