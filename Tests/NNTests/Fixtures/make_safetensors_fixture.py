"""Writes pytorch_dtypes.safetensors with PyTorch's own safetensors writer and prints the Float32
values each tensor must load as. SafeTensorsFixtureTests hard-codes these printed values.

Run from this directory:  python3 make_safetensors_fixture.py
Deterministic: every tensor is built from arange or literal values, no randomness.
"""
import torch
from safetensors.torch import save_file

tensors = {
    # F32: exact.
    "conv1.weight": (torch.arange(6, dtype=torch.float32) / 8 - 0.3).reshape(2, 3),
    # F16: rounding to half (1/3, 2/3), the largest half, the smallest subnormal, -0 and +inf.
    "half": torch.cat([(torch.arange(4, dtype=torch.float32) - 2) / 3,
                       torch.tensor([65504.0, 2.0 ** -24, -0.0, float("inf")])]).to(torch.float16),
    # BF16: rounding to 8 mantissa bits.
    "bn1.weight": ((torch.arange(4, dtype=torch.float32) + 1) / 7).reshape(2, 2).to(torch.bfloat16),
    # F64: rounding to Float32, including a value that is subnormal in Float32.
    "double": torch.tensor([1 / 3, -2 / 7, 1e-40, 123456789.123], dtype=torch.float64),
    # I64: BatchNorm's counter (0-d) and integers beyond 2^24 that Float32 rounds.
    "bn1.num_batches_tracked": torch.tensor(12345, dtype=torch.int64),
    "counts": torch.tensor([-5, 0, 2 ** 40 + 1], dtype=torch.int64),
}
metadata = {"format": "pt", "epoch": "7"}
save_file(tensors, "pytorch_dtypes.safetensors", metadata=metadata)

for name, t in tensors.items():
    values = [float(v) for v in t.float().flatten().tolist()]
    print(name, str(t.dtype), list(t.shape), [repr(v) for v in values])
