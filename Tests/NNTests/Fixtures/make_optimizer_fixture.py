"""Writes optimizer.json: what torch.optim.SGD / torch.optim.Adam and torch's LR schedulers do on tiny
inputs. OptimizerParityTests and LRScheduleTests (Tests/NNTests) replay each case with our optimizers and
schedules and compare every value.

Run from this directory:  python3 make_optimizer_fixture.py
Deterministic: no randomness.

Optimizers: two Float32 parameters a, b (2 elements each) start at a = [1, -2], b = [0.5, 3]. Over 3 steps
the gradients are fixed: g_a(k) = [0.5 - 0.3k, -1 + 0.7k], g_b(k) = [0.2k - 0.1, 0.4]; b has no gradient at
step k = 1 (PyTorch skips it and does not advance its state: no momentum buffer update, no Adam step count).
Each case records the gradients given (as the Float32 values PyTorch used) and [a0, a1, b0, b1] after
every step.

Schedules: an SGD optimizer with base rate 0.1 whose scheduler is stepped once per batch (PyTorch's way of
annealing per batch), read before each batch. Each case also says how AdvDistill spells the same schedule
(`ours`): its epochs × batches per epoch clock, so that batch t of PyTorch is (epoch t / B, batch t % B).
"""
import json
import os

import torch
from torch.optim import lr_scheduler as S

HERE = os.path.dirname(os.path.abspath(__file__))


def gradients(k):
    return (torch.tensor([0.5 - 0.3 * k, -1.0 + 0.7 * k]),
            None if k == 1 else torch.tensor([0.2 * k - 0.1, 0.4]))


def run(make):
    a = torch.tensor([1.0, -2.0], requires_grad=True)
    b = torch.tensor([0.5, 3.0], requires_grad=True)
    opt = make([a, b])
    grads, after = [], []
    for k in range(3):
        opt.zero_grad()
        a.grad, b.grad = gradients(k)
        grads.append([a.grad.tolist(), None if b.grad is None else b.grad.tolist()])
        opt.step()
        after.append(torch.cat([a.detach(), b.detach()]).tolist())
    return grads, after


# (name, PyTorch constructor, our optimizer and its hyperparameters)
OPTIMIZERS = [
    ("sgd plain", lambda p: torch.optim.SGD(p, lr=0.05),
     {"optimizer": "sgd", "lr": 0.05}),
    ("sgd momentum, dampening, weight decay",
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
     {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd nesterov, weight decay",
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
     {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam defaults", lambda p: torch.optim.Adam(p, lr=0.01),
     {"optimizer": "adam", "lr": 0.01}),
    ("adam betas, eps, weight decay",
     lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     {"optimizer": "adam", "lr": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1}),
]


def rates(make_scheduler, count):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make_scheduler(opt)
    values = []
    for _ in range(count):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


# (name, PyTorch scheduler stepped per batch, ours, epochs, batches per epoch)
SCHEDULES = [
    ("multistep: x0.1 from epochs 2 and 4, one batch per epoch",
     lambda o: S.MultiStepLR(o, milestones=[2, 4], gamma=0.1),
     {"name": "multistep", "milestones": [2, 4], "gamma": 0.1}, 7, 1),
    ("multistep at epoch 3 with 4 batches per epoch (PyTorch milestone at batch 12)",
     lambda o: S.MultiStepLR(o, milestones=[12], gamma=0.5),
     {"name": "multistep", "milestones": [3], "gamma": 0.5}, 5, 4),
    ("cosine to min_lr 0.001 over 2 epochs of 4 batches",
     lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
     {"name": "cosine", "min_lr": 0.001}, 2, 4),
    ("cosine to 0 over 3 epochs of 5 batches",
     lambda o: S.CosineAnnealingLR(o, T_max=15, eta_min=0.0),
     {"name": "cosine", "min_lr": 0.0}, 3, 5),
    ("warm-up over 2 epochs from 0.25, then multistep at epoch 3, 2 batches per epoch",
     lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.25, total_iters=4),
                                   S.MultiStepLR(o, milestones=[6], gamma=0.1)]),
     {"name": "warmup", "warmup_epochs": 2, "start_factor": 0.25,
      "schedule": {"name": "multistep", "milestones": [3], "gamma": 0.1}}, 4, 2),
    ("warm-up over 1 epoch from 0.1 (the config's factor), then cosine to 0, 3 batches per epoch",
     lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.1, total_iters=3),
                                   S.CosineAnnealingLR(o, T_max=12, eta_min=0.0)]),
     {"name": "warmup", "warmup_epochs": 1, "start_factor": 0.1, "schedule": {"name": "cosine", "min_lr": 0.0}},
     4, 3),
    ("warm-up over 1 epoch from 0.1, then constant, 4 batches per epoch",
     lambda o: S.LinearLR(o, start_factor=0.1, total_iters=4),
     {"name": "warmup", "warmup_epochs": 1, "start_factor": 0.1, "schedule": {"name": "constant"}}, 3, 4),
]

fixture = {
    "torch_version": torch.__version__,
    "optimizers": [],
    "schedules": [],
}
for name, make, ours in OPTIMIZERS:
    grads, after = run(make)
    fixture["optimizers"].append({"name": name, **ours, "gradients": grads, "after_step": after})
for name, make, ours, epochs, per_epoch in SCHEDULES:
    fixture["schedules"].append({"name": name, "base": 0.1, "epochs": epochs, "batches_per_epoch": per_epoch,
                                 "ours": ours, "rates": rates(make, epochs * per_epoch)})

with open(os.path.join(HERE, "optimizer.json"), "w") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print("wrote", os.path.join(HERE, "optimizer.json"))
