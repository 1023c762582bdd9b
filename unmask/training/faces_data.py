"""Self-Blended Images (SBI) from real faces only, for the ``face-swap`` model.

Shiohara & Yamasaki (CVPR 2022): a face swap leaves a seam where a foreign face
is pasted into a frame, and colour, sharpness and position never quite match on
both sides. SBI makes that seam from *one* real photo: a copy of the face is
altered (colour, frequency, position) and blended back into the original inside
a deformed landmark hull. No fake from any generator is needed, so the model
learns the seam, not one generator's fingerprint.

What this module owns:

- ``build_cache``: every ``faces.jsonl`` record with iBUG 68-point landmarks →
  the canonical crop of ``unmask.faces.align`` (exactly the crop the detector
  scores) and the landmarks warped into it, saved once as ``.npz``;
- ``split_identities``: train / calibration / report identities (no person in
  two splits);
- ``self_blend``: one SBI fake + its soft blend mask from a crop and landmarks.
  ``LOWER_FACE_SHARE`` of the fakes blend only the mouth/jaw region — what
  lip-sync tools (Wav2Lip and kin) paste back (issue 7);
- ``degrade``: one random chain of geometry jitter, flip, resize, blur, noise,
  H.264 (``CODEC_SHARE`` of the crops: a small face coded by libx264 at CRF
  23-35, then scaled back up) and JPEG, drawn from the same distribution for
  real and fake crops, so that compression or size never tells the classes apart;
- ``SbiPairs``: a torch ``Dataset`` of (real, fake, boundary target) triples.

It uses OpenCV (``opencv-python-headless``, in the ``train`` extra) for speed;
nothing outside ``unmask.training`` imports it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from unmask.faces.align import align_face, five_from_68, warp_points

LOWER_FACE_SHARE = 0.25  # issue 7: the lip-sync seam (mouth/jaw only)
HULL_KINDS = ("face", "extended", "inner")  # full-face variants, drawn uniformly for the other 75 %
MASK_STRIDE_PX = 8  # the network's mask head resolution (faces_model.MASK_STRIDE_PX)
_JAW, _BROWS, _NOSE = list(range(17)), list(range(17, 27)), list(range(27, 36))
# Lower face: jaw from below the cheekbones round the chin, closed across the nose wings;
# Wav2Lip-style tools paste roughly the box below the nose.
_LOWER = list(range(2, 15)) + [35, 33, 31]


# ------------------------------------------------------------------------------------------------
# cache


@dataclass(frozen=True, slots=True)
class FaceCache:
    """Aligned crops of every usable record: ``images`` (N, S, S, 3) uint8, ``landmarks`` (N, 68, 2) crop px."""

    images: np.ndarray
    landmarks: np.ndarray
    identity: np.ndarray  # "<source>:<identity>" strings
    source: np.ndarray
    file: np.ndarray

    @property
    def size_px(self) -> int:
        return int(self.images.shape[1])


def usable_records(data_dir: Path) -> list[dict]:
    """``faces.jsonl`` records with iBUG 68-point landmarks (the hull needs the jaw line)."""
    recs = [json.loads(line) for line in (data_dir / "faces.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in recs if r.get("landmark_scheme") == "68pt" and r.get("landmarks")]


def build_cache(data_dir: Path, cache_path: Path, size_px: int) -> FaceCache:
    """Align every usable face once (slow part of data loading), or load the cache if it exists."""
    if cache_path.is_file():
        z = np.load(cache_path, allow_pickle=False)
        if int(z["images"].shape[1]) == size_px:
            return FaceCache(z["images"], z["landmarks"], z["identity"], z["source"], z["files"])
    from PIL import Image

    images, lms, ids, srcs, files = [], [], [], [], []
    for r in usable_records(data_dir):
        rgb = np.asarray(Image.open(data_dir / r["file"]).convert("RGB"))
        lm = np.asarray(r["landmarks"], dtype=np.float64).reshape(68, 2)
        crop, matrix = align_face(rgb, five_from_68(lm), size_px)
        images.append(crop)
        lms.append(warp_points(matrix, lm).astype(np.float32))
        ids.append(f"{r['source']}:{r['identity']}")
        srcs.append(r["source"])
        files.append(r["file"])
    cache = FaceCache(np.stack(images), np.stack(lms), np.array(ids), np.array(srcs), np.array(files))
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp.npz")
    np.savez(tmp, images=cache.images, landmarks=cache.landmarks, identity=cache.identity, source=cache.source, files=cache.file)
    tmp.replace(cache_path)
    return cache


def split_identities(identities: np.ndarray, *, heldout_share: float = 0.15, seed: int = 0) -> dict[str, np.ndarray]:
    """Indices of ``train``, ``calib`` and ``report`` items; held-out identities are halved into the last two.

    ``calib`` identities validate the model and set the threshold; ``report``
    identities are only used to state the false-positive rate at that threshold.
    """
    uniq = sorted(set(identities.tolist()))
    random.Random(seed).shuffle(uniq)
    n_held = max(2, round(heldout_share * len(uniq)))
    calib_ids, report_ids = set(uniq[: n_held // 2]), set(uniq[n_held // 2 : n_held])
    ids = identities.tolist()
    return {
        "train": np.array([i for i, x in enumerate(ids) if x not in calib_ids and x not in report_ids]),
        "calib": np.array([i for i, x in enumerate(ids) if x in calib_ids]),
        "report": np.array([i for i, x in enumerate(ids) if x in report_ids]),
    }


# ------------------------------------------------------------------------------------------------
# self-blending


def hull_points(lm: np.ndarray, kind: str, rng: random.Random) -> np.ndarray:
    """Polygon (K, 2) of the blended region for hull ``kind`` (face, extended, inner, lower)."""
    lm = np.asarray(lm, dtype=np.float64)
    if kind == "face":
        return lm
    if kind == "extended":  # forehead: brows pushed away from the nose tip
        brows = lm[_BROWS] + (lm[_BROWS] - lm[30]) * rng.uniform(0.2, 0.55)
        return np.concatenate([lm[_JAW], brows])
    if kind == "inner":  # cheeks-to-brows region, shrunk towards its centre (DFL "components"-like)
        pts = np.concatenate([lm[1:16], lm[_BROWS]])
        c = pts.mean(0)
        return c + (pts - c) * rng.uniform(0.8, 0.95)
    if kind == "lower":
        pts = lm[_LOWER].copy()
        # sometimes reach up to the nose bridge middle, as wider lip-sync boxes do
        if rng.random() < 0.5:
            pts = np.concatenate([pts, lm[[29]]])
        return pts
    raise ValueError(f"unknown hull kind {kind!r}")


def _smooth_field(size_px: int, amp_px: float, rng: np.random.Generator) -> np.ndarray:
    grid = rng.uniform(-1, 1, size=(5, 5)).astype(np.float32)
    return cv2.resize(grid, (size_px, size_px), interpolation=cv2.INTER_CUBIC) * amp_px


def blend_mask(lm: np.ndarray, size_px: int, kind: str, rng: random.Random) -> np.ndarray:
    """Soft blend mask in [0, 1], (S, S) float32: deformed hull, elastically warped, blurred."""
    nrng = np.random.default_rng(rng.getrandbits(32))
    pts = hull_points(lm, kind, rng)
    c = pts.mean(0)
    pts = c + (pts - c) * np.array([rng.uniform(0.92, 1.08), rng.uniform(0.92, 1.08)])
    pts = pts + nrng.normal(0, 0.008 * size_px, pts.shape)
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros((size_px, size_px), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    # elastic deformation of the outline (SBI uses albumentations' ElasticTransform on the mask)
    amp = rng.uniform(0.0, 0.035) * size_px
    if amp > 0.5:
        xs, ys = np.meshgrid(np.arange(size_px, dtype=np.float32), np.arange(size_px, dtype=np.float32))
        mask = cv2.remap(mask, xs + _smooth_field(size_px, amp, nrng), ys + _smooth_field(size_px, amp, nrng),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    k = round(rng.uniform(0, 0.04) * size_px)
    if k >= 2:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = rng.uniform(0.008, 0.05) * size_px
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    if rng.random() < 0.3 and mask.max() > 0.999:
        # SBI's second pass: keep the soft edge inside the hull, then soften it again
        mask = np.where(mask > 0.999, mask, 0.0).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (0, 0), sigma * 0.5)
    top = float(mask.max())
    return mask / top if top > 0 else mask


def _hsv_jitter(img: np.ndarray, rng: random.Random) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + rng.randint(-4, 4)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + rng.randint(-20, 20), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + rng.randint(-15, 15), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def source_transform(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Colour and frequency jitter plus a small shift/scale of the face copy that is blended back."""
    s = img.shape[0]
    x = img.astype(np.float32)
    x = x + np.array([rng.uniform(-15, 15) for _ in range(3)], np.float32)  # RGB shift
    x = (x - 128.0) * rng.uniform(0.9, 1.1) + 128.0 + rng.uniform(-0.06, 0.06) * 255.0  # contrast, brightness
    x = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        x = _hsv_jitter(x, rng)
    r = rng.random()
    if r < 0.4:  # frequency: down-then-up (SBI's RandomDownScale)
        f = rng.uniform(0.25, 0.6)
        small = cv2.resize(x, (max(8, round(s * f)),) * 2, interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (s, s), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
    elif r < 0.7:  # sharpen (unsharp mask)
        blur = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.8, 2.0))
        x = cv2.addWeighted(x, 1 + rng.uniform(0.3, 1.0), blur, -rng.uniform(0.3, 1.0), 0)
    elif r < 0.9:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    return shift_source(x, rng)


