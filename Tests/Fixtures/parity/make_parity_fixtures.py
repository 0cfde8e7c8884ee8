#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures for AdvDistill's model zoo (one JSON file per architecture).

Run from the repository root:  python3 Tests/Fixtures/parity/make_parity_fixtures.py
Needs torch (pip install torch). The Swift tests (Tests/NNTests/ModelParityTests.swift) fill the same
weights with the same formula, run the same batch, and compare every number below.

Weights come from a formula, not from random draws, so no weight file is committed and both sides agree
bit for bit on the inputs. For the state_dict entry number j (in state_dict order), element i (row-major),
computed in float64 and rounded to float32:
  num_batches_tracked   0
  running_mean          0.1·sin(0.83·i + j)
  running_var           1 + 0.5·|sin(0.61·i + j)|
  other 1-D ".weight"   0.5 + 0.2·sin(1.3·i + j)      (BatchNorm γ; < 1 so 27-block eval paths stay bounded)
  other 1-D ".bias"     0.1·sin(0.97·i + j)
  ≥2-D weights          (2·h(i, j) − 1) · sqrt(3 / fan_in),  fan_in = prod(shape[1:]),
                        h(i, j) = frac(|sin(12.9898·i + 78.233·j + 1)|·43758.5453) (a hash: a periodic formula
                        makes depthwise filters nearly cancel, and train-mode BatchNorm ill-conditioned)
Input element i of the [N, C, H, W] batch: frac(|sin(12.9898·i + 1)|·43758.5453) (a hash: irregular, so that
no channel has a degenerate batch variance in train-mode BatchNorm); label of example n: (3n + 1) mod K.

The reference numbers are computed in float64 (the formula values are rounded to float32 first), so the Swift
tolerances measure our float32 error alone; `conditioning` records how far PyTorch's own float32 run is from
that reference, which shows the tolerances are not hiding an ill-conditioned problem.

Each fixture holds: eval-mode logits; train-mode logits, mean cross-entropy, the input gradient and every
parameter gradient of that loss (sum, sum of |·| and 8 sampled elements at indices floor(k·count/8));
the BatchNorm running statistics after that one train-mode forward (sums); and the losses of 3 SGD steps
(lr 0.05, momentum 0.9, weight decay 5e-4) on the same batch.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from models import ZOO, WideResNet, DMWideResNet  # noqa: E402

CASES = [
    # (name in AdvDistill, constructor, in_channels, size, batch[, gradient mode])
    # Gradients are taken in train mode (batch statistics) except where that problem is ill-conditioned at
    # these weights even for PyTorch (float32 vs float64 differ by > 1e-3): there, in eval mode; train-mode
    # logits and loss are still compared.
    ("tinycnn", lambda: ZOO["tinycnn"](1, 10), 1, 28, 4),
    ("smallcnn", lambda: ZOO["smallcnn"](1, 10), 1, 28, 2),
    ("resnet18", lambda: ZOO["resnet18"](3, 10), 3, 32, 2),
    ("preactresnet18", lambda: ZOO["preactresnet18"](3, 10), 3, 32, 2),
    ("mobilenetv2", lambda: ZOO["mobilenetv2"](3, 10), 3, 32, 8, "eval"),
    ("resnet56", lambda: ZOO["resnet56"](3, 10), 3, 32, 2, "eval"),
    ("trades-wrn-10-2", lambda: WideResNet(3, 10, depth=10, widen=2, sub_block1=False), 3, 32, 2),
    ("dm-wrn-10-2", lambda: DMWideResNet(3, 10, depth=10, width=2), 3, 32, 2),
]


def formula_state(model):
    sd = model.state_dict()
    with torch.no_grad():
        for j, (key, t) in enumerate(sd.items()):
            n = t.numel()
            i = torch.arange(n, dtype=torch.float64)
            if key.endswith("num_batches_tracked"):
                t.zero_()
                continue
            if key.endswith("running_mean"):
                v = 0.1 * torch.sin(0.83 * i + j)
            elif key.endswith("running_var"):
                v = 1 + 0.5 * torch.abs(torch.sin(0.61 * i + j))
            elif t.dim() == 1 and key.endswith(".weight"):
                v = 0.5 + 0.2 * torch.sin(1.3 * i + j)
            elif t.dim() == 1 and key.endswith(".bias"):
                v = 0.1 * torch.sin(0.97 * i + j)
            else:
                fan_in = math.prod(t.shape[1:])
                h = torch.abs(torch.sin(12.9898 * i + 78.233 * j + 1)) * 43758.5453
                v = (2 * (h - torch.floor(h)) - 1) * math.sqrt(3 / fan_in)
            t.copy_(v.to(torch.float32).view_as(t))


