"""unmask: offline detection of deepfakes and synthetic media.

Subpackages, along the data's path:

- ``media``      safe decoding: path → probed MediaItem → frames, image, 16 kHz audio
- ``detectors``  one module per detector behind the Detector protocol and a lazy registry
- ``fusion``     findings → one calibrated verdict, by written-down rules
- ``report``     Report → JSON (versioned schema) and a self-contained HTML page
- ``cli``        the ``unmask`` command

Public names are imported lazily so that ``import unmask`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "scan": "unmask._scan",
    "scan_many": "unmask._scan",
    "Report": "unmask.core",
    "Finding": "unmask.core",
    "Verdict": "unmask.core",
    "MediaInfo": "unmask.core",
    "MediaKind": "unmask.core",
    "FindingStatus": "unmask.core",
    "Signal": "unmask.core",
    "Strength": "unmask.core",
    "Evidence": "unmask.core",
    "Attachment": "unmask.core",
    "TimelinePoint": "unmask.core",
    "ScanOptions": "unmask.config",
    "Limits": "unmask.config",
    "UnmaskError": "unmask.errors",
    "InputError": "unmask.errors",
    "list_detectors": "unmask.detectors._registry",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'unmask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