def shift_source(x: np.ndarray, rng: random.Random) -> np.ndarray:
    """The source's position: SBI translates it up to 3 % horizontally, 1.5 % vertically, scales 0.95-1.05."""
    s = x.shape[0]
    scale = rng.uniform(0.95, 1.0 / 0.95)
    m = cv2.getRotationMatrix2D((s / 2, s / 2), 0.0, scale)
    m[0, 2] += rng.uniform(-0.03, 0.03) * s
    m[1, 2] += rng.uniform(-0.015, 0.015) * s
    return cv2.warpAffine(x, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def colour_transfer(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``src`` with each channel's mean and spread inside ``mask`` moved to ``dst``'s (a swapper's colour matching)."""
    w = mask > 0.5
    if w.sum() < 16:
        return src
    x = src.astype(np.float32)
    for c in range(3):
        a, b = x[..., c][w], dst[..., c][w].astype(np.float32)
        x[..., c] = (x[..., c] - a.mean()) * (b.std() + 1.0) / (a.std() + 1.0) + b.mean()
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def self_blend(img: np.ndarray, lm: np.ndarray, rng: random.Random, kind: str | None = None,
               source: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fake uint8 (S, S, 3), mask float32 (S, S) in [0, 1]) from one real crop ``img`` and its landmarks.

    ``fake = source * r * M + img * (1 - r * M)`` with ``source`` the altered
    copy, ``M`` the deformed hull mask and ``r`` a blend ratio; outside ``M > 0``
    the fake equals ``img`` exactly. The returned mask is ``M`` (before ``r``).
    With ``source`` (the same face redrawn by a decoder, ``faces_recon``) that
    face is colour-matched to ``img`` inside the mask and shifted as SBI shifts
    its copy, instead of ``source_transform``'s recolouring and filtering.
    """
    if kind is None:
        kind = "lower" if rng.random() < LOWER_FACE_SHARE else rng.choice(HULL_KINDS)
    mask = blend_mask(lm, img.shape[0], kind, rng)
    ratio = rng.choice((0.5, 0.75, 1.0, 1.0, 1.0, 1.0))
    if source is None:
        src = source_transform(img, rng).astype(np.float32)
    else:
        src = shift_source(colour_transfer(source, img, mask), rng).astype(np.float32)
    w = (mask * ratio)[..., None]
    fake = np.where(w > 0, np.clip(np.rint(src * w + img.astype(np.float32) * (1 - w)), 0, 255), img)
    return fake.astype(np.uint8), mask


def boundary_target(mask: np.ndarray, stride_px: int = MASK_STRIDE_PX) -> np.ndarray:
    """Face X-ray boundary ``4 M (1 - M)`` pooled to the mask head's grid, peak scaled to 1."""
    b = 4.0 * mask * (1.0 - mask)
    s = mask.shape[0] // stride_px
    small = cv2.resize(b, (s, s), interpolation=cv2.INTER_AREA)
    top = float(small.max())
    return (small / top).astype(np.float32) if top > 1e-3 else np.zeros((s, s), np.float32)


# ------------------------------------------------------------------------------------------------
# degradation (both classes)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


CODEC_SHARE = 0.5  # share of crops that go through the video branch of ``degrade`` (faces-run2)
DEGRADE_MODES = ("chain", "chain-nocodec", "video", "geometry", "none")


def h264_frames(frames: list[np.ndarray], crf: int, *, rate: int = 25, tune: str | None = "zerolatency") -> list[np.ndarray]:
    """RGB ``frames`` (equal, even sides) coded by libx264 (veryfast, 4:2:0, one thread) at ``crf``, then decoded.

    One in-memory round trip for a single crop (``h264``) and for a whole clip
    (``faces_video``, ``tune=None``: B-frames and look-ahead, as a video file has).
    """
    import io

    import av

    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        st = c.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"crf": str(int(crf)), "preset": "veryfast", **({"tune": tune} if tune else {})}
        st.codec_context.thread_count = 1
        for i, im in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(im), format="rgb24")
            vf.pts = i
            for pkt in st.encode(vf):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    buf.seek(0)
    with av.open(buf) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def h264(img: np.ndarray, crf: int, prev: np.ndarray | None = None) -> np.ndarray:
    """``img`` after libx264 (veryfast, 4:2:0, like ``unmask eval --perturb h264``) at ``crf``.

    With ``prev`` the picture is coded as a P-frame after ``prev`` (inter
    prediction, as most frames of a video), else as one I-frame. Dimensions are
    cropped to even numbers by the caller. About 5-10 ms for a 160 px crop.
    """
    return h264_frames(([prev] if prev is not None else []) + [img], crf)[-1]


def video_degrade(img: np.ndarray, rng: random.Random, *, low_res: tuple[float, float] = (0.3, 1.0),
                  crf: tuple[int, int] = (23, 35)) -> np.ndarray:
    """A face as a compressed video shows it: scaled to ``low_res`` x S, H.264-coded there, scaled back up."""
    s = img.shape[0]
    f = rng.uniform(*low_res)
    n = max(16, 2 * round(s * f / 2))
    small = img if n >= s else cv2.resize(img, (n, n), interpolation=rng.choice([cv2.INTER_AREA, cv2.INTER_LINEAR]))
    prev = None
    if rng.random() < 0.5:  # P-frame: the previous frame is the same face moved by a pixel or two
        m = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(-2, 2)]])
        prev = cv2.warpAffine(small, m, small.shape[1::-1], borderMode=cv2.BORDER_REFLECT101)
    coded = h264(small, rng.randint(*crf), prev)
    if n >= s:
        return coded
    return cv2.resize(coded, (s, s), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))


