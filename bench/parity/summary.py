#!/usr/bin/env python3
"""Mean ± sd per side of the parity runs (bench/parity/run.sh), and issue 22's criterion per metric.

Usage: python3 bench/parity/summary.py [METHOD ...] [--root runs/parity] [--json out.json]
For each method, reads <root>/<side>/<method>-<seed>/eval.json for side advdistill and torch and prints, per
metric (clean on all 10,000 test images; FGSM, PGD-20, APGD-CE on the first 1,000 at ε = 0.1), each side's
mean ± sample sd (n seeds), the difference of the means and the bound it must stay within:
max(1 point, 2 × pooled sd).
"""
import argparse
import glob
import json
import math
import os
import statistics

METRICS = [("clean", None), ("fgsm", "fgsm"), ("pgd20", "pgd20"), ("apgd-ce", "apgd-ce")]


def read(path):
    e = json.load(open(path))
    row = {"clean": 100 * e["clean"]["accuracy"]}
    for a in e["attacks"]:
        row[a["key"]] = 100 * a["accuracy"]
    return row


def side_rows(root, side, method):
    rows = {}
    for path in sorted(glob.glob(os.path.join(root, side, f"{method}-*", "eval.json"))):
        seed = os.path.basename(os.path.dirname(path)).rsplit("-", 1)[1]
        rows[seed] = read(path)
    return rows


def pooled_sd(a, b):
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    va, vb = statistics.variance(a), statistics.variance(b)
    return math.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("methods", nargs="*", default=["pgd_at", "trades"])
    p.add_argument("--root", default="runs/parity")
    p.add_argument("--json")
    args = p.parse_args()
    out = {}
    for method in args.methods:
        ours, theirs = side_rows(args.root, "advdistill", method), side_rows(args.root, "torch", method)
        if not ours and not theirs:
            continue
        print(f"\n{method}: AdvDistill seeds {sorted(ours)}, PyTorch seeds {sorted(theirs)}")
        print(f"  {'metric':8} {'AdvDistill':>16} {'PyTorch':>16} {'diff':>7} {'bound':>6}  within")
        out[method] = {"advdistill": ours, "torch": theirs, "metrics": {}}
        for name, _ in METRICS:
            a = [r[name] for r in ours.values() if name in r]
            b = [r[name] for r in theirs.values() if name in r]
            if not a or not b:
                continue
            ma, mb = statistics.mean(a), statistics.mean(b)
            sa = statistics.stdev(a) if len(a) > 1 else float("nan")
            sb = statistics.stdev(b) if len(b) > 1 else float("nan")
            sp = pooled_sd(a, b)
            bound = max(1.0, 2 * sp) if not math.isnan(sp) else 1.0
            diff = ma - mb
            ok = abs(diff) <= bound
            print(f"  {name:8} {ma:7.2f} ± {sa:4.2f} ({len(a)}) {mb:7.2f} ± {sb:4.2f} ({len(b)}) {diff:+7.2f} {bound:6.2f}  {'yes' if ok else 'NO'}")
            out[method]["metrics"][name] = {"advdistill_mean": ma, "advdistill_sd": sa, "torch_mean": mb, "torch_sd": sb,
                                            "diff": diff, "bound": bound, "within": ok}
    if args.json:
        json.dump(out, open(args.json, "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
