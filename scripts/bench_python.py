#!/usr/bin/python3
"""The cost of calling normlab's normalizers from Python (issue 20), on one array, side by side:

  module      normlab.Normalizer(kind).forward / .backward on numpy arrays (the extension)
  apply       `normlab apply` on the same array in an HDF5 file (process start, file in and out)
  torch       PyTorch's own module on the same tensor (nn.LayerNorm; for RMSNorm, which torch 1.13
              lacks, nn.RMSNorm where torch has it, else the expression a user writes:
              x * rsqrt(mean(x^2) + eps) * w)
  wrapper     normlab.torch's module on the same tensor (the extension under torch.autograd)
  memcpy      numpy.copyto of the array: the memory-speed reference

Forward, and forward+backward (dy given; the parameter gradients too). One thread on every side
(normlab.set_threads(1), torch.set_num_threads(1)). The sides are timed in --repeats rounds, each
round calling every side once in turn (after one warm-up round), so that a slow spell of a shared
machine falls on all of them; each keeps its last two results alive, as a training loop holds its
activations (freeing a 16 MiB result at once lets malloc hand the pages back, and every call then
faults them in again). Reported: the median ms per call, the throughput in GB/s counting x and y
once (the `normlab bench norms` convention), and the median over rounds of the side's time over
the module's in the same round, with the 25th-75th percentile of those ratios. --clock cpu
measures the process's CPU time (children's for apply), for a shared machine.

    PYTHONPATH=build/python /usr/bin/python3 scripts/bench_python.py [--dims 256,1024,4096]
        [--mib 16] [--repeats 9] [--norms rmsnorm,layernorm] [--clock wall|cpu] [--quick]
"""

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import normlab

try:
    import torch
    import normlab.torch as nltorch
except ImportError as missing:  # the module and apply still run
    torch = None
    TORCH_MISSING = str(missing)


def clock(kind):
    if kind == "wall":
        return time.perf_counter
    return lambda: time.process_time() + children_cpu()


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def interleaved(sides, repeats, now):
    """{side: [seconds per round]}: `repeats` rounds, each calling every side once in turn, after
    a warm-up round. Each side's last two results stay alive (see the module docstring)."""
    kept = {name: [] for name in sides}
    times = {name: [] for name in sides}
    for round_ in range(repeats + 1):
        for name, fn in sides.items():
            start = now()
            result = fn()
            elapsed = now() - start
            kept[name] = (kept[name] + [result])[-2:]
            if round_ > 0:
                times[name].append(elapsed)
    return times


def summarize(times, base):
    """(median ms, median ratio to `base`, its 25th and 75th percentiles) per side."""
    out = {}
    for name, t in times.items():
        ratios = np.array(t) / np.array(times[base])
        out[name] = (1e3 * statistics.median(t), float(np.median(ratios)),
                     float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75)))
    return out


def torch_reference(kind, D):
    """PyTorch's own module for `kind`, and which one it is."""
    if kind == "layernorm":
        return torch.nn.LayerNorm(D), "nn.LayerNorm"
    if hasattr(torch.nn, "RMSNorm"):
        return torch.nn.RMSNorm(D, eps=1e-5), "nn.RMSNorm"

    class Expression(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(D))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight
    return Expression(), "x*rsqrt(mean(x^2)+eps)*w"


def normlab_options(kind):
    """normlab's options matching the torch reference: LayerNorm with its bias, eps 1e-5 both."""
    return {"bias": True} if kind == "layernorm" else {}


def apply_call(binary, path, kind, backward):
    flags = ["--bias", "true"] if kind == "layernorm" else []
    out = path.with_suffix(".out.h5")

    def call():
        out.unlink(missing_ok=True)
        return subprocess.run([binary, "apply", "--norm", kind, "--in", str(path), "--out", str(out), *flags],
                       check=True, capture_output=True)
    return call


def rows_for(D, mib):
    return max(1, (mib << 20) // (4 * D))


def measure(kind, D, args, binary, tmp):
    """{"forward"/"forward+backward": {side: summary}} for one kind and D, and the torch module's
    name (None without torch)."""
    B = rows_for(D, args.mib)
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(B, D)).astype(np.float32)
    dy = rng.normal(size=(B, D)).astype(np.float32)
    n = normlab.Normalizer(kind, **normlab_options(kind))
    params = n.init_params(D, "float32")

    def module_fb():
        y, cache = n.forward(x, params)
        return y, n.backward(dy, x, cache, params)
    path = tmp / f"{kind}-{D}.h5"
    with h5py.File(path, "w") as f:
        f["x"] = x
    with h5py.File(path.with_name(path.stem + "-dy.h5"), "w") as f:
        f["x"], f["dy"] = x, dy
    scratch = np.empty_like(x)
    forward = {"module": lambda: n.forward(x, params), "apply": apply_call(binary, path, kind, False)}
    both = {"module": module_fb, "apply": apply_call(binary, path.with_name(path.stem + "-dy.h5"), kind, True)}

    reference_name = None
    if torch is not None:
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        reference, reference_name = torch_reference(kind, D)
        wrapper = {"layernorm": nltorch.LayerNorm, "rmsnorm": nltorch.RMSNorm}[kind](D, eps=1e-5)
        for side, module in (("torch", reference), ("wrapper", wrapper)):
            def forward_only(module=module):
                with torch.no_grad():
                    return module(tx)

            def forward_backward(module=module):
                xg = tx.detach().requires_grad_()
                y = module(xg)
                y.backward(tdy)
                return y, xg.grad
            forward[side], both[side] = forward_only, forward_backward
    forward["memcpy"] = lambda: np.copyto(scratch, x)
    now = clock(args.clock)
    return B, {"forward": summarize(interleaved(forward, args.repeats, now), "module"),
               "forward+backward": summarize(interleaved(both, args.repeats, now), "module")}, reference_name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="256,1024,4096")
    parser.add_argument("--mib", type=int, default=16, help="size of x in MiB (float32)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--norms", default="rmsnorm,layernorm")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--binary", default=os.environ.get("NORMLAB_BINARY"))
    parser.add_argument("--quick", action="store_true", help="one small size, 3 repeats (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.dims, args.mib, args.repeats = "256", 1, 3
    binary = args.binary or normlab.launch.find_binary()
    normlab.set_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    print(f"# normlab {normlab._core.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'missing (' + TORCH_MISSING + ')'}; "
          f"{platform.processor() or platform.machine()}; 1 thread; clock {args.clock}; "
          f"x float32 {args.mib} MiB; median of {args.repeats}")
    print("| kind | D | B | side | forward ms | GB/s | / module (IQR) | fwd+bwd ms | / module (IQR) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.norms.split(","):
            for D in map(int, args.dims.split(",")):
                B, results, reference_name = measure(kind, D, args, binary, Path(tmp))
                for side, (f_ms, ratio, low, high) in results["forward"].items():
                    name = f"torch ({reference_name})" if side == "torch" else side
                    gbps = 2 * 4 * B * D / (f_ms * 1e-3) / 1e9
                    fb = results["forward+backward"].get(side)
                    fb_text = "- | -" if fb is None else f"{fb[0]:.3f} | {fb[1]:.2f} ({fb[2]:.2f}-{fb[3]:.2f})"
                    print(f"| {kind} | {D} | {B} | {name} | {f_ms:.3f} | {gbps:.1f} | "
                          f"{ratio:.2f} ({low:.2f}-{high:.2f}) | {fb_text} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
