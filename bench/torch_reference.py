#!/usr/bin/env python3
"""The workloads of `advdistill bench`, in PyTorch on the CPU, for a same-machine comparison.

Usage: python3 bench/torch_reference.py [--threads 2] [--seconds 3] [--windows 3] [--json out.json]
                                       [--only smallcnn] [--wrn-teachers] [--modes eager,compile]
                                       [--compare advdistill.json]
Prints one row per workload and mode (images/s, peak RSS) and writes the same rows as JSON. With --compare,
also prints the ratio table against `advdistill bench --json` output: ours beside PyTorch eager and
torch.compile, and ours / the faster of the two per row. `make bench-compare` runs both in one go;
bench/README.md explains the measurement.

Modes: `eager` runs the modules as they are; `compile` wraps every module in torch.compile (inductor, its
default mode) and lets the warm-up step compile them (not timed; the compile time is printed). Every module
is compiled afresh per workload, so graphs for eval and train mode are both compiled in the warm-up.

Measurement (identical to `advdistill bench`): one warm-up step, then --seconds split into --windows
windows; the best window's rate is reported. Peak RSS is the process's high-water mark (VmHWM) during
that workload alone: reset through /proc/self/clear_refs before it.

Workloads (identical definitions on both sides):
  forward    eval-mode forward without gradients
  train      train-mode forward, mean cross-entropy, backward, SGD step (momentum 0.9, wd 2e-4)
  pgd10      10 steps of L∞ PGD (eps 0.1 on [0,1] data, step 0.025): eval-mode forward + input-gradient backward
  mtard      one MTARD step: PGD-10 on the student (eval BN), both teachers (eval, no grad) on x and x',
             student (train BN) on x and x', two KL losses, backward, SGD step

--wrn-teachers adds the row `advdistill bench --wrn-teachers` adds: the mtard step in the paper's CIFAR
setting (resnet18 student, two wrn-34-10 teachers, batch 128), one warm-up step and one measured step,
for its peak memory.
"""
import argparse
import gc
import json
import platform
import time

import torch
import torch.nn.functional as F

from models import ZOO

WORKLOADS = [
    # (model, batch, channels, size, workloads)
    ("smallcnn", 128, 1, 28, ["forward", "train", "pgd10", "mtard"]),
    ("resnet18", 64, 3, 32, ["forward", "train"]),
]


def timed(fn, images, seconds, windows, min_steps=2):
    """Best images/s over `windows` windows of seconds/windows each (at least min_steps steps per window)."""
    fn()  # warm-up (allocations, OpenMP threads)
    best = 0.0
    for _ in range(windows):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / windows and n >= min_steps:
                break
        best = max(best, n * images / elapsed)
    return best


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux); elsewhere the peak stays the lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Our row name → PyTorch's: B-MTARD is MTARD plus scalar bookkeeping (temperatures, loss weights).
COUNTERPART = {"bmtard": "mtard"}


def compare(ours_path, torch_rows):
    with open(ours_path) as f:
        ours = json.load(f)
    theirs = {(r["model"], r["workload"], r.get("mode", "eager")): r for r in torch_rows}
    print()
    print(f"ours: {ours['framework']}, OpenBLAS {ours.get('blas_core', '?')}, {ours['workers']} workers; "
          f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':9s} {'batch':>5s}  {'workload':13s} {'ours img/s':>10s} {'eager':>8s} {'compile':>8s}"
          f" {'÷ best':>7s} {'ours RSS':>9s} {'torch RSS':>9s}")
    for r in ours["rows"]:
        name = COUNTERPART.get(r["workload"], r["workload"])
        peers = {m: theirs.get((r["model"], name, m)) for m in ("eager", "compile")}
        measured = [t for t in peers.values() if t is not None]
        if not measured:
            continue
        best = max(measured, key=lambda t: t["images_per_second"])
        label = r["workload"] if name == r["workload"] else f"{r['workload']}/{name}"
        cols = " ".join(f"{peers[m]['images_per_second']:8.1f}" if peers[m] else f"{'—':>8s}"
                        for m in ("eager", "compile"))
        ratio = r["images_per_second"] / best["images_per_second"]
        print(f"{r['model']:9s} {r['batch']:5d}  {label:13s} {r['images_per_second']:10.1f} {cols} "
              f"{ratio:6.2f}× {r['peak_rss_mb']:6.0f} MB {best['peak_rss_mb']:6.0f} MB")
    print("÷ best: ours over the faster PyTorch mode of the row; torch RSS is that mode's peak.")


