"""Detectors: one module per detector behind the ``Detector`` protocol (see ``_base``) and a lazy registry."""

from unmask.detectors._base import Detector, DetectorCard, not_applicable, scored
from unmask.detectors._registry import create, default_detectors, get_card, list_detectors

__all__ = ["Detector", "DetectorCard", "create", "default_detectors", "get_card", "list_detectors", "not_applicable", "scored"]
