"""Safe decoding: path → probed ``MediaItem`` → frames (video), RGB image, 16 kHz mono audio.

The only package that opens user files. See ``open_media``.
"""

from unmask.media.item import AUDIO_RATE_HZ, Frame, MediaItem, open_media
from unmask.media.sniff import Sniffed, sniff

__all__ = ["AUDIO_RATE_HZ", "Frame", "MediaItem", "Sniffed", "open_media", "sniff"]
