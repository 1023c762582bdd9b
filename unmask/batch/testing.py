"""Media makers for batch tests and benchmarks: many small, distinct files quickly."""

from __future__ import annotations

import os
from pathlib import Path


def make_small_images(folder: str | os.PathLike[str], n: int, *, size_px: int = 32, seed: int = 0, broken_every: int = 0) -> list[Path]:
    """``n`` distinct random-noise PNGs (``img-00000.png`` …); every ``broken_every``-th is a truncated JPEG instead.

    Noise images carry no provenance; the broken ones are unreadable (verdict
    "error"), which exercises the error path too.
    """
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if broken_every and i % broken_every == broken_every - 1:
            path = folder / f"img-{i:05d}.jpg"
            path.write_bytes(b"\xff\xd8\xff\xe0" + rng.bytes(64))
        else:
            path = folder / f"img-{i:05d}.png"
            Image.fromarray(rng.integers(0, 255, (size_px, size_px, 3), dtype=np.uint8)).save(path)
        out.append(path)
    return out
