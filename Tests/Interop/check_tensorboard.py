#!/usr/bin/env python3
"""TensorBoard event files checked by TensorBoard's own reader (`make check-interop`).

A tiny B-MTARD run (tinycnn student of the shipped demo teachers, a few hundred Fashion-MNIST images) is trained
for one epoch, then continued with `--resume --epochs 2` and killed with SIGKILL in the middle of its second epoch,
after it has written step events past its checkpoint (the end of epoch 1), then resumed again to the end. Then:
  1. TensorBoard's EventAccumulator (the reader behind `tensorboard --logdir`) on the run directory: every
     per-step tag (train/loss, train/lr, train/loss_adv, train/loss_nat, balancer/tau_nat, balancer/tau_adv,
     balancer/w_nat, balancer/w_adv) has exactly one value at each step 1…N, N being the steps of two epochs,
     and each epoch/<key> tag one value per epoch, equal (as float32) to that number of metrics.jsonl's line;
  2. the same holds for the raw events of the files read one by one (TensorBoard's EventFileLoader, which applies
     no purge): the events written after the checkpoint before the kill are gone from the files themselves;
  3. the mean of train/loss over an epoch's steps equals that epoch's train_loss in metrics.jsonl.
Exit status 1 if any check fails.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from tensorboard.backend.event_processing import event_accumulator, event_file_loader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEP_TAGS = ["train/loss", "train/lr", "train/loss_adv", "train/loss_nat",
             "balancer/tau_nat", "balancer/tau_adv", "balancer/w_nat", "balancer/w_adv"]
FAILURES = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message)
    if not condition:
        FAILURES.append(message)


def train(bin_path, config, extra, log):
    cmd = [bin_path, "train", "--config", config] + extra
    with open(log, "a") as out:
        result = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.stderr.write(open(log).read())
        raise RuntimeError(f"{' '.join(cmd)} failed with exit status {result.returncode}")


def event_steps(run_dir):
    """The largest step of any summary event in the run's event files (without purging), or 0."""
    steps = [0]
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" in name:
            try:
                steps += [e.step for e in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load()
                          if e.HasField("summary")]
            except Exception:
                pass
    return max(steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--advdistill", default=os.path.join(ROOT, ".build/release/advdistill"))
    parser.add_argument("--work", default=os.path.join(ROOT, "runs/interop-tensorboard"))
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit", type=int, default=640, help="training images (a tenth is held out for validation)")
    args = parser.parse_args()
    started = time.time()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    teachers = os.path.join(ROOT, "Configs/demo/teachers")
    config = {
        "name": "tb", "seed": 3, "output": args.work,
        "data": {"train": {"path": args.data, "split": "train", "limit": args.limit},
                 "test": {"path": args.data, "split": "test"}},
        "model": {"arch": "tinycnn"}, "method": {"name": "bmtard"},
        "teachers": {"natural": {"checkpoint": os.path.join(teachers, "teacher-natural/best.safetensors")},
                     "robust": {"checkpoint": os.path.join(teachers, "teacher-pgdat/best.safetensors")}},
        "attack": {"eps": 0.1, "step_size": 0.025, "steps": 3},
        "optimizer": {"lr": 0.05}, "schedule": {"name": "cosine"},
        "epochs": 1, "batch_size": 32, "eval": {"attacks": "pgd20", "limit": 64, "batch_size": 64},
    }
    config_path = os.path.join(args.work, "tb.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    run_dir = os.path.join(args.work, "tb")
    log = os.path.join(args.work, "train.log")
    train(args.advdistill, config_path, ["--threads", "1"], log)
    steps_per_epoch = event_steps(run_dir)
    check(steps_per_epoch > 4, f"epoch 1 wrote {steps_per_epoch} steps")

    # Epoch 2, killed with SIGKILL once it has written steps past the checkpoint (the end of epoch 1).
    with open(log, "a") as out:
        child = subprocess.Popen([args.advdistill, "train", "--config", config_path, "--resume", "--epochs", "2",
                                  "--threads", "1"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None and event_steps(run_dir) < steps_per_epoch + 3:
        time.sleep(0.02)
    killed_at = event_steps(run_dir)
    child.send_signal(signal.SIGKILL)
    child.wait()
    check(steps_per_epoch < killed_at < 2 * steps_per_epoch,
          f"killed during epoch 2 after writing step {killed_at} (checkpoint at step {steps_per_epoch})")
    train(args.advdistill, config_path, ["--resume", "--epochs", "2", "--threads", "1"], log)

    metrics = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl")) if line.strip()]
    check([m["epoch"] for m in metrics] == [1, 2], "metrics.jsonl has epochs 1 and 2 once each")
    total = 2 * steps_per_epoch
    files = sorted(n for n in os.listdir(run_dir) if "tfevents" in n)
    # The killed session's file held only events after the checkpoint: resuming removed it with them.
    check(len(files) == 2, f"two event files (the first session's and the last one's): {files}")

    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in STEP_TAGS:
        steps = [e.step for e in acc.Scalars(tag)] if tag in tags else []
        check(steps == list(range(1, total + 1)), f"EventAccumulator: {tag} has each step 1…{total} once")

    epoch_ends = [steps_per_epoch, total]
    for key in sorted({k for m in metrics for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                      | {k for m in metrics for k in m.get("logs", {})}):
        tag = "epoch/" + key
        events = acc.Scalars(tag) if tag in tags else []
        expected = [float(np.float32(m[key] if key in m else m["logs"][key])) for m in metrics]
        check([e.step for e in events] == epoch_ends and [e.value for e in events] == expected,
              f"EventAccumulator: {tag} at steps {epoch_ends} = metrics.jsonl's {expected}")

    # The files themselves, without TensorBoard's purge: each step once.
    raw = {}
    for name in files:
        for e in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
            for v in e.summary.value:
                raw.setdefault(v.tag, []).append(e.step)
    check(all(sorted(raw[t]) == list(range(1, total + 1)) for t in STEP_TAGS),
          "raw event files (no purge): each step once per tag")

    losses = [e.value for e in acc.Scalars("train/loss")]
    for i, m in enumerate(metrics):
        mean = float(np.mean(np.array(losses[i * steps_per_epoch:(i + 1) * steps_per_epoch], dtype=np.float64)))
        check(abs(mean - m["train_loss"]) <= 1e-5 * max(1, abs(m["train_loss"])),
              f"epoch {i + 1}: mean of train/loss {mean:.6f} = metrics.jsonl train_loss {m['train_loss']:.6f}")

    print(f"check_tensorboard: {len(FAILURES)} failure(s), {time.time() - started:.0f} s")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
