"""Train the ``face-swap`` model on Self-Blended Images of real faces; checkpoints every epoch, resumable.

``unmask train faces --out out/faces-run1 --epochs 14`` (or ``python -m unmask.training.faces_train``);
add ``--resume`` to continue ``<out>/last.pt`` after a kill. Then
``python -m unmask.training.faces_calibrate --ckpt <out>/best.pt`` exports the
ONNX file, calibrates it and measures false positives on held-out identities.

- Data: ``faces.jsonl`` records with iBUG 68-point landmarks, aligned once with
  ``unmask.faces.align`` (the detector's crop) into ``<cache>/crops<S>.npz``.
  Identities are split: ~85 % train, the rest halved into *calib* (validation,
  Platt slope, threshold) and *report* (false-positive rate only).
- Each training item is one real crop and a fresh SBI fake of it
  (``faces_data.make_pair``), both through the same degradation distribution.
- Optional other fakes (2026-12, measured in the model card, not in the shipped
  weights): ``--video-pairs`` mixes in self-blends pasted into real talking clips
  and coded as whole videos (``faces_video``); ``--recon`` blends faces redrawn by
  a small autoencoder (``faces_recon``) instead of SBI's recoloured copy.
  ``--init-onnx`` fine-tunes the shipped ONNX weights (BatchNorm folded, so frozen).
- Loss: BCE of the face logit + ``--mask-weight`` x BCE of the stride-8
  blending-boundary map (zero on reals).
- Validation after every epoch: AUC of real vs fixed SBI fakes of the calib
  identities; ``best.pt`` keeps the best epoch, ``last.pt`` everything needed
  to resume (weights, optimiser, epoch, history).

On a 2-core machine one torch thread with channels-last tensors was 5x faster
than two threads while another job held a core (2026-11: 16.6 vs 3.2 img/s at
160 px), hence ``--threads 1`` by default. No dev-set file is read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def _log(out: Path, msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(out / "log.txt", "a") as fh:
        fh.write(line + "\n")


def _worker_init(_: int) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _batches(dataset, batch_items: int, workers: int, shuffle: bool):
    import torch
    from torch.utils.data import DataLoader

    def collate(items):
        x = torch.cat([i[0] for i in items])  # (2B, 3, S, S): real, fake, real, fake, ...
        t = torch.cat([i[1] for i in items])
        y = torch.tensor([0.0, 1.0] * len(items))
        return x, t, y

    return DataLoader(dataset, batch_size=batch_items, shuffle=shuffle, num_workers=workers, collate_fn=collate,
                      worker_init_fn=_worker_init if workers else None, persistent_workers=bool(workers),
                      prefetch_factor=4 if workers else None, drop_last=shuffle)


def to_input(x_u8):
    """uint8 (N, 3, S, S) → float [0, 1], channels-last (what the CPU kernels are fastest on)."""
    import torch

    return x_u8.float().div_(255.0).contiguous(memory_format=torch.channels_last)


def predict(model, loader) -> tuple[np.ndarray, np.ndarray, float]:
    """(labels, logits, mean boundary BCE) over a loader, in eval mode."""
    import torch
    from torch.nn import functional as F

    model.eval()
    ys, ls, mloss = [], [], []
    with torch.inference_mode():
        for x, t, y in loader:
            logit, mask = model(to_input(x))
            ys.append(y.numpy())
            ls.append(logit.float().numpy())
            mloss.append(float(F.binary_cross_entropy_with_logits(mask.float(), t)))
    model.train()
    return np.concatenate(ys), np.concatenate(ls), float(np.mean(mloss))


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The trainer's options, on ``p`` (``unmask train faces`` registers them without importing torch)."""
    p.add_argument("--data", type=Path, default=Path("../shared/data/faces"), help="folder with faces.jsonl and images/")
    p.add_argument("--out", type=Path, default=Path("out/faces-run1"))
    p.add_argument("--cache", type=Path, default=Path("out/faces-cache"), help="aligned crops are kept here")
    p.add_argument("--size", type=int, default=160, help="crop side S in px (the ONNX input is S x S)")
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--batch", type=int, default=16, help="items per step; each is a real + its fake")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--mask-weight", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (see module docstring)")
    p.add_argument("--workers", type=int, default=1, help="DataLoader processes making SBI fakes")
    p.add_argument("--minutes", type=float, default=0.0, help="stop after the epoch that passes this wall time (0 = no limit)")
    p.add_argument("--heldout-share", type=float, default=0.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-imagenet", action="store_true", help="random initialisation (for comparison)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (fine-tuning; new optimiser and schedule)")
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps (at most a tenth of all steps)")
    p.add_argument("--init-onnx", type=Path, help="start from an exported face-swap.onnx (BatchNorm folded, so frozen)")
    p.add_argument("--freeze-bn", action="store_true", help="BatchNorm in eval mode throughout (implied by --init-onnx)")
    p.add_argument("--recon", type=Path, help="faces redrawn by an autoencoder (python -m unmask.training.faces_recon): "
                                                  "the source of --p-recon of the self-blends")
    p.add_argument("--p-recon", type=float, default=0.5)
    p.add_argument("--video-pairs", type=Path, help="self-blends coded as whole clips (python -m unmask.training.faces_video)")
    p.add_argument("--video-share", type=float, default=0.5, help="share of each epoch's items drawn from --video-pairs")
    p.add_argument("--select", choices=("val", "video", "clips", "mix"), default="val",
                   help="best.pt by AUC on the calib pairs after the run1 chain (val) or after 0.3-0.6x + H.264 (video), "
                        "on --video-pairs' held-out clips (clips), or the mean of video and clips (mix)")
    p.add_argument("--tiny", action="store_true", help="a few items, one epoch: checks the pipeline end to end")
    return p


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unmask.training.faces_train", description=__doc__.split("\n")[0])
    return run(add_arguments(p).parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` (from ``add_arguments``) says; returns 0."""
    import random

    import cv2
    import torch
    from torch.nn import functional as F

    from unmask.training import faces_data as D
    from unmask.training.faces_model import build, freeze_batchnorm, load_onnx
    from unmask.training.mobilenet_v2 import load_imagenet

    # no OpenCV thread pool in this process: DataLoader workers are forked from it, and a pool created before the
    # fork (the validation pairs use OpenCV) deadlocks them
    cv2.setNumThreads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    cache = D.build_cache(args.data, args.cache / f"crops{args.size}.npz", args.size)
    split = D.split_identities(cache.identity, heldout_share=args.heldout_share, seed=args.seed)
    if args.tiny:
        split = {k: v[:8] for k, v in split.items()}
        args.epochs, args.batch = 1, 4
    (out / "split.json").write_text(json.dumps({k: cache.file[v].tolist() for k, v in split.items()}, indent=0))
    config = {"arch": "mobilenet_v2", "size_px": args.size, "mask_stride_px": D.MASK_STRIDE_PX, "dropout": 0.2,
              "imagenet_init": not args.no_imagenet, **({"init": str(args.init)} if args.init else {})}
    if args.init_onnx:
        config["init_onnx"] = str(args.init_onnx)
        config["batchnorm_folded"] = True  # identity BatchNorms (faces_model.load_onnx): eval mode only
    freeze_bn = args.freeze_bn or bool(args.init_onnx)
    model = build(config)
    if args.init_onnx and not args.resume:
        load_onnx(model, args.init_onnx)
    elif args.init and not args.resume:
        model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True)["state_dict"])
    elif not args.no_imagenet and not args.resume:
        load_imagenet(model)
    model = model.to(memory_format=torch.channels_last)

    def train_mode() -> None:
        model.train()
        if freeze_bn:
            freeze_batchnorm(model)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    recon = np.load(args.recon)["recon"] if args.recon else None
    if recon is not None and recon.shape != cache.images.shape:
        raise SystemExit(f"{args.recon}: {recon.shape} does not match the cache's {cache.images.shape}")
    train_ds = D.SbiPairs(cache, split["train"], seed=args.seed, recon=recon, p_recon=args.p_recon)
    # calib identities blended with their redrawn faces (the autoencoder never saw them), run1's chain
    recon_dl = None if recon is None else _batches(
        D.SbiPairs(cache, split["calib"], seed=args.seed + 2000, fixed=True, mode="chain-nocodec", recon=recon, p_recon=1.0), 32, 0, shuffle=False)
    # the same fixed pairs as faces-run1's validation (its chain, no codec) and a degraded copy (low-res + H.264)
    val_ds = D.SbiPairs(cache, split["calib"], seed=args.seed + 1000, fixed=True, mode="chain-nocodec")
    val_video_ds = D.SbiPairs(cache, split["calib"], seed=args.seed + 1000, fixed=True, mode="video")
    clip_dl = None
    if args.video_pairs:
        from torch.utils.data import ConcatDataset

        from unmask.training.faces_video import VideoSbiPairs, load_pairs

        pairs = load_pairs(args.video_pairs)
        n_video = round(len(train_ds) * args.video_share / max(1e-6, 1.0 - args.video_share))
        video_train = VideoSbiPairs(pairs, np.flatnonzero(pairs["split"] == "train"), length=n_video, seed=args.seed)
        clip_val = np.flatnonzero(pairs["split"] == "val")
        if args.tiny:
            video_train.length, clip_val = 8, clip_val[:8]
        train_ds = ConcatDataset([train_ds, video_train])
        clip_dl = _batches(VideoSbiPairs(pairs, clip_val), 32, 0, shuffle=False)
        _log(out, f"video pairs {args.video_pairs}: {int((pairs['split'] == 'train').sum())} train, {len(clip_val)} held out; "
                  f"{n_video} per epoch")
    elif args.select in ("clips", "mix"):
        raise SystemExit("--select clips/mix needs --video-pairs")
    train_dl = _batches(train_ds, args.batch, args.workers, shuffle=True)
    val_dl = _batches(val_ds, 32, 0, shuffle=False)
    val_video_dl = _batches(val_video_ds, 32, 0, shuffle=False)
    steps_per_epoch = len(train_dl)
    total_steps = max(1, args.epochs * steps_per_epoch)
    warmup = min(args.warmup, total_steps // 10)

    epoch0, step, best, history = 0, 0, -1.0, []
    if args.resume and (out / "last.pt").is_file():
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        epoch0, step, best, history = state["epoch"], state["step"], state["best_val_auc"], json.loads(state["history"])
        _log(out, f"resumed from epoch {epoch0}, step {step}, best val AUC {best:.4f}")
    _log(out, f"torch {torch.__version__}, {args.threads} thread(s); args {json.dumps(vars(args), default=str)}")
    _log(out, f"{len(cache.images)} crops {args.size}px, {len(set(cache.identity.tolist()))} identities; "
              f"train {len(split['train'])}, calib {len(split['calib'])}, report {len(split['report'])}; "
              f"{steps_per_epoch} steps/epoch x {args.batch * 2} images")

    from unmask.training.train_images import auc

    def auc_of(loader) -> float:
        """AUC of the model on a validation loader; NaN for a validation set this run does not have."""
        return float("nan") if loader is None else auc(*predict(model, loader)[:2])

    if epoch0 == 0 and (args.init or args.init_onnx):  # the starting point on the same validation sets
        _log(out, f"before training: val AUC {auc_of(val_dl):.4f}, video val AUC {auc_of(val_video_dl):.4f}, "
                  f"clips AUC {auc_of(clip_dl):.4f}, recon AUC {auc_of(recon_dl):.4f}")
    for epoch in range(epoch0, args.epochs):
        train_mode()
        t0, losses = time.time(), []
        for x, t, y in train_dl:
            lr = args.lr * min(1.0, (step + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
            for g in opt.param_groups:
                g["lr"] = lr
            logit, mask = model(to_input(x))
            loss_cls = F.binary_cross_entropy_with_logits(logit, y)
            loss_mask = F.binary_cross_entropy_with_logits(mask, t)
            loss = loss_cls + args.mask_weight * loss_mask
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append((float(loss_cls.detach()), float(loss_mask.detach())))
            if step % 20 == 0:
                m = np.mean(losses[-20:], axis=0)
                _log(out, f"epoch {epoch + 1} step {step}/{total_steps} cls {m[0]:.4f} mask {m[1]:.4f} "
                          f"lr {lr:.2e} {len(losses) * args.batch * 2 / (time.time() - t0):.1f} img/s")
        labels, logits, val_mask = predict(model, val_dl)
        val_auc = auc(labels, logits)
        val_video_auc = auc_of(val_video_dl)
        val_clip_auc = auc_of(clip_dl)
        val_recon_auc = auc_of(recon_dl)
        score = {"val": val_auc, "video": val_video_auc, "clips": val_clip_auc,
                 "mix": 0.5 * (val_video_auc + val_clip_auc)}[args.select]
        m = np.mean(losses, axis=0)
        history.append({"epoch": epoch + 1, "step": step, "train_cls": float(m[0]), "train_mask": float(m[1]),
                        "val_auc": val_auc, "val_video_auc": val_video_auc, "val_clip_auc": val_clip_auc,
                        "val_recon_auc": val_recon_auc, "val_mask_bce": val_mask,
                        "epoch_s": time.time() - t0})
        _log(out, f"epoch {epoch + 1} done in {time.time() - t0:.0f} s: train cls {m[0]:.4f}, val AUC {val_auc:.4f}, "
                  f"video val AUC {val_video_auc:.4f}, clips AUC {val_clip_auc:.4f}, recon AUC {val_recon_auc:.4f}, "
                  f"val mask BCE {val_mask:.4f}")
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        if score > best:
            best = score
            torch.save({"config": config, "state_dict": weights, "epoch": epoch + 1, "val_auc": val_auc,
                        "val_video_auc": val_video_auc, "val_clip_auc": val_clip_auc, "val_recon_auc": val_recon_auc,
                        "select": args.select}, out / "best.pt.tmp")
            (out / "best.pt.tmp").replace(out / "best.pt")
            np.savez(out / "val.npz", labels=labels, logits=logits)
        torch.save({"config": config, "state_dict": weights, "optimizer": opt.state_dict(), "epoch": epoch + 1,
                    "step": step, "best_val_auc": best, "history": json.dumps(history)}, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(out / "last.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if args.minutes and time.time() - t_start > args.minutes * 60 and epoch + 1 < args.epochs:
            _log(out, f"time budget of {args.minutes:g} min reached after epoch {epoch + 1}; --resume continues")
            break
    _log(out, f"done: best {args.select} AUC {best:.4f}, {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
