"""Loading a shipped ONNX model: its JSON card, a sha256 check, an onnxruntime session.

Every trained detector ships ``weights/<name>.onnx`` beside ``weights/<name>.json``
(weights file name, sha256, input contract, Platt calibration, measured numbers).
A missing, unreadable or corrupt file is a ``ModelError`` (exit code 4) with a
one-line message, never an onnxruntime traceback.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unmask.errors import ModelError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def sigmoid(z: float | np.ndarray) -> np.ndarray:
    """Logistic function, clipped so large logits never overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


@dataclass(frozen=True)
class ShippedModel:
    meta: dict[str, Any]  # the JSON card
    session: Any  # onnxruntime.InferenceSession
    sha256: str
    a: float  # Platt calibration: p = sigmoid(a * logit + b)
    b: float

    def probability(self, logit: float | np.ndarray) -> np.ndarray:
        return sigmoid(self.a * np.asarray(logit, dtype=np.float64) + self.b)


def load_shipped_model(card_file: str, *, weights_dir: Path = WEIGHTS_DIR, label: str, threads: int | None = None) -> ShippedModel:
    """Read ``weights_dir/card_file``, check the weights' sha256 and open them with onnxruntime."""
    import onnxruntime as ort

    try:
        meta = json.loads((weights_dir / card_file).read_text())
        data = (weights_dir / meta["weights"]).read_bytes()
        a, b = float(meta["calibration"]["a"]), float(meta["calibration"]["b"])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{label} model files are missing or unreadable ({exc})", hint="reinstall unmask") from exc
    sha = hashlib.sha256(data).hexdigest()
    if sha != meta.get("sha256"):
        raise ModelError(
            f"{label} weights are corrupt: sha256 {sha[:12]}… differs from {str(meta.get('sha256'))[:12]}… in {card_file}",
            hint="reinstall unmask",
        )
    try:
        opts = ort.SessionOptions()
        # No busy-waiting between ops: scans share cores with decoding and other workers,
        # and spinning threads then cost more than they save.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = threads
        session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"{label} weights could not be loaded by onnxruntime ({exc})") from exc
    return ShippedModel(meta, session, sha, a, b)