def summary(t):
    flat = t.detach().reshape(-1).double()
    n = flat.numel()
    return {"sum": flat.sum().item(), "abs_sum": flat.abs().sum().item(), "count": n,
            "samples": [flat[(k * n) // 8].item() for k in range(8)]}


def formula_input(batch, ch, size):
    i = torch.arange(batch * ch * size * size, dtype=torch.float64)
    v = torch.abs(torch.sin(12.9898 * i + 1)) * 43758.5453
    return (v - torch.floor(v)).to(torch.float32).view(batch, ch, size, size)


def make(name, ctor, ch, size, batch, grad_mode="train", dtype=torch.float64):
    torch.manual_seed(0)
    model = ctor()
    formula_state(model)  # float32 values …
    model = model.to(dtype)  # … evaluated in float64
    x = formula_input(batch, ch, size).to(dtype)
    y = torch.tensor([(3 * b + 1) % 10 for b in range(batch)])

    model.eval()
    with torch.no_grad():
        logits_eval = model(x)

    model.train()
    xg = x.clone().requires_grad_(True)
    logits_train = model(xg)
    loss = F.cross_entropy(logits_train, y)
    if grad_mode == "eval":
        # Running statistics after the train-mode forward above, then gradients of the eval-mode loss.
        model.eval()
        xg = x.clone().requires_grad_(True)
        grad_loss = F.cross_entropy(model(xg), y)
        grad_loss.backward()
        model.train()
    else:
        loss.backward()
    grads = {k: summary(p.grad) for k, p in model.named_parameters()}
    running = {k: t.double().sum().item() for k, t in model.state_dict().items()
               if k.endswith("running_mean") or k.endswith("running_var")}

    # Three SGD steps from the same formula weights (fresh model so the BN statistics start equal).
    model2 = ctor()
    formula_state(model2)
    model2 = model2.to(dtype)
    model2.train()
    opt = torch.optim.SGD(model2.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        if grad_mode == "eval":
            model2.eval()
        l = F.cross_entropy(model2(x), y)
        l.backward()
        opt.step()
        losses.append(l.item())

    return {
        "arch": name, "in_channels": ch, "size": size, "batch": batch, "num_classes": 10,
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "state_keys": list(model.state_dict().keys()),
        "logits_eval": logits_eval.reshape(-1).tolist(),
        "logits_train": logits_train.detach().reshape(-1).tolist(),
        "loss_train": loss.item(), "grad_mode": grad_mode,
        "grad_input": summary(xg.grad),
        "grad_params": grads,
        "running_stats_sums": running,
        "sgd_losses": losses,
        "torch_version": torch.__version__, "reference_dtype": str(dtype),
    }


def relative_gap(a, b):
    """max |a − b| / (|b| + floor) over logits and every gradient's Σ|g|. The floor, 1e-4 of the mean |g|
    over the whole model times the tensor's size, keeps gradients that are exactly zero in exact arithmetic
    (e.g. a BatchNorm β whose shift the next train-mode BatchNorm removes) from counting their rounding noise
    as a relative error; the Swift test uses the same floor."""
    gaps = []
    for key in ("logits_eval", "logits_train"):
        ref = max(abs(v) for v in b[key])
        gaps.append(max(abs(u - v) for u, v in zip(a[key], b[key])) / ref)
    mean_abs = sum(s["abs_sum"] for s in b["grad_params"].values()) / b["parameter_count"]
    for k, s in b["grad_params"].items():
        floor = 1e-4 * mean_abs * s["count"]
        gaps.append(abs(a["grad_params"][k]["abs_sum"] - s["abs_sum"]) / (s["abs_sum"] + floor))
    return max(gaps)


def main():
    out_dir = os.path.dirname(os.path.abspath(__file__))
    for case in CASES:
        fx = make(*case)
        fx["conditioning"] = relative_gap(make(*case, dtype=torch.float32), fx)
        if fx["conditioning"] > 1e-3:
            raise SystemExit(f"{case[0]}: PyTorch float32 is {fx['conditioning']:.1e} from float64: ill-conditioned fixture")
        path = os.path.join(out_dir, f"{case[0]}.json")
        with open(path, "w") as f:
            json.dump(fx, f, indent=1)
        print(f"{path}: loss {fx['loss_train']:.6f}, {fx['parameter_count']} parameters, "
              f"PyTorch float32 vs float64: {fx['conditioning']:.2e}")


if __name__ == "__main__":
    main()
