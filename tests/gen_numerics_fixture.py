"""Writes tests/fixtures/numerics_rounding.h5: float32-representable values and the bit patterns
PyTorch gives them as bfloat16 and float16 (round to nearest even), for test_numerics.cpp.

usage: /usr/bin/python3 tests/gen_numerics_fixture.py   (Debian's python3-torch, h5py, numpy)

The values are float32 so that torch's conversions (which go through float) round once: the
result is then the correctly rounded one a direct double -> bfloat16/float16 rounding must give.
"""
import os

import h5py
import numpy as np
import torch

rng = np.random.default_rng(7)
parts = [
    rng.standard_normal(2000),
    rng.standard_normal(1000) * 1e4,              # float16 overflow region
    rng.standard_normal(1000) * 1e-6,             # float16 subnormals
    np.exp(rng.uniform(-87, 88, 1000)),         # bfloat16's wide range
    # exact ties of bfloat16 (1 + odd/2^8 times powers of two) and of float16 (1 + odd/2^11)
    (1 + (2 * rng.integers(0, 128, 500) + 1) / 2.0**8) * 2.0 ** rng.integers(-20, 20, 500),
    (1 + (2 * rng.integers(0, 1024, 500) + 1) / 2.0**11) * 2.0 ** rng.integers(-14, 15, 500),
    np.array([0.0, -0.0, 65504, 65519, 65520, 1e5, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 3.0e38,
              -3.39e38, np.inf, -np.inf]),
]
x = np.concatenate(parts) * np.where(rng.random(sum(len(p) for p in parts)) < 0.5, -1, 1)
x = x.astype(np.float32)
t = torch.from_numpy(x)
bf16 = t.to(torch.bfloat16).view(torch.int16).numpy().astype(np.int64) & 0xFFFF
fp16 = t.to(torch.float16).view(torch.int16).numpy().astype(np.int64) & 0xFFFF
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "numerics_rounding.h5")
with h5py.File(out, "w") as f:
    f["x"] = x.astype(np.float64)
    f["bfloat16_bits"] = bf16
    f["float16_bits"] = fp16
    f.attrs["torch_version"] = str(torch.__version__)
print(f"{out}: {len(x)} values")
