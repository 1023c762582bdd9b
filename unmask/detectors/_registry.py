"""The table of detectors: name → card (static facts + "module:attr" factory).

Listing detectors reads this table only; a detector's module (and onnxruntime,
PyAV, model weights) is imported when a scan first creates it. The table is the
only module-level registry and is read-only after import.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from unmask.core import MediaKind
from unmask.detectors._base import Detector, DetectorCard
from unmask.errors import UsageError

if TYPE_CHECKING:
    from unmask.config import ScanOptions

_ALL = frozenset(MediaKind)
_IMAGE = frozenset({MediaKind.IMAGE})
_VISUAL = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
_AUDIBLE = frozenset({MediaKind.AUDIO, MediaKind.VIDEO})

_CARDS: tuple[DetectorCard, ...] = (
    DetectorCard(
        name="c2pa",
        version="1.0.0",
        kinds=_ALL,
        family="provenance",
        summary="C2PA Content Credentials: signer, trust, hashes, actions and digitalSourceType (AI-generated or captured)",
        factory="unmask.detectors.c2pa_manifest:create",
    ),
    DetectorCard(
        name="watermark",
        version="1.0.0",
        kinds=_VISUAL,
        family="provenance",
        summary="Invisible generator watermarks: Stable Diffusion v1 and SDXL dwtDct",
        factory="unmask.detectors.watermark:create",
    ),
    DetectorCard(
        name="metadata",
        version="1.0.0",
        kinds=_ALL,
        family="provenance",
        summary="EXIF/XMP/IPTC DigitalSourceType, generator text chunks (A1111, ComfyUI, ...), editing software tags",
        factory="unmask.detectors.metadata:create",
    ),
    DetectorCard(
        name="ai-image",
        version="0.2.0",
        kinds=_VISUAL,
        family="ml",
        summary="Whole-image generation artifacts (GAN/diffusion up-sampling traces) from a small CNN on pixel residuals",
        factory="unmask.detectors.ai_image:create",
        experimental=True,  # dev-set AUC 0.730 < 0.90 target (unmask/models/ai-image.md)
    ),
    DetectorCard(
        name="face-swap",
        version="0.1.0",
        kinds=_VISUAL,
        family="ml",
        summary="Swapped or blended-in faces: MTCNN faces aligned and scored by a CNN trained on self-blended images; heat maps, per-track timelines",
        factory="unmask.detectors.face_swap:create",
        experimental=True,  # dev-set AUC 0.740 < 0.90 target, 0.57 after H.264 (unmask/models/face-swap.md)
    ),
    DetectorCard(
        name="voice",
        version="0.5.0",
        kinds=_AUDIBLE,
        family="ml",
        summary="Cloned/synthetic voice: speech found by VAD, scored in 4 s windows by a log-spectrum LCNN trained on pretrained-vocoder, neural TTS, DSP and espeak spoofs",
        factory="unmask.detectors.voice:create",
        experimental=True,  # dev-set EER 0.29 > 0.10 target: unseen vocoder families stay near chance (unmask/models/voice.md)
    ),
    DetectorCard(
        name="lip-sync",
        version="0.3.0",
        kinds=frozenset({MediaKind.VIDEO}),
        family="signal",
        summary="Does the mouth move with the voice? Mouth opening vs speech envelope over offsets ±0.6 s per face track; sync timeline",
        factory="unmask.detectors.lip_sync:create",
        experimental=True,  # held-out AUC 0.79-0.90 < 0.95 target per negative type (unmask/models/lip-sync.md)
    ),
)

_BY_NAME = {card.name: card for card in _CARDS}


def list_detectors() -> tuple[DetectorCard, ...]:
    """Every registered detector's card, in the order they run."""
    return _CARDS


def default_detectors() -> tuple[DetectorCard, ...]:
    """The detectors a scan runs when none are named: every one that is not experimental."""
    return tuple(card for card in _CARDS if not card.experimental)


def select_detectors(names: tuple[str, ...] | None) -> tuple[DetectorCard, ...]:
    """Cards for a ``--detectors`` selection, in registry order.

    ``None`` (or nothing) gives the defaults. Plain names give exactly those
    detectors; names prefixed with ``+`` are added to the defaults, so
    ``+voice`` runs the provenance detectors and the experimental voice model.
    """
    if not names:
        return default_detectors()
    added = {n[1:] for n in names if n.startswith("+")}
    only = {n for n in names if not n.startswith("+")}
    if added and only:
        raise UsageError("mix of plain and '+' detector names", hint="use 'a,b' for only these, or '+a,+b' to add to the defaults")
    wanted = {get_card(n).name for n in added | only}
    if added:
        wanted |= {card.name for card in default_detectors()}
    return tuple(card for card in _CARDS if card.name in wanted)


def parse_detector_names(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` or ``"+a,+b"`` from a command line → validated names (None when empty)."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    if not names:
        return None
    select_detectors(names)  # raises UsageError with "did you mean"
    return names


def get_card(name: str) -> DetectorCard:
    try:
        return _BY_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, _BY_NAME, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "run `unmask detectors` to list them"
        raise UsageError(f"unknown detector {name!r}", hint=hint) from None


def create(name: str, options: "ScanOptions") -> Detector:
    """Import the detector's module and build it (loading weights on first use)."""
    card = get_card(name)
    module_name, _, attr = card.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(card, options)
