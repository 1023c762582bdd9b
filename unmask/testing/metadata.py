"""Makers of media whose metadata says how they were made (generator, editor, camera).

Each maker writes a real file the way the named tool does (key names, encodings,
chunk types) so the ``metadata`` detector is tested on what it meets in the wild:

* ``make_a1111_png`` — PNG tEXt ``parameters`` (AUTOMATIC1111 / Forge infotext)
* ``make_comfyui_png`` — PNG tEXt ``prompt`` (API graph) and ``workflow`` (UI graph) JSON
* ``make_a1111_jpeg`` — JPEG with the infotext in EXIF UserComment, ``UNICODE\\0`` + UTF-16BE (piexif's encoding)
* ``make_xmp_jpeg`` — JPEG with an XMP packet declaring IPTC DigitalSourceType
* ``make_camera_jpeg`` — JPEG with camera EXIF (Make, Model, DateTimeOriginal, exposure)
* ``make_edited_jpeg`` — JPEG whose EXIF Software names an editor (Photoshop)
* ``make_tagged_mp4`` — MP4 whose container tags name a generator (PyAV)

The pixels are a smooth deterministic pattern: what matters here is the metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

A1111_PROMPT = "a photograph of an astronaut riding a horse on mars, highly detailed, 8k"
A1111_NEGATIVE = "blurry, lowres, watermark"
A1111_PARAMETERS = (
    f"{A1111_PROMPT}\n"
    f"Negative prompt: {A1111_NEGATIVE}\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x512, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.9.4'
)

COMFYUI_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}

IPTC_DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def pattern_rgb(width_px: int = 128, height_px: int = 96, *, seed: int = 0) -> np.ndarray:
    """(height_px, width_px, 3) uint8: smooth gradients plus mild noise, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height_px, 0:width_px].astype(np.float32)
    r = 128 + 100 * np.sin(x / max(width_px, 1) * 6.28)
    g = 128 + 100 * np.cos(y / max(height_px, 1) * 6.28)
    b = 128 + 60 * np.sin((x + y) / max(width_px + height_px, 1) * 12.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 4, (height_px, width_px, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _image(width_px: int, height_px: int, seed: int):  # -> PIL.Image.Image
    from PIL import Image

    return Image.fromarray(pattern_rgb(width_px, height_px, seed=seed), "RGB")


def make_png_with_text(path: str | Path, chunks: dict[str, str], *, compress: bool = False, width_px: int = 128, height_px: int = 96) -> Path:
    """A PNG with the given text chunks: tEXt (or zTXt/iTXt when ``compress`` or non-Latin-1 text)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=compress)
    path = Path(path)
    _image(width_px, height_px, 1).save(path, "PNG", pnginfo=info)
    return path


def make_a1111_png(path: str | Path, *, parameters: str = A1111_PARAMETERS, width_px: int = 128, height_px: int = 96) -> Path:
    """PNG as AUTOMATIC1111 saves it: one tEXt chunk ``parameters`` holding the infotext."""
    return make_png_with_text(path, {"parameters": parameters}, width_px=width_px, height_px=height_px)


def make_comfyui_png(path: str | Path, *, width_px: int = 128, height_px: int = 96) -> Path:
    """PNG as ComfyUI's SaveImage writes it: tEXt ``prompt`` (API graph) and ``workflow`` (UI graph)."""
    workflow = {
        "last_node_id": 9,
        "last_link_id": 9,
        "nodes": [{"id": int(k), "type": v["class_type"], "widgets_values": list(v["inputs"].values())[:2]} for k, v in COMFYUI_PROMPT.items()],
        "links": [],
        "version": 0.4,
    }
    return make_png_with_text(
        path,
        {"prompt": json.dumps(COMFYUI_PROMPT), "workflow": json.dumps(workflow)},
        width_px=width_px,
        height_px=height_px,
    )


def make_a1111_jpeg(path: str | Path, *, parameters: str = A1111_PARAMETERS, fmt: str = "JPEG", width_px: int = 128, height_px: int = 96) -> Path:
    """JPEG (or WebP with ``fmt="WEBP"``) as AUTOMATIC1111 saves it: infotext in EXIF UserComment.

    A1111 calls ``piexif.helper.UserComment.dump(text, encoding="unicode")``: the
    8-byte ``UNICODE\\0`` prefix, then UTF-16 big-endian.
    """
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + parameters.encode("utf-16-be")
    path = Path(path)
    _image(width_px, height_px, 2).save(path, fmt, exif=exif, quality=90)
    return path


def xmp_packet(properties: dict[str, str]) -> bytes:
    """An XMP packet with ``prefix:Name`` = value attributes on one rdf:Description.

    Known prefixes: Iptc4xmpExt, photoshop, xmp, dc (as element), tiff, TC260.
    """
    namespaces = {
        "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "tiff": "http://ns.adobe.com/tiff/1.0/",
        "TC260": "http://www.tc260.org.cn/ns/AIGC/1.0/",
    }
    from xml.sax.saxutils import quoteattr

    used = sorted({k.split(":", 1)[0] for k in properties})
    decl = " ".join(f'xmlns:{p}="{namespaces[p]}"' for p in used if p in namespaces)
    attrs = " ".join(f"{k}={quoteattr(v)}" for k, v in properties.items())
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about="" {decl} {attrs}/>\n'
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return text.encode("utf-8")


def make_xmp_jpeg(
    path: str | Path,
    *,
    source_type: str = "trainedAlgorithmicMedia",
    extra: dict[str, str] | None = None,
    packet: bytes | None = None,
    width_px: int = 128,
    height_px: int = 96,
) -> Path:
    """JPEG with an XMP APP1 packet declaring ``Iptc4xmpExt:DigitalSourceType`` (or the given raw ``packet``)."""
    props = {"Iptc4xmpExt:DigitalSourceType": IPTC_DST_PREFIX + source_type, **(extra or {})}
    path = Path(path)
    _image(width_px, height_px, 3).save(path, "JPEG", xmp=packet if packet is not None else xmp_packet(props), quality=90)
    return path


def make_camera_jpeg(
    path: str | Path,
    *,
    make: str = "Canon",
    model: str = "Canon EOS R5",
    taken: str = "2023:05:01 10:00:00",
    software: str | None = None,
    fmt: str = "JPEG",
    width_px: int = 128,
    height_px: int = 96,
) -> Path:
    """JPEG with the EXIF a camera writes: Make, Model, DateTimeOriginal, exposure, F-number, ISO.

    ``fmt="PNG"`` stores the same EXIF in a PNG eXIf chunk (as phones' screenshots and exports do).
    """
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    if software is not None:
        exif[0x0131] = software
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = taken
    ifd[0x829A] = (1, 250)  # ExposureTime 1/250 s
    ifd[0x829D] = (28, 10)  # FNumber f/2.8
    ifd[0x8827] = 400  # ISO
    path = Path(path)
    _image(width_px, height_px, 4).save(path, fmt, exif=exif, **({"quality": 92} if fmt == "JPEG" else {}))
    return path


def make_edited_jpeg(path: str | Path, *, software: str = "Adobe Photoshop 25.1 (Windows)", width_px: int = 128, height_px: int = 96) -> Path:
    """JPEG saved by an editor: EXIF Software names it (Photoshop writes its version and platform)."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0131] = software
    path = Path(path)
    _image(width_px, height_px, 5).save(path, "JPEG", exif=exif, quality=90)
    return path


def make_plain_image(path: str | Path, fmt: str = "PNG", *, width_px: int = 128, height_px: int = 96) -> Path:
    """An image with no metadata at all (Pillow writes none unless asked)."""
    path = Path(path)
    _image(width_px, height_px, 6).save(path, fmt)
    return path


def make_tagged_mp4(
    path: str | Path,
    *,
    tags: dict[str, str] | None = None,
    seconds: float = 1.0,
    fps: int = 10,
    width_px: int = 64,
    height_px: int = 48,
) -> Path:
    """MP4 (MPEG-4 Part 2 video) with the given container tags; default names a generator in ``comment``.

    FFmpeg's muxer always overwrites ``encoder`` with its own ``Lavf`` version, as any
    file written through FFmpeg carries; the generator name therefore goes in
    ``comment``/``title``, as web generators that re-wrap FFmpeg output do.
    """
    import av

    tags = {"comment": "Generated with Runway Gen-3 Alpha", "title": "runway-gen3 output"} if tags is None else tags
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as container:
        for key, value in tags.items():
            container.metadata[key] = value
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width_px, height_px, "yuv420p"
        for i in range(max(1, int(round(seconds * fps)))):
            frame = av.VideoFrame.from_ndarray(pattern_rgb(width_px, height_px, seed=i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def replace_bytes(path: str | Path, old: bytes, new: bytes) -> Path:
    """Overwrite ``old`` with ``new`` (same length) in a file: plants damaged metadata in a valid file."""
    if len(old) != len(new):
        raise ValueError(f"replacement must keep the length: {len(old)} bytes vs {len(new)} bytes")
    path = Path(path)
    data = path.read_bytes()
    if old not in data:
        raise ValueError(f"{path.name} does not contain the {len(old)}-byte marker to replace")
    path.write_bytes(data.replace(old, new))
    return path
