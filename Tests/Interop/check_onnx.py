#!/usr/bin/env python3
"""ONNX export checked by ONNX Runtime itself (`make check-interop`).

For every architecture of the zoo:
  1. `advdistill init` writes a seeded fresh checkpoint; this script then gives every batch norm random
     running statistics and affine parameters (fresh ones are mean 0, variance 1, γ 1, β 0: close to the
     identity, which would hide a mistake in how batch norm is exported);
  2. `advdistill export` writes the ONNX file; `onnx.checker.check_model(full_check=True)` must accept it and its
     opset must be ≥ 13 with a dynamic batch dimension;
  3. ONNX Runtime's logits on random images in [0, 1] must equal `advdistill predict`'s on the same .npy file:
     max |Δ| ≤ 1e-4 · max |logit| (float32 with different summation orders), with the same logits
     from a batch of one (the batch dimension is dynamic).
One architecture is also exported from a PyTorch-style file without our metadata (`--model`).

Robust accuracy survives export: on a trained checkpoint (by default the shipped robust teacher,
Configs/demo/teachers/teacher-pgdat), `advdistill predict --attack pgd20` makes PGD-20 examples (ε = 0.1) on the
first --limit Fashion-MNIST test images and classifies them; ONNX Runtime classifies the very same inputs, and
the predictions must be equal (a disagreement is allowed only where advdistill's top two logits are within
the tolerance: a tie that rounding may break either way). Both accuracies, clean and PGD-20, are printed.

Writes a summary to <work>/interop.json. Exit status 1 if any check fails.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (name in the report, --model, extra `advdistill init` options, input channels, input size)
ARCHITECTURES = [
    ("smallcnn", "smallcnn", [], 1, 28),
    ("tinycnn", "tinycnn", [], 1, 28),
    ("resnet18", "resnet18", [], 3, 32),
    ("preactresnet18", "preactresnet18", [], 3, 32),
    ("mobilenetv2", "mobilenetv2", [], 3, 32),
    ("resnet56", "resnet56", [], 3, 32),
    # TRADES layout (wrn-34-10 is this at depth 34, width 10: --full).
    ("trades-wrn-16-2", "trades-wrn-16-2", [], 3, 32),
    # DeepMind layout: Swish, asymmetric padding before stride-2 convs, normalisation inside the model.
    ("dm-wrn-16-4", "dm-wrn-16-4", ["--mean", "0.5,0.45,0.4", "--std", "0.25,0.2,0.3"], 3, 32),
    ("dm-wrn-10-2 (default CIFAR mean/std)", "wrn-10-2", [], 3, 32),
]
# The published sizes: 46 M and 36 M parameters, about a minute each on 2 cores, so only with --full.
FULL_SIZE = [
    ("wrn-34-10", "wrn-34-10", [], 3, 32),
    ("dm-wrn-28-10 (default CIFAR mean/std)", "wrn-28-10", [], 3, 32),
]
RELATIVE_TOLERANCE = 1e-4
BATCH = 8


def run(cmd):
    """Runs a command; on failure prints its output and raises."""
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}")
        raise RuntimeError(f"{cmd[1]} failed with exit status {result.returncode}")
    return result.stdout


# --- safetensors, as much as this script needs (F32 and I64 tensors, metadata) ---

DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, offset, chunks = {}, 0, []
    for name, t in tensors.items():
        data = np.ascontiguousarray(t).tobytes()
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if meta:
        header["__metadata__"] = meta
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def randomise_batch_norms(tensors, rng):
    """Running mean ~ N(0, 0.1²), running var ~ U(0.5, 1.5), γ ~ U(0.5, 1.5), β ~ N(0, 0.1²) for every BN."""
    for key in [k for k in tensors if k.endswith("running_mean")]:
        prefix = key[: -len("running_mean")]
        c = tensors[key].shape
        tensors[prefix + "running_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
        tensors[prefix + "running_var"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        tensors[prefix + "weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        tensors[prefix + "bias"] = rng.normal(0, 0.1, c).astype(np.float32)


# --- the checks ---

def check_file(path):
    """onnx.checker (full check, with shape inference), opset ≥ 13 and a dynamic batch dimension."""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert opset >= 13, f"{path}: opset {opset} < 13"
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value, f"{path}: the batch dimension is not dynamic ({batch})"
    return opset


def ort_logits(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def tolerance(ours):
    """1e-4 of the largest logit (and never below 1e-7, for all-zero logits)."""
    return max(RELATIVE_TOLERANCE * float(np.abs(ours).max()), 1e-7)


def compare(ours, theirs):
    diff = float(np.abs(ours - theirs).max())
    return diff, diff <= tolerance(ours)


def check_architecture(bin_path, work, name, arch, init_options, channels, size, rng, from_state_dict=False):
    slug = name.split(" ")[0]
    checkpoint = os.path.join(work, f"{slug}.safetensors")
    onnx_path = os.path.join(work, f"{slug}.onnx")
    run([bin_path, "init", "--model", arch, "--out", checkpoint, "--seed", "1", "--overwrite", *init_options])
    tensors, meta = read_safetensors(checkpoint)
    randomise_batch_norms(tensors, rng)
    export_options = []
    if from_state_dict:  # a PyTorch state_dict: no metadata, the architecture named on the command line
        meta, export_options = {}, ["--model", arch]
    write_safetensors(checkpoint, tensors, meta)

    started = time.time()
    run([bin_path, "export", "--checkpoint", checkpoint, "--onnx", onnx_path, "--overwrite", *export_options])
    opset = check_file(onnx_path)

    x = rng.random((BATCH, channels, size, size), dtype=np.float32)
    inputs = os.path.join(work, f"{slug}-inputs.npy")
    np.save(inputs, x)
    out = os.path.join(work, f"{slug}-predict")
    run([bin_path, "predict", "--checkpoint", checkpoint, *export_options, "--inputs", inputs, "--out", out, "--overwrite"])
    ours = np.load(os.path.join(out, "logits.npy"))
    theirs = ort_logits(onnx_path, x)
    diff, ok = compare(ours, theirs)
    single = ort_logits(onnx_path, x[:1])
    diff1 = float(np.abs(ours[:1] - single).max())
    ok1 = diff1 <= tolerance(ours)
    return {"name": name + (" (PyTorch state_dict, --model)" if from_state_dict else ""), "arch": arch,
            "opset": opset, "onnx_bytes": os.path.getsize(onnx_path), "max_abs_diff": diff,
            "max_abs_logit": float(np.abs(ours).max()), "max_abs_diff_batch1": diff1, "passed": ok and ok1,
            "seconds": round(time.time() - started, 1)}


def check_robustness(bin_path, work, checkpoint, data, limit, eps):
    onnx_path = os.path.join(work, "robust.onnx")
    run([bin_path, "export", "--checkpoint", checkpoint, "--onnx", onnx_path, "--overwrite"])
    check_file(onnx_path)
    rows = {}
    for label, attack in [("clean", []), ("pgd20", ["--attack", "pgd20", "--eps", str(eps)])]:
        out = os.path.join(work, f"robust-{label}")
        printed = run([bin_path, "predict", "--checkpoint", checkpoint, "--data", data, "--limit", str(limit),
                       *attack, "--out", out, "--overwrite"])
        x = np.load(os.path.join(out, "inputs.npy"))
        labels = np.load(os.path.join(out, "labels.npy"))
        ours = np.load(os.path.join(out, "logits.npy"))
        theirs = ort_logits(onnx_path, x)
        ours_pred, theirs_pred = ours.argmax(1), theirs.argmax(1)
        top2 = np.sort(ours, axis=1)[:, -2:]
        near_tie = (top2[:, 1] - top2[:, 0]) <= tolerance(ours)
        disagree = ours_pred != theirs_pred
        diff, _ = compare(ours, theirs)
        rows[label] = {"images": int(len(labels)), "advdistill_accuracy": float((ours_pred == labels).mean()),
                       "onnxruntime_accuracy": float((theirs_pred == labels).mean()),
                       "disagreements": int(disagree.sum()), "disagreements_not_near_ties": int((disagree & ~near_tie).sum()),
                       "max_abs_diff": diff, "advdistill_says": printed.strip().splitlines()[0]}
        rows[label]["passed"] = rows[label]["disagreements_not_near_ties"] == 0
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--advdistill", default=os.path.join(ROOT, ".build/release/advdistill"))
    parser.add_argument("--work", default=os.path.join(ROOT, "runs/interop"))
    parser.add_argument("--checkpoint", default="Configs/demo/teachers/teacher-pgdat/best.safetensors",
                        help="trained checkpoint for the PGD-20 check")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit", type=int, default=1000, help="test images for the PGD-20 check")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--only", nargs="*", help="architectures to check (names as in the table)")
    parser.add_argument("--full", action="store_true", help="also wrn-34-10 and dm-wrn-28-10 at their published sizes")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    bin_path = os.path.abspath(args.advdistill)
    rng = np.random.default_rng(20)
    failed = []

    print(f"ONNX export vs advdistill: onnx {onnx.__version__}, onnxruntime {ort.__version__}; "
          f"{BATCH} random images per architecture; pass if max |Δ| ≤ {RELATIVE_TOLERANCE:g}·max |logit|")
    print(f"{'architecture':<48} {'opset':>5} {'max |logit|':>11} {'max |Δ|':>10} {'Δ/logit':>9} {'batch 1':>10} {'s':>6}  result")
    rows = []
    todo = [a for a in ARCHITECTURES + (FULL_SIZE if args.full else [])
            if not args.only or a[0].split(" ")[0] in args.only]
    for name, arch, options, channels, size in todo:
        variants = [False, True] if name == "tinycnn" else [False]  # tinycnn also as a PyTorch state_dict
        for from_state_dict in variants:
            row = check_architecture(bin_path, args.work, name, arch, options, channels, size, rng, from_state_dict)
            rows.append(row)
            print(f"{row['name']:<48} {row['opset']:>5} {row['max_abs_logit']:>11.4g} {row['max_abs_diff']:>10.3g} "
                  f"{row['max_abs_diff'] / max(row['max_abs_logit'], 1e-30):>9.2g} "
                  f"{row['max_abs_diff_batch1']:>10.3g} {row['seconds']:>6}  {'ok' if row['passed'] else 'FAILED'}")
            if not row["passed"]:
                failed.append(row["name"])

    robust = {}
    started = time.time()
    if os.path.exists(os.path.join(ROOT, args.checkpoint)) and os.path.isdir(args.data):
        robust = check_robustness(bin_path, args.work, os.path.join(ROOT, args.checkpoint), args.data, args.limit, args.eps)
        print(f"\n{args.checkpoint}, first {args.limit} Fashion-MNIST test images, ε = {args.eps} "
              f"({time.time() - started:.0f} s):")
        print(f"{'inputs':<8} {'advdistill':>10} {'ONNX Runtime':>12} {'disagree':>8} {'max |Δ|':>10}  result")
        for label, r in robust.items():
            print(f"{label:<8} {100 * r['advdistill_accuracy']:>9.2f}% {100 * r['onnxruntime_accuracy']:>11.2f}% "
                  f"{r['disagreements']:>8} {r['max_abs_diff']:>10.3g}  {'ok' if r['passed'] else 'FAILED'}")
            if not r["passed"]:
                failed.append(f"{label} predictions")
    else:
        print(f"\nskipped the PGD-20 check: {args.checkpoint} or {args.data} is missing")
        failed.append("PGD-20 check (missing checkpoint or data)")

    with open(os.path.join(args.work, "interop.json"), "w") as f:
        json.dump({"onnx": onnx.__version__, "onnxruntime": ort.__version__, "tolerance_relative": RELATIVE_TOLERANCE,
                   "architectures": rows, "robustness": robust, "failed": failed}, f, indent=2)
    if failed:
        print(f"\ncheck_onnx: FAILED: {', '.join(failed)}")
        return 1
    print(f"\ncheck_onnx: all {len(rows)} exports match ONNX Runtime; predictions on PGD-20 examples agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
