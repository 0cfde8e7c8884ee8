#!/usr/bin/env python3
"""Writes the PyTorch fixture of three PGD-AT training steps (issue 22), for Tests/DistillationTests/PGDATParityTests.swift.

Run from the repository root:  python3 Tests/Fixtures/pgdat/make_pgdat_step_fixture.py   (needs torch)
With --power it writes nothing and shows what the test's bounds catch: each wrong step of WRONG_STEPS, run in PyTorch
from the fixture's weights and batch, and how many of the test's final-state checks it fails.

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

Each of those final numbers also gets `spread`: how far it moves when only the rounding changes. The three steps
run again VARIANTS times, each from the initial weights with relative noise of NOISE (× the tensor's RMS) added, about
the error by which our Winograd convolutions differ from PyTorch's direct ones (1e-5 of a tile's mean |y|,
Sources/Engine/Ops/Winograd.swift); `spread` is the largest |variant − reference|. A ReLU, max-pool or gradient-sign
decision nearer a tie than that goes either way in float32 on either side, and no batch of 16 avoids every such
tie (none of 110 random batches did: their smallest margins were 5e-8 to 3e-6); one decided the other way sends
a gradient down another path or moves a pixel by 2 × STEP. The reruns move the sums of the small batch-norm
biases by up to 7e-3 of their Σ|·|, the weights' by 1.5e-4 at most. The test holds each number to max(1e-4 of its
scale, 2 × spread): a flipped near-tie passes, while a wrong step (batch norm in the wrong mode in the attack or the
update, momentum 0.85, step size 0.02, four attack steps, batch-norm momentum 0.2) fails 53 to 105 of the 114
final-state checks, the worst by 55× to 10,000× its bound (--power). Weight decay is below every bound (three steps move a weight by 3e-5 of itself).
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
VARIANTS, NOISE = 12, 1e-5


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


def three_steps(initial, x, y, noise_seed=None, attack_mode="eval", update_mode="train", momentum=0.9, step=STEP,
                steps_per_attack=STEPS, bn_momentum=0.1, weight_decay=2e-4):
    """The three steps from `initial` (plus rounding-scale noise when `noise_seed` is given): (steps, final state).
    The other arguments make a wrong step, for --power."""
    model = SmallCNN(1, 10, widths=(16, 32, 64), hidden=128, size=8)
    model.load_state_dict(initial)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = bn_momentum
    if noise_seed is not None:
        g = torch.Generator().manual_seed(noise_seed)
        with torch.no_grad():
            for p in model.parameters():
                rms = p.pow(2).mean().sqrt()
                p.add_(NOISE * rms * torch.randn(p.shape, generator=g))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum, weight_decay=weight_decay)
    steps = []
    for _ in range(3):
        model.train(attack_mode == "train")
        xa = x.clone()
        for _ in range(steps_per_attack):
            xa.requires_grad_(True)
            grad, = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
            xa = torch.min(torch.max(xa.detach() + step * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
        model.train(update_mode == "train")
        loss = F.cross_entropy(model(xa), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        d = (xa - x).abs()
        steps.append({"loss": loss.item(), "x_adv_sum": xa.double().sum().item(), "delta_abs_sum": d.double().sum().item(),
                      "on_boundary": int((d > EPS - 1e-6).sum().item())})
    return steps, {k: t for k, t in model.state_dict().items() if t.dtype != torch.int64}


def summary(t):
    """What the test checks of a final state tensor: Σ, Σ|·| and the elements at floor(k·count/4), k = 0…3."""
    flat = t.double().flatten()
    n = flat.numel()
    return flat.sum().item(), flat.abs().sum().item(), [flat[k * n // 4].item() for k in range(4)]


WRONG_STEPS = {
    "batch norm in train mode in the attack": dict(attack_mode="train"),
    "batch norm in eval mode in the update": dict(update_mode="eval"),
    "momentum 0.85": dict(momentum=0.85),
    "step size 0.02": dict(step=0.02),
    "four attack steps": dict(steps_per_attack=4),
    "batch-norm momentum 0.2": dict(bn_momentum=0.2),
    "no weight decay (below every bound)": dict(weight_decay=0),
}


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for key, e in header.items():
        lo, hi = e["data_offsets"]
        dtype = torch.int64 if e["dtype"] == "I64" else torch.float32
        out[key] = torch.frombuffer(bytearray(raw[8 + n + lo:8 + n + hi]), dtype=dtype).reshape(e["shape"])
    return out


def power():
    """Runs each wrong step in PyTorch from the fixture's weights and batch, and says how many of the test's final-state
    checks it fails and by how much (the test's bounds: max(1e-4 of the scale, 2 × spread))."""
    fixture = json.load(open(os.path.join(HERE, "pgdat_step.json")))
    initial = load(os.path.join(HERE, "pgdat_step_weights.safetensors"))
    x = torch.tensor(fixture["x"]).reshape(16, 1, 8, 8)
    y = torch.tensor(fixture["labels"])
    for name, wrong in WRONG_STEPS.items():
        _, state = three_steps(initial, x, y, **wrong)
        failed, worst = 0, 0.0
        for key, e in fixture["final_state"].items():
            s, a, samples = summary(state[key])
            scale = max(e["abs_sum"], 1e-3)
            checks = [(s, e["sum"], max(1e-4 * scale, 2 * e["spread"]["sum"])),
                      (a, e["abs_sum"], max(1e-4 * scale, 2 * e["spread"]["abs_sum"]))]
            checks += [(got, v, max(1e-4 * max(1, abs(v)), 2 * sp))
                       for got, (_, v), sp in zip(samples, e["samples"], e["spread"]["samples"])]
            for got, want, bound in checks:
                ratio = abs(got - want) / bound
                worst = max(worst, ratio)
                failed += ratio > 1
        print(f"  {name:40s} fails {failed:3d} checks, the worst by {worst:8.1f}x its bound")


def main():
    if "--power" in sys.argv:
        power()
        return
    torch.manual_seed(0)
    model = SmallCNN(1, 10, widths=(16, 32, 64), hidden=128, size=8)
    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    save(initial, os.path.join(HERE, "pgdat_step_weights.safetensors"))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    steps, state = three_steps(initial, x, y)
    reference = {k: summary(t) for k, t in state.items()}
    spread = {k: [0.0] * 6 for k in state}
    loss_spread = [0.0] * 3
    for v in range(VARIANTS):
        v_steps, v_state = three_steps(initial, x, y, noise_seed=100 + v)
        for i in range(3):
            loss_spread[i] = max(loss_spread[i], abs(v_steps[i]["loss"] - steps[i]["loss"]))
        for k, t in v_state.items():
            s, a, samples = summary(t)
            r = reference[k]
            moved = [abs(s - r[0]), abs(a - r[1])] + [abs(e - f) for e, f in zip(samples, r[2])]
            spread[k] = [max(p, q) for p, q in zip(spread[k], moved)]
    for i in range(3):
        steps[i]["loss_spread"] = loss_spread[i]
    final = {}
    for key, t in state.items():
        n = t.numel()
        s, a, samples = reference[key]
        final[key] = {"sum": s, "abs_sum": a, "samples": [[k * n // 4, samples[k]] for k in range(4)],
                      "spread": {"sum": spread[key][0], "abs_sum": spread[key][1], "samples": spread[key][2:]}}
    out = {"x": x.flatten().tolist(), "labels": y.tolist(), "steps": steps, "final_state": final,
           "variants": VARIANTS, "noise": NOISE, "torch": torch.__version__}
    with open(os.path.join(HERE, "pgdat_step.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote pgdat_step.json and pgdat_step_weights.safetensors")
    for key, e in final.items():
        scale = max(e["abs_sum"], 1e-3)
        print(f"  {key:22s} spread/scale: sum {e['spread']['sum'] / scale:.2e}  abs_sum {e['spread']['abs_sum'] / scale:.2e}")


if __name__ == "__main__":
    main()