def pgd(model, x, y, eps=0.1, step=0.025, steps=10):
    """L∞ PGD against `model` (a module or its compiled wrapper; the caller sets eval mode)."""
    delta = torch.empty_like(x).uniform_(-eps, eps)
    xa = (x + delta).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, [xa])
        xa = torch.min(torch.max(xa.detach() + step * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def kl_mean(p, log_q):
    # The paper's KL averaged over B·K with 1e-5 inside the log.
    return (p * (torch.log(p + 1e-5) - log_q)).mean()


def measure(arch, student_arch, teacher_arch, batch, ch, x, y, load, mode, slow, args):
    """One row: the workload built from fresh modules (compiled when mode is compile), timed like ours."""
    wrap = torch.compile if mode == "compile" else (lambda m: m)
    gc.collect()
    if mode == "compile":
        torch._dynamo.reset()
    reset_peak_rss()
    model = ZOO[student_arch](ch, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    run = wrap(model)
    if load == "forward":
        def fn():
            model.eval()
            with torch.no_grad():
                run(x)
    elif load == "train":
        def fn():
            model.train()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(run(x), y).backward()
            opt.step()
    elif load == "pgd10":
        def fn():
            model.eval()
            pgd(run, x, y)
    elif load == "mtard":
        t_nat, t_adv = ZOO[teacher_arch](ch, 10).eval(), ZOO[teacher_arch](ch, 10).eval()
        run_nat, run_adv = wrap(t_nat), wrap(t_adv)

        def fn():
            model.eval()
            xa = pgd(run, x, y)
            model.train()
            with torch.no_grad():
                p_adv = F.softmax(run_adv(xa), 1)
                p_nat = F.softmax(run_nat(x), 1)
            opt.zero_grad(set_to_none=True)
            l_adv = kl_mean(p_adv, F.log_softmax(run(xa), 1))
            l_nat = kl_mean(p_nat, F.log_softmax(run(x), 1))
            (0.5 * l_adv + 0.5 * l_nat).backward()
            opt.step()
    else:
        raise ValueError(load)
    warm = time.perf_counter()
    if mode == "compile":
        fn()  # compiles every graph the step uses (eval and train mode), not timed
    compile_s = time.perf_counter() - warm
    if slow:
        rate = timed(fn, batch, 0.0, 1, min_steps=1)
    else:
        rate = timed(fn, batch, args.seconds, args.windows)
    rss = peak_rss_mb()
    note = f"  (compile {compile_s:.0f} s)" if mode == "compile" else ""
    print(f"{arch:10s} batch {batch:4d}  {load:8s} {mode:8s} {rate:10.1f} images/s  peak RSS {rss:6.0f} MB{note}",
          flush=True)
    return {"model": arch, "batch": batch, "workload": load, "mode": mode, "images_per_second": rate,
            "peak_rss_mb": rss, "compile_seconds": round(compile_s, 1) if mode == "compile" else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--only")
    ap.add_argument("--wrn-teachers", action="store_true",
                    help="also the mtard step with a resnet18 student and two wrn-34-10 teachers, batch 128")
    ap.add_argument("--modes", default="eager,compile",
                    help="comma-separated PyTorch modes to measure: eager, compile (default: both)")
    ap.add_argument("--compare", help="advdistill bench --json output to put beside these rows")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in ("eager", "compile")]
    if unknown or not modes:
        ap.error(f"--modes: expected a comma-separated list of eager, compile; got {args.modes!r}")
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__}, {args.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    torch.manual_seed(0)
    rows = []
    workloads = WORKLOADS + ([("resnet18+wrn-34-10", 128, 3, 32, ["mtard"])] if args.wrn_teachers else [])
    for arch, batch, ch, size, loads in workloads:
        if args.only and arch != args.only:
            continue
        student_arch = "resnet18" if arch.startswith("resnet18") else arch
        teacher_arch = "wrn-34-10" if arch.endswith("wrn-34-10") else student_arch
        slow = student_arch != teacher_arch  # one warm-up step and one measured step
        x = torch.rand(batch, ch, size, size)
        y = torch.randint(0, 10, (batch,))
        for mode in modes:
            for load in loads:
                rows.append(measure(arch, student_arch, teacher_arch, batch, ch, x, y, load, mode, slow, args))
    out = {"framework": f"pytorch {torch.__version__}", "threads": args.threads,
           "machine": platform.processor() or platform.machine(), "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    if args.compare:
        compare(args.compare, rows)


if __name__ == "__main__":
    main()
