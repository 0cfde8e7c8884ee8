#!/usr/bin/env python3
"""The Fashion-MNIST student protocol in plain PyTorch, to compare AdvDistill's baselines with PyTorch's.

Usage:
  python3 bench/fmnist_protocol.py train --method pgd_at --seed 1 --out runs/parity/torch-pgd_at-1.safetensors
  python3 bench/fmnist_protocol.py train --method trades --seed 2 --out …   [--epochs 2] [--threads 1]
  python3 bench/fmnist_protocol.py train … --init init.safetensors --order order.json --dump-step steps.safetensors

The protocol (issue 22; notes/distillation-budget.md): `tinycnn` from bench/models.py, all 60,000 training
images, no validation split, no augmentation, 2 epochs, batch 128 (the last batch of 96 included), SGD lr 0.05,
momentum 0.9, weight decay 2e-4 on every parameter, cosine annealing stepped per batch to 0 over the whole run
(CosineAnnealingLR(T_max = epochs · batches), AdvDistill's "cosine" schedule), and the training attack run with
BN in eval mode:
  pgd_at  CE(f(x'), y), x' = PGD-5 of step 0.025 at L∞ ε = 0.1 from a uniform start in the ε-ball, on CE
  trades  CE(f(x), y) + 6 · batchmean KL(f(x) ‖ f(x')), x' = 5 steps of 0.025 maximising that KL from
          x + 0.001·N(0, 1) (AdvDistill's TRADES with this config's attack section)
The model is written as safetensors with PyTorch's own names, so that one evaluator scores both sides:
  advdistill eval --checkpoint X --model tinycnn --data Data/fashion-mnist --eps 0.1 --attacks fgsm,pgd20,apgd-ce --limit 1000

Options for narrowing a difference step by step (bench/README.md, "PGD-AT parity"):
  --init FILE       start from these weights (safetensors with PyTorch names, e.g. from `advdistill`) instead of
                    PyTorch's own initialisation
  --order FILE      take each epoch's data order from FILE (JSON: a list of per-epoch index lists)
  --steps N         stop after N optimiser steps (the model is written as it is then)
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import ZOO  # noqa: E402

EPS, STEP, STEPS = 0.1, 0.025, 5


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(root, split):
    prefix = "train" if split == "train" else "t10k"
    def find(kind):
        for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz",
                     f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"):
            if os.path.exists(os.path.join(root, name)):
                return os.path.join(root, name)
        sys.exit(f"fmnist_protocol: no {prefix} {kind} under {root}")
    images = torch.from_numpy(read_idx(find("images")).astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(read_idx(find("labels")).astype(np.int64))
    return images, labels


def save_safetensors(tensors, path):
    """safetensors writer (F32 only): 8-byte little-endian header length, JSON header, raw data."""
    header, chunks, offset = {}, [], 0
    for key in sorted(tensors):
        arr = tensors[key].detach().contiguous().to(torch.float32).numpy().tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(arr)]}
        chunks.append(arr)
        offset += len(arr)
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__" or key.startswith("__"):
            continue
        dtype = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        a, b = info["data_offsets"]
        out[key] = torch.from_numpy(np.frombuffer(body[a:b], dtype=dtype).copy()).reshape(info["shape"])
    return out


def pgd_ce(model, x, y, gen):
    """PGD-5 on CE from a uniform start in the ε-ball, clipped to [0, 1]; BN in eval mode."""
    model.eval()
    xa = (x + torch.empty_like(x).uniform_(-EPS, EPS, generator=gen)).clamp(0, 1)
    for _ in range(STEPS):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        g, = torch.autograd.grad(loss, xa)
        xa = torch.min(torch.max(xa.detach() + STEP * g.sign(), x - EPS), x + EPS).clamp(0, 1)
    model.train()
    return xa.detach()


def trades_x(model, x, gen):
    """5 steps of 0.025 maximising KL(f(x) ‖ f(x')) from x + 0.001·N, BN in eval mode."""
    model.eval()
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)
    xa = (x + 0.001 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    for _ in range(STEPS):
        xa.requires_grad_(True)
        loss = F.kl_div(F.log_softmax(model(xa), dim=1), p, reduction="sum")
        g, = torch.autograd.grad(loss, xa)
        xa = torch.min(torch.max(xa.detach() + STEP * g.sign(), x - EPS), x + EPS).clamp(0, 1)
    model.train()
    return xa.detach()


def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed + 1000)
    x_all, y_all = load_split(args.data, "train")
    model = ZOO["tinycnn"]()
    if args.init:
        missing = model.load_state_dict(load_safetensors(args.init), strict=True)
        assert not missing.missing_keys and not missing.unexpected_keys, missing
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=2e-4)
    n = len(y_all)
    per_epoch = math.ceil(n / args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * per_epoch)
    orders = json.load(open(args.order)) if args.order else None
    steps = 0
    t0 = time.time()
    model.train()
    for epoch in range(args.epochs):
        order = torch.tensor(orders[epoch]) if orders else torch.randperm(n, generator=gen)
        total, batches = 0.0, 0
        for b in range(per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            x, y = x_all[idx], y_all[idx]
            if args.method == "pgd_at":
                xa = pgd_ce(model, x, y, gen)
                loss = F.cross_entropy(model(xa), y)
            elif args.method == "trades":
                xa = trades_x(model, x, gen)
                logits = model(x)
                loss = F.cross_entropy(logits, y) + 6.0 * F.kl_div(
                    F.log_softmax(model(xa), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
            else:
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            batches += 1
            steps += 1
            if args.steps and steps >= args.steps:
                break
        print(f"epoch {epoch + 1}: loss {total / max(batches, 1):.4f} ({time.time() - t0:.0f} s)", flush=True)
        if args.steps and steps >= args.steps:
            break
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_safetensors(model.state_dict(), args.out)
    print(f"wrote {args.out} after {steps} steps in {time.time() - t0:.0f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--method", choices=["pgd_at", "trades", "natural"], default="pgd_at")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--data", default="Data/fashion-mnist")
    t.add_argument("--init")
    t.add_argument("--order")
    t.add_argument("--steps", type=int, default=0)
    t.add_argument("--out", required=True)
    args = p.parse_args()
    train(args)


if __name__ == "__main__":
    main()
