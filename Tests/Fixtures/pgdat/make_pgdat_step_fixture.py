#!/usr/bin/env python3
"""Writes the PyTorch fixture of three PGD-AT training steps (issue 22), for Tests/DistillationTests/PGDATParityTests.swift.

Run from the repository root:  python3 Tests/Fixtures/pgdat/make_pgdat_step_fixture.py   (needs torch)

The model is `tinycnn` at 8×8 input (so the weight file stays small: 59 k values) with PyTorch's own
initialisation (seed 0) and running statistics set away from (0, 1) so that eval-mode and train-mode batch norm
differ, as they do after the first batches of a run. On one batch of 16 images (uniform in [0, 1], seed 1) it runs
AdvDistill's `pgd_at` step three times, in float32 as a run does:
  x' = PGD-5 on CE, step 0.025, L∞ ε = 0.1, **no random start** (so both sides are deterministic), BN in eval mode,
       projection to the ε-ball and [0, 1] after each step;
  CE(f(x'), y) with BN in train mode; backward; SGD lr 0.05, momentum 0.9, weight decay 2e-4 on every parameter.
Writes pgdat_step_weights.safetensors (the initial state_dict) and pgdat_step.json: the batch, and per step the
loss, Σx', Σ|x' − x| and how many pixels sit on the ε boundary; after the three steps, per state tensor its sum,
sum of |·| and 4 elements at floor(k·count/4).
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench"))
from models import SmallCNN  # noqa: E402

EPS, STEP, STEPS = 0.1, 0.025, 5


def save(state, path):
    header, chunks, offset = {}, [], 0
    for key, t in state.items():
        t = t.detach().contiguous()
        dtype = "I64" if t.dtype == torch.int64 else "F32"
        data = (t if dtype == "I64" else t.float()).numpy().tobytes()
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))


def main():
    torch.manual_seed(0)
    model = SmallCNN(1, 10, widths=(16, 32, 64), hidden=128, size=8)
    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    save(model.state_dict(), os.path.join(HERE, "pgdat_step_weights.safetensors"))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)
    steps = []
    for _ in range(3):
        model.eval()
        xa = x.clone()
        for _ in range(STEPS):
            xa.requires_grad_(True)
            grad, = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
            xa = torch.min(torch.max(xa.detach() + STEP * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
        model.train()
        loss = F.cross_entropy(model(xa), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        d = (xa - x).abs()
        steps.append({"loss": loss.item(), "x_adv_sum": xa.double().sum().item(), "delta_abs_sum": d.double().sum().item(),
                      "on_boundary": int((d > EPS - 1e-6).sum().item())})
    final = {}
    for key, t in model.state_dict().items():
        if t.dtype == torch.int64:
            continue
        flat = t.double().flatten()
        n = flat.numel()
        final[key] = {"sum": flat.sum().item(), "abs_sum": flat.abs().sum().item(),
                      "samples": [[k * n // 4, flat[k * n // 4].item()] for k in range(4)]}
    out = {"x": x.flatten().tolist(), "labels": y.tolist(), "steps": steps, "final_state": final,
           "torch": torch.__version__}
    with open(os.path.join(HERE, "pgdat_step.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote pgdat_step.json and pgdat_step_weights.safetensors")


if __name__ == "__main__":
    main()
