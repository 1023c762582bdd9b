"""Report → JSON (validated against the versioned ``schema.json``) and a self-contained HTML page."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from unmask.report.html import render_html, timeline_svg


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The JSON schema every report follows (``schema_version`` 1.0)."""
    return json.loads(resources.files("unmask.report").joinpath("schema.json").read_text("utf-8"))


__all__ = ["render_html", "report_schema", "timeline_svg"]
