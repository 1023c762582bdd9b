"""Self-blended faces inside real talking videos, coded as whole clips: training pairs for ``face-swap``.

    python -m unmask.training.faces_video [--data ../shared/data] [--out out/faces-video/pairs.npz]

Why: the photo SBI of ``faces_data`` codes single 160 px crops (``degrade``'s H.264 branch), while a
face-swap video is a *whole frame* with a pasted face, coded by a video encoder with motion
compensation across frames. The shipped model separates SBI crops after that single-crop codec
(held-out AUC 0.85) yet is near chance on the dev set's DeepFaceLive videos against their own real
panels (0.62) and drops to 0.57 after H.264 CRF 28. Here the fake is made where a face swapper makes
it: in every frame of a real talking clip (``shared/data/faces/videos``, ``shared/data/talking``) the
face is self-blended in the canonical crop with the *same* draw on every frame (one hull, one colour
shift, one source offset: a swapper's paste is stable over time), warped back into the frame, and the
whole clip is coded with libx264 at one CRF; the real clip is coded identically. Crops are then cut
from the decoded frames as the detector cuts them.

- Hull: the 68 landmarks of a random *training* photo of ``faces_data``'s cache (the clips have no
  68-point landmarks; after alignment every face has its five points at the same place, so another
  face's jaw line is a plausible, varied hull).
- Codec: CRF 20-32, preset veryfast, and in half of the variants the whole frame scaled to 0.6-1.0x
  first (smaller faces); the same for the real clip of that variant.
- Split: the clips of ``lipsync_calibrate.heldout_groups`` (lip-sync's held-out half, by source and
  speaker) are ``val``, the rest ``train``. The same split keeps ``unmask.eval.lower_face``'s clips out
  of face-swap's training.

Output: one ``.npz`` with ``real``, ``fake`` (N, S, S, 3) uint8, ``target`` (N, S/8, S/8) float16
(the boundary target of the fake), ``clip`` (N,) and ``split`` (N,) strings.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from unmask.faces.align import align_face
from unmask.training import faces_data as D

SIZE_PX = 160
CRF_RANGE = (20, 32)


def crop_to_frame(matrix: np.ndarray) -> np.ndarray:
    """``align_face``'s image→crop matrix (pixel centres at +0.5) as OpenCV's (centres at integers)."""
    m = np.asarray(matrix, dtype=np.float64).copy()
    m[:, 2] = m[:, 2] + 0.5 * m[:, :2].sum(axis=1) - 0.5
    return m


def paste_back(frame: np.ndarray, matrix: np.ndarray, fake_crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``frame`` with the blended crop warped back inside its mask (the way a swapper pastes its face)."""
    h, w = frame.shape[:2]
    m = crop_to_frame(matrix)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    face = cv2.warpAffine(fake_crop, m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = cv2.warpAffine(np.clip(4.0 * mask, 0, 1).astype(np.float32), m, (w, h), flags=flags, borderValue=0)[..., None]
    return np.clip(np.rint(alpha * face + (1 - alpha) * frame), 0, 255).astype(np.uint8)


def even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return frame[: h - h % 2, : w - w % 2]


def clip_pairs(frames: list[np.ndarray], points: list[np.ndarray | None], fps: float, hull_lm: np.ndarray,
               rng: random.Random, *, every: int) -> tuple[list, list, list]:
    """One variant of one clip: (real crops, fake crops, boundary targets) on every ``every``-th frame with a face."""
    blend_seed = rng.getrandbits(32)
    crf = rng.randint(*CRF_RANGE)
    scale = rng.uniform(0.6, 1.0) if rng.random() < 0.5 else 1.0
    real_frames, fake_frames, masks = [], [], {}
    for i, (f, p) in enumerate(zip(frames, points)):
        f = even(f)
        if p is None:
            real_frames.append(f)
            fake_frames.append(f)
            continue
        crop, matrix = align_face(f, p, SIZE_PX)
        fake_crop, mask = D.self_blend(crop, hull_lm, random.Random(blend_seed))  # the same draw on every frame
        fake_frames.append(paste_back(f, matrix, fake_crop, mask))
        real_frames.append(f)
        masks[i] = mask
    if scale < 1.0:
        h, w = real_frames[0].shape[:2]
        size = (max(32, 2 * round(w * scale / 2)), max(32, 2 * round(h * scale / 2)))
        real_frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in real_frames]
        fake_frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in fake_frames]
        scale = size[0] / w
    rate = max(1, round(fps))
    real_dec = D.h264_frames(real_frames, crf, rate=rate, tune=None)
    fake_dec = D.h264_frames(fake_frames, crf, rate=rate, tune=None)
    reals, fakes, targets = [], [], []
    for i in sorted(masks)[::every]:
        if i >= len(real_dec) or i >= len(fake_dec):
            break
        p = np.asarray(points[i], dtype=np.float64) * scale
        reals.append(align_face(real_dec[i], p, SIZE_PX)[0])
        fakes.append(align_face(fake_dec[i], p, SIZE_PX)[0])
        targets.append(D.boundary_target(masks[i]).astype(np.float16))
    return reals, fakes, targets


