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
  other 1-D ".weight"   1 + 0.2·sin(1.3·i + j)        (BatchNorm γ)
  other 1-D ".bias"     0.1·sin(0.97·i + j)
  ≥2-D weights          sin(0.7·i + 0.3·j + 1) · sqrt(3 / fan_in),  fan_in = prod(shape[1:])
Input element i of the [N, C, H, W] batch: 0.5 + 0.45·sin(0.37·i + 0.1); label of example n: (3n + 1) mod K.

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
    # (name in AdvDistill, constructor, in_channels, size, batch)
    ("tinycnn", lambda: ZOO["tinycnn"](1, 10), 1, 28, 4),
    ("smallcnn", lambda: ZOO["smallcnn"](1, 10), 1, 28, 2),
    ("resnet18", lambda: ZOO["resnet18"](3, 10), 3, 32, 2),
    ("preactresnet18", lambda: ZOO["preactresnet18"](3, 10), 3, 32, 2),
    ("mobilenetv2", lambda: ZOO["mobilenetv2"](3, 10), 3, 32, 2),
    ("resnet56", lambda: ZOO["resnet56"](3, 10), 3, 32, 2),
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
                v = 1 + 0.2 * torch.sin(1.3 * i + j)
            elif t.dim() == 1 and key.endswith(".bias"):
                v = 0.1 * torch.sin(0.97 * i + j)
            else:
                fan_in = math.prod(t.shape[1:])
                v = torch.sin(0.7 * i + 0.3 * j + 1) * math.sqrt(3 / fan_in)
            t.copy_(v.to(torch.float32).view_as(t))


def summary(t):
    flat = t.detach().reshape(-1).double()
    n = flat.numel()
    return {"sum": flat.sum().item(), "abs_sum": flat.abs().sum().item(),
            "samples": [flat[(k * n) // 8].item() for k in range(8)]}


def make(name, ctor, ch, size, batch):
    torch.manual_seed(0)
    model = ctor()
    formula_state(model)
    n_el = batch * ch * size * size
    i = torch.arange(n_el, dtype=torch.float64)
    x = (0.5 + 0.45 * torch.sin(0.37 * i + 0.1)).to(torch.float32).view(batch, ch, size, size)
    y = torch.tensor([(3 * b + 1) % 10 for b in range(batch)])

    model.eval()
    with torch.no_grad():
        logits_eval = model(x)

    model.train()
    xg = x.clone().requires_grad_(True)
    logits_train = model(xg)
    loss = F.cross_entropy(logits_train, y)
    loss.backward()
    grads = {k: summary(p.grad) for k, p in model.named_parameters()}
    running = {k: t.double().sum().item() for k, t in model.state_dict().items()
               if k.endswith("running_mean") or k.endswith("running_var")}

    # Three SGD steps from the same formula weights (fresh model so the BN statistics start equal).
    model2 = ctor()
    formula_state(model2)
    model2.train()
    opt = torch.optim.SGD(model2.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
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
        "loss_train": loss.item(),
        "grad_input": summary(xg.grad),
        "grad_params": grads,
        "running_stats_sums": running,
        "sgd_losses": losses,
        "torch_version": torch.__version__,
    }


def main():
    out_dir = os.path.dirname(os.path.abspath(__file__))
    for case in CASES:
        fx = make(*case)
        path = os.path.join(out_dir, f"{case[0]}.json")
        with open(path, "w") as f:
            json.dump(fx, f, indent=1)
        print(f"{path}: loss {fx['loss_train']:.6f}, {fx['parameter_count']} parameters")


if __name__ == "__main__":
    main()
