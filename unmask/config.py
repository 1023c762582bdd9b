"""Options that travel from the interfaces (CLI, API, server, batch) down to the stages.

Plain frozen dataclasses, passed explicitly: no stage reads environment variables
or module globals for its settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what unmask will decode; exceeding one raises LimitExceededError.

    Defaults are sized for a laptop with 8 GiB of memory: a 100-megapixel image
    decodes to 300 MB of RGB, a 2-hour recording to 460 MB of 16 kHz float32.
    """

    max_file_bytes: int = 4096 * MiB
    max_image_pixels: int = 100_000_000  # decompression-bomb guard (a 30000x30000 PNG is 900 MP)
    max_duration_s: float = 2 * 3600.0  # longest video or recording analysed
    max_frames: int = 20_000  # most sampled video frames analysed per file
    max_frame_pixels: int = 8192 * 4320  # largest video frame (8K UHD)
    max_decoded_frames: int = 2_000_000  # frames decoded (not just sampled) before giving up

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_image_pixels", "max_duration_s", "max_frames", "max_frame_pixels", "max_decoded_frames"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


# Two frames per second catches face swaps, which are consistent over whole shots,
# while keeping 720p video well above real time on two cores; raise it for short clips.
DEFAULT_VIDEO_SAMPLE_FPS = 2.0


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Everything a scan can be told.

    Parameters
    ----------
    limits : Limits
        Decoding limits (file size, pixels, duration, frames).
    detectors : tuple of str or None, default=None
        Names of the detectors to run; None runs every registered detector that
        accepts the media kind.
    trust_anchors : path or None, default=None
        PEM bundle of certificate authorities whose C2PA signatures count as trusted.
        Without it, unmask trusts the anchors in ``UNMASK_C2PA_TRUST_ANCHORS`` if set, else none.
    video_sample_fps : float, default=2.0
        Frames per second sampled from video for frame-based detectors.
    calibrated : bool, default=True
        Apply calibrations fitted with ``unmask calibrate``; False gives raw model
        scores (what ``unmask calibrate`` itself fits on).
    calibration_dir : path or None, default=None
        Where fitted calibrations are read from; None means ``UNMASK_CALIBRATION_DIR``
        or ``~/.local/share/unmask/calibration``.
    voice_model : str or None, default=None
        Model the ``voice`` detector runs: None for the shipped LCNN, or
        ``"aasist:PATH"`` for a published AASIST / AASIST-L checkpoint (needs torch).
    """

    limits: Limits = field(default_factory=Limits)
    detectors: tuple[str, ...] | None = None
    trust_anchors: str | None = None
    video_sample_fps: float = DEFAULT_VIDEO_SAMPLE_FPS
    calibrated: bool = True
    calibration_dir: str | None = None
    voice_model: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.video_sample_fps <= 240:
            raise ValueError(f"video_sample_fps must be in (0, 240] frames per second, got {self.video_sample_fps!r}")

    def with_(self, **changes: object) -> "ScanOptions":
        return replace(self, **changes)

    def resolved_trust_anchors(self) -> str | None:
        # The environment variable exists for the server and batch workers, which are
        # configured by deployment rather than by argument; an explicit option wins.
        return self.trust_anchors or os.environ.get("UNMASK_C2PA_TRUST_ANCHORS") or None