def build(data: Path, out: Path, *, train_variants: int, val_variants: int, train_every: int, val_every: int,
          cache_dir: Path = Path("out/faces-cache"), seed: int = 0, limit: int = 0) -> dict:
    from unmask.eval.lower_face import face_points
    from unmask.testing.talking import read_clip
    from unmask.training import lipsync_calibrate as lc

    cache = D.build_cache(data / "faces", cache_dir / f"crops{SIZE_PX}.npz", SIZE_PX)
    train_faces = D.split_identities(cache.identity, seed=0)["train"]  # faces_train's split: hulls from training photos only
    all_paths = lc.clip_paths(data)
    held = lc.heldout_groups(all_paths)  # the split of every clip, also when --limit takes a few
    paths = all_paths[: limit or None]
    rows: dict[str, list] = {"real": [], "fake": [], "target": [], "clip": [], "split": []}
    t0 = time.time()
    for n, path in enumerate(paths):
        split = "val" if lc.group_of(path) in held else "train"
        frames, times, fps, _ = read_clip(path)
        points = face_points(frames, times)
        if sum(p is not None for p in points) < 0.5 * len(frames):
            print(f"  {path.name}: face on too few frames, skipped", file=sys.stderr)
            continue
        rng = random.Random(seed * 1_000_003 + zlib.crc32(path.name.encode()))  # str hashes vary by process
        variants = val_variants if split == "val" else train_variants
        every = val_every if split == "val" else train_every
        got = 0
        for _ in range(variants):
            hull = cache.landmarks[int(train_faces[rng.randrange(len(train_faces))])]
            r, f, t = clip_pairs(frames, points, fps, hull, rng, every=every)
            rows["real"] += r
            rows["fake"] += f
            rows["target"] += t
            rows["clip"] += [f"{path.parent.name}/{path.name}"] * len(r)
            rows["split"] += [split] * len(r)
            got += len(r)
        print(f"  [{n + 1}/{len(paths)}] {path.parent.name}/{path.name} ({split}): {got} pairs, {time.time() - t0:.0f} s", file=sys.stderr)
    arrays = {"real": np.stack(rows["real"]), "fake": np.stack(rows["fake"]), "target": np.stack(rows["target"]),
              "clip": np.array(rows["clip"]), "split": np.array(rows["split"])}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return {k: int((arrays["split"] == k).sum()) for k in ("train", "val")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unmask.training.faces_video", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("out/faces-video/pairs.npz"))
    ap.add_argument("--cache", type=Path, default=Path("out/faces-cache"), help="faces_train's aligned crops (hull landmarks)")
    ap.add_argument("--train-variants", type=int, default=6, help="fakes (and re-coded reals) per training clip")
    ap.add_argument("--val-variants", type=int, default=2)
    ap.add_argument("--train-every", type=int, default=3, help="keep every n-th frame with a face")
    ap.add_argument("--val-every", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first n clips (a quick check)")
    args = ap.parse_args(argv)
    counts = build(args.data, args.out, train_variants=args.train_variants, val_variants=args.val_variants,
                   train_every=args.train_every, val_every=args.val_every, cache_dir=args.cache, seed=args.seed,
                   limit=args.limit)
    print(f"{args.out}: {counts['train']} training pairs, {counts['val']} validation pairs")
    return 0


try:  # the Dataset needs torch; building the pairs does not
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover - torch is in the train extra
    _Dataset = object  # type: ignore[assignment,misc]


class VideoSbiPairs(_Dataset):
    """``faces_data.SbiPairs``'s items from a ``build`` file: (real, fake) uint8 (2, 3, S, S), targets (2, 1, S/8, S/8).

    Training (``length`` given): every item is a random pair of ``indices`` after independent geometry jitter and
    flip (the codec was applied when the pairs were built), so an epoch can hold as many video pairs as wanted.
    Validation (``length`` None): pair ``i`` of ``indices``, unchanged.
    """

    def __init__(self, pairs: dict[str, np.ndarray], indices: np.ndarray, *, length: int | None = None, seed: int = 0) -> None:
        self.pairs, self.indices, self.length, self.seed = pairs, np.asarray(indices), length, seed

    def __len__(self) -> int:
        return len(self.indices) if self.length is None else self.length

    def __getitem__(self, i: int):
        import torch

        if self.length is None:
            k = int(self.indices[i])
            real, fake, target = self.pairs["real"][k], self.pairs["fake"][k], self.pairs["target"][k].astype(np.float32)
        else:
            rng = random.Random(hash((self.seed, i, random.getrandbits(32))))
            k = int(self.indices[rng.randrange(len(self.indices))])
            real, _ = D.degrade(self.pairs["real"][k], None, rng, "geometry")
            # the target moves with the fake: warp it at crop size, then pool it back to the head's grid
            big = cv2.resize(self.pairs["target"][k].astype(np.float32), (SIZE_PX, SIZE_PX), interpolation=cv2.INTER_LINEAR)
            fake, big = D.degrade(self.pairs["fake"][k], big, rng, "geometry")
            s = SIZE_PX // D.MASK_STRIDE_PX
            target = cv2.resize(big, (s, s), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.stack([real, fake])).permute(0, 3, 1, 2).contiguous()
        t = torch.from_numpy(np.stack([np.zeros_like(target), target]).astype(np.float32))[:, None]
        return x, t


def load_pairs(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path, allow_pickle=False)
    return {k: z[k] for k in z.files}


if __name__ == "__main__":
    sys.exit(main())