def degrade(img: np.ndarray, mask: np.ndarray | None, rng: random.Random,
            mode: str = "chain") -> tuple[np.ndarray, np.ndarray | None]:
    """One random chain for either class; geometric steps move ``mask`` with the image.

    Geometry jitter (alignment from detected five points is less exact than
    from 68 landmarks), flip, then in ``CODEC_SHARE`` of the draws the video
    branch (``video_degrade``: 0.3-1.0x, H.264 CRF 23-35, back up; JPEG after it
    in 20 %), else 0.3-0.9x down-then-up resize (35 %), blur, noise and JPEG
    q30-95 (sometimes twice). Same distribution for real and fake.

    ``mode``: "chain" (training), "chain-nocodec" (faces-run1's chain, without
    the video branch), "video" (geometry, then always 0.3-0.6x + H.264 CRF
    26-34: the degraded validation set), "geometry" (jitter and flip only: for crops
    that are already coded, such as ``faces_video``'s), "none" (returned unchanged).
    """
    if mode not in DEGRADE_MODES:
        raise ValueError(f"unknown degrade mode {mode!r}")
    if mode == "none":
        return img, mask
    s = img.shape[0]
    if rng.random() < 0.7:
        m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-5, 5), rng.uniform(0.93, 1.07))
        m[:, 2] += np.array([rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04)]) * s
        img = cv2.warpAffine(img, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        if mask is not None:
            mask = cv2.warpAffine(mask, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if rng.random() < 0.5:
        img = img[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if mode == "geometry":
        return np.ascontiguousarray(img), None if mask is None else np.ascontiguousarray(mask)
    if mode == "video":
        img = video_degrade(np.ascontiguousarray(img), rng, low_res=(0.3, 0.6), crf=(26, 34))
        return np.ascontiguousarray(img), None if mask is None else np.ascontiguousarray(mask)
    if mode == "chain" and rng.random() < CODEC_SHARE:
        if rng.random() < 0.15:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
        img = video_degrade(np.ascontiguousarray(img), rng)
        if rng.random() < 0.2:
            img = jpeg(img, rng.randint(50, 95))
        return np.ascontiguousarray(img), None if mask is None else np.ascontiguousarray(mask)
    if rng.random() < 0.35:
        f = rng.uniform(0.3, 0.9)
        small = cv2.resize(img, (max(16, round(s * f)),) * 2, interpolation=rng.choice([cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
        img = cv2.resize(small, (s, s), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
    r = rng.random()
    if r < 0.15:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    elif r < 0.22:
        blur = cv2.GaussianBlur(img, (0, 0), 1.0)
        img = cv2.addWeighted(img, 1.5, blur, -0.5, 0)
    if rng.random() < 0.15:
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 6), img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        img = jpeg(np.ascontiguousarray(img), rng.randint(30, 95))
        if rng.random() < 0.25:
            img = jpeg(img, rng.randint(50, 95))
    return np.ascontiguousarray(img), None if mask is None else np.ascontiguousarray(mask)


def make_pair(img: np.ndarray, lm: np.ndarray, rng: random.Random, mode: str = "chain",
              source: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real, fake) uint8 (S, S, 3) after independent draws of ``degrade`` (``mode``), and the fake's boundary target."""
    fake, mask = self_blend(img, lm, rng, source=source)
    real, _ = degrade(img, None, rng, mode)
    fake, mask = degrade(fake, mask, rng, mode)
    return real, fake, boundary_target(mask)


try:  # the Dataset needs torch; the functions above do not
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover - torch is in the train extra
    _Dataset = object  # type: ignore[assignment,misc]


class SbiPairs(_Dataset):
    """Item ``i``: (real, fake) uint8 (2, 3, S, S) and boundary targets (2, 1, S/8, S/8), fresh SBI every epoch."""

    def __init__(self, cache: FaceCache, indices: np.ndarray, seed: int = 0, fixed: bool = False,
                 mode: str = "chain", recon: np.ndarray | None = None, p_recon: float = 0.0) -> None:
        self.cache, self.indices, self.seed, self.fixed, self.mode = cache, np.asarray(indices), seed, fixed, mode
        self.recon, self.p_recon = recon, p_recon  # faces_recon's redrawn faces, the source of p_recon of the fakes
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        import torch

        k = int(self.indices[i])
        # fixed=True (validation) draws the same fake for an item every time
        seed = (self.seed, k) if self.fixed else (self.seed, self.epoch, k, random.getrandbits(32))
        rng = random.Random(hash(seed))
        # no draw without redrawn faces to use: p_recon = 0 gives exactly the plain SBI pairs
        source = self.recon[k] if self.recon is not None and self.p_recon > 0 and rng.random() < self.p_recon else None
        real, fake, target = make_pair(self.cache.images[k], self.cache.landmarks[k], rng, self.mode, source)
        x = torch.from_numpy(np.stack([real, fake])).permute(0, 3, 1, 2).contiguous()
        t = torch.from_numpy(np.stack([np.zeros_like(target), target]))[:, None]
        return x, t
