"""Faces redrawn by a small autoencoder, as a second kind of source for self-blending (``face-swap``).

    python -m unmask.training.faces_recon [--minutes 8] [--out out/faces-cache/recon160.npz]

Why: SBI's source is the face itself, recoloured, re-sharpened or blurred, so the model learns the seam. A
face swapper's source is a face *drawn by a decoder* (DeepFaceLab/DeepFaceLive: an autoencoder whose decoder
up-samples by pixel shuffle), colour-transferred and blended in with a soft mask, so the seam can be nearly
invisible while the skin inside has the decoder's texture: smooth, waxy, with up-sampling traces. The dev
set's DeepFaceLive swaps look like that, and the shipped model, trained on SBI, is near chance on them.

Here one autoencoder of that design (by default two stride-2 convolutions to a 40 x 40 x 16 code, two
pixel-shuffle up-sampling blocks back to 160 px; four stages to a 10 x 10 code redraw only a blur after minutes of
CPU training) is trained for a few minutes on the *training* identities' aligned crops
(``faces_data``'s cache and split), then redraws every crop of the cache. ``faces_data.self_blend`` can take
the redrawn face as its source (``source=``): its colours are moved to the real face's inside the mask (per
channel mean and spread, DeepFaceLab's "rct" idea) before blending, so only texture and the seam are left.

Output: ``.npz`` with ``recon`` (N, S, S, 3) uint8 in the cache's order and ``trained_on`` (the indices of
the crops the autoencoder saw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SIZE_PX = 160


def build_autoencoder(downs: int = 2, code: int = 16):
    """``downs`` stride-2 convolutions to an S/2^downs grid of ``code`` channels, as many pixel-shuffle blocks back up."""
    import torch
    from torch import nn

    def down(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 5, 2, 2), nn.LeakyReLU(0.1, inplace=True))

    def up(cin: int, cout: int) -> nn.Module:  # DeepFaceLab's "Upscale": conv to 4x channels, depth-to-space
        return nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True), nn.PixelShuffle(2))

    class FaceAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = (48, 96, 192, 256)[:downs]
            enc, cin = [], 3
            for w in widths:
                enc.append(down(cin, w))
                cin = w
            self.encoder = nn.Sequential(*enc, nn.Conv2d(cin, code, 1))
            dec: list[nn.Module] = [nn.Conv2d(code, widths[-1], 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
            for w_in, w_out in zip(widths[::-1], (*widths[::-1][1:], 32)):
                dec.append(up(w_in, w_out))
            self.decoder = nn.Sequential(*dec, nn.Conv2d(32, 3, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.decoder(self.encoder(x)))

    return FaceAutoencoder()


def train(images: np.ndarray, *, minutes: float, batch: int = 16, lr: float = 5e-4, seed: int = 0, downs: int = 2,
          code: int = 16, log=print):
    """The autoencoder after ``minutes`` of Adam on L1 + MSE over random crops of ``images`` (N, S, S, 3) uint8, with flips."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_autoencoder(downs, code)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        idx = rng.integers(0, len(images), batch)
        x = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float().div_(255.0)
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x[flip] = x[flip].flip(3)
        y = model(x)
        loss = F.l1_loss(y, x) + F.mse_loss(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            log(f"autoencoder step {step}, loss {float(loss.detach()):.4f}, {time.time() - t0:.0f} s")
    model.eval()
    return model


def reconstruct(model, images: np.ndarray, batch: int = 32) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float().div_(255.0)
            out.append((model(x).clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    import torch

    from unmask.training import faces_data as D

    ap = argparse.ArgumentParser(prog="python -m unmask.training.faces_recon", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/faces"))
    ap.add_argument("--cache", type=Path, default=Path("out/faces-cache"))
    ap.add_argument("--out", type=Path, default=Path("out/faces-cache/recon160.npz"))
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--downs", type=int, default=2, help="stride-2 stages: 2 = a 40 x 40 code (faces-run4), 4 = 10 x 10 (blurry redraws)")
    ap.add_argument("--code", type=int, default=16, help="channels of the code")
    ap.add_argument("--seed", type=int, default=0, help="faces_train's --seed (the same identity split)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache = D.build_cache(args.data, args.cache / f"crops{SIZE_PX}.npz", SIZE_PX)
    trained_on = D.split_identities(cache.identity, seed=args.seed)["train"]
    model = train(cache.images[trained_on], minutes=args.minutes, seed=args.seed, downs=args.downs, code=args.code)
    recon = reconstruct(model, cache.images)
    err = np.abs(recon.astype(np.float32) - cache.images).mean(axis=(1, 2, 3))
    held = np.setdiff1d(np.arange(len(cache.images)), trained_on)
    print(f"mean absolute error (grey levels): trained-on faces {err[trained_on].mean():.2f}, held-out {err[held].mean():.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, recon=recon, trained_on=trained_on)
    print(f"{args.out}: {len(recon)} redrawn faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
