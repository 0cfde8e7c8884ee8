"""Prints what torch.optim.SGD / torch.optim.Adam and torch's LR schedulers do on tiny inputs.
OptimizerParityTests and LRScheduleTests hard-code these printed values.

Run:  python3 make_optimizer_fixture.py
Two Float32 parameters a, b (2 elements each) start at a = [1, -2], b = [0.5, 3]. Over 3 steps
the gradients are fixed: g_a(k) = [0.5 - 0.3k, -1 + 0.7k], g_b(k) = [0.2k - 0.1, 0.4]; b has no
gradient at step k = 1 (PyTorch skips it and does not advance its state).
"""
import torch


def run(make):
    a = torch.tensor([1.0, -2.0], requires_grad=True)
    b = torch.tensor([0.5, 3.0], requires_grad=True)
    opt = make([a, b])
    out = []
    for k in range(3):
        opt.zero_grad()
        a.grad = torch.tensor([0.5 - 0.3 * k, -1.0 + 0.7 * k])
        b.grad = None if k == 1 else torch.tensor([0.2 * k - 0.1, 0.4])
        opt.step()
        out.append([repr(float(v)) for v in torch.cat([a.detach(), b.detach()])])
    return out


configs = {
    "sgd plain lr 0.05": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd momentum 0.9 dampening 0.1 wd 0.01 lr 0.1":
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd nesterov momentum 0.9 wd 0.01 lr 0.1":
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam lr 0.01": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam lr 0.05 betas 0.8 0.99 eps 1e-6 wd 0.1":
        lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
}
for name, make in configs.items():
    print(name)
    for k, values in enumerate(run(make)):
        print(f"  after step {k + 1}: [a0, a1, b0, b1] =", ", ".join(values))


def lrs(make_scheduler, count):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make_scheduler(opt)
    values = []
    for _ in range(count):
        values.append(repr(opt.param_groups[0]["lr"]))
        opt.step()
        sched.step()
    return values


print("MultiStepLR(milestones=[2, 4], gamma=0.1), base 0.1, per epoch 0..6:",
      ", ".join(lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 4], gamma=0.1), 7)))
print("CosineAnnealingLR(T_max=8, eta_min=0.001), base 0.1, per step 0..8:",
      ", ".join(lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001), 9)))
print("ChainedScheduler([LinearLR(start_factor=0.25, total_iters=4), MultiStepLR([6], 0.1)]), base 0.1, per step 0..7:",
      ", ".join(lrs(lambda o: torch.optim.lr_scheduler.ChainedScheduler([
          torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
          torch.optim.lr_scheduler.MultiStepLR(o, milestones=[6], gamma=0.1)]), 8)))
