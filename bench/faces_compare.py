"""Compare face-swap checkpoints on the held-out identities' SBI pairs, clean and degraded (no dev-set file is read).

``python bench/faces_compare.py out/faces-run1/best.pt out/faces-run2/best.pt``

Modes (``faces_data.degrade``): "none" (the aligned crops as they are), "chain-nocodec" (faces-run1's chain: the
validation AUC both runs log), "video" (0.3-0.6x, H.264 CRF 26-34, back up). Identities: *calib* (model selection)
and *report* (never used for selection or the threshold). Same fixed pairs for every checkpoint.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from unmask.training import faces_data as D
from unmask.training.faces_calibrate import sbi_pairs
from unmask.training.faces_model import build
from unmask.training.faces_train import to_input
from unmask.training.train_images import auc


def main(paths: list[str]) -> int:
    torch.set_num_threads(1)
    from pathlib import Path

    cache = D.build_cache(Path("../shared/data/faces"), Path("out/faces-cache/crops160.npz"), 160)
    split = D.split_identities(cache.identity, heldout_share=0.15, seed=0)
    sets = {(ids, mode): sbi_pairs(cache, split[ids], 1000 if ids == "calib" else 2000, mode)
            for ids in ("calib", "report") for mode in ("none", "chain-nocodec", "video")}
    out = {}
    for path in paths:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = build(state["config"])
        model.load_state_dict(state["state_dict"])
        model = model.to(memory_format=torch.channels_last).eval()
        res = {}
        with torch.inference_mode():
            for (ids, mode), (x, y) in sets.items():
                logits = np.concatenate([model(to_input(torch.from_numpy(x[i:i + 64]).permute(0, 3, 1, 2)))[0].numpy()
                                         for i in range(0, len(x), 64)])
                res[f"{ids}/{mode}"] = round(auc(y, logits), 4)
        out[path] = {"epoch": state.get("epoch"), **res}
        print(path, json.dumps(out[path]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
