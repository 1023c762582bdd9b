"""Checkpoint → ONNX for the ``ai-image`` detector, with its sha256.

``python -m unmask.training.export --ckpt out/ai_run2/best.pt --onnx unmask/detectors/weights/ai-image.onnx``

The graph takes ``image`` (N, 3, H, W) float32 RGB in [0, 1] with H and W any
multiples of 16 and returns ``logit`` (N,) and ``logit_map`` (N, 1, H/16, W/16).
BatchNorm is folded into the convolutions by the exporter's constant folding,
so the file holds plain convolutions only. The script checks the ONNX output
against torch on random input before printing the sha256 to paste into
``unmask/detectors/ai_image.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path


def export_module(model, onnx_path: Path, example, *, output_names: list[str], dynamic_axes: dict,
                  check_input=None, opset: int = 17) -> str:
    """Export torch ``model`` (in eval mode) with input ``image``; check every output against torch; return the sha256.

    Shared by every trainer in ``unmask.training``. ``check_input`` (default:
    ``example``) is run through both torch and onnxruntime and must agree to 1e-4.
    """
    import numpy as np
    import onnxruntime as ort
    import torch

    model = model.eval()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(onnx_path),
        input_names=["image"],
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = example if check_input is None else check_input
    with torch.no_grad():
        want = model(x)
    got = session.run(output_names, {"image": x.numpy()})
    for name, w, g in zip(output_names, want, got):
        w = w.numpy()
        if w.shape != g.shape or not np.allclose(w, g, atol=1e-4):
            raise RuntimeError(f"ONNX output {name!r} differs from torch by {np.abs(w - g).max():g}")
    return hashlib.sha256(onnx_path.read_bytes()).hexdigest()


def load_folded_convs(model, path: Path) -> tuple[int, dict]:
    """Put the convolutions of an exported ONNX file back into ``model``; returns (how many, {"graph", "inits"}).

    Shipped weights are kept as ONNX only, and the exporter folds every BatchNorm into the convolution before it.
    Each folded convolution goes back as the convolution's weight, and its bias becomes the BatchNorm's shift, with
    scale 1, mean 0 and variance ``1 - eps`` (an identity). The network then computes what the ONNX graph computes,
    *as long as BatchNorm stays in eval mode*. Convolutions are matched in order; other layers (a ``Gemm``) are the
    caller's, from the returned initializers.
    """
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    modules = list(model.modules())
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    for i, m in enumerate(modules):
        if isinstance(m, nn.Conv2d):
            nxt = modules[i + 1] if i + 1 < len(modules) else None
            pairs.append((m, nxt if isinstance(nxt, nn.BatchNorm2d) else None))
    if len(pairs) != len(convs):
        raise ValueError(f"{path}: {len(convs)} convolutions in the graph, {len(pairs)} in the network")
    with torch.no_grad():
        for (conv, bn), node in zip(pairs, convs):
            w = torch.from_numpy(inits[node.input[1]].copy())
            b = torch.from_numpy(inits[node.input[2]].copy()) if len(node.input) > 2 else torch.zeros(w.shape[0])
            if w.shape != conv.weight.shape:
                raise ValueError(f"{path}: convolution {node.name} has shape {tuple(w.shape)}, expected {tuple(conv.weight.shape)}")
            conv.weight.copy_(w)
            if bn is None:
                conv.bias.copy_(b)
            else:
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
    return len(pairs), {"graph": graph, "inits": inits}


def export(ckpt: Path | list[Path], onnx_path: Path, *, opset: int = 17) -> str:
    """Write ``onnx_path`` from ``ai-image`` checkpoint ``ckpt``; returns the file's sha256.

    Several checkpoints make one graph whose ``logit`` and ``logit_map`` are the members' means
    (a seed ensemble; the logit stays the mean of the map). It costs one network per member.
    """
    import torch
    from torch import nn

    from unmask.training.images_model import build

    members = []
    for path in [ckpt] if isinstance(ckpt, Path) else ckpt:
        state = torch.load(path, map_location="cpu", weights_only=True)
        member = build(state["config"]).eval()
        member.load_state_dict(state["state_dict"])
        members.append(member)

    class MeanOf(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)

        def forward(self, x):
            outs = [m(x) for m in self.members]
            return tuple(torch.stack(o).mean(0) for o in zip(*outs))

    model = members[0] if len(members) == 1 else MeanOf().eval()
    return export_module(
        model,
        onnx_path,
        torch.rand(2, 3, 128, 160),
        output_names=["logit", "logit_map"],
        dynamic_axes={
            "image": {0: "n", 2: "h", 3: "w"},
            "logit": {0: "n"},
            "logit_map": {0: "n", 2: "h16", 3: "w16"},
        },
        check_input=torch.rand(3, 3, 96, 224),
        opset=opset,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m unmask.training.export", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--ckpt", type=Path, nargs="+", required=True, help="one checkpoint, or several for their mean"
    )
    p.add_argument(
        "--onnx", type=Path, default=Path("unmask/detectors/weights/ai-image.onnx")
    )
    args = p.parse_args(argv)
    digest = export(args.ckpt, args.onnx)
    print(f"{args.onnx}  {args.onnx.stat().st_size} bytes  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
