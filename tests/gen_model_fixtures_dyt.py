#!/usr/bin/python3
"""Whole-model PyTorch references of Transformers with DyT (Zhu et al. 2025) at every site.

Usage:
    /usr/bin/python3 tests/gen_model_fixtures_dyt.py [--out tests/fixtures/models] [--normlab PATH]

The models, file layout, parameter drawing, batch and Adam trajectory are those of
tests/gen_model_fixtures.py (read its docstring), whose code this file reuses; what it adds is
the normalizer module for an element-wise kind: DyT, y = gain * tanh(alpha * x) + bias with one
learned scalar alpha (normlab's parameter "<site>.alpha"), written with torch.tanh
(tests/gen_fixtures.py, dyt).  tests/test_model_fixtures.cpp reads every file of the directory
with the same tolerances as the others.

Parameters as in gen_model_fixtures.py; alpha is alpha0 * (1 + 0.1 N) in float32 (alpha0 from
the site's options), so that the gradient is not taken at the initial value.
Rerunning gives byte-identical files.
"""

import argparse
import pathlib
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # no tests/__pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gen_fixtures as nf  # noqa: E402  (the normalizer references)
import gen_model_fixtures as gmf  # noqa: E402  (the models)

GENERATOR = "tests/gen_model_fixtures_dyt.py"

# name -> (model, config overrides), as gen_model_fixtures.CASES.
CASES = {
    # The Transformer LM, pre-norm, DyT at every site: both sublayers and the final norm.
    "tf_pre_dyt": ("transformer", dict(norms=["dyt"], placement="pre")),
}


class Norm(gmf.Norm):
    """gen_model_fixtures.Norm, and DyT with its gain, bias and scalar alpha."""

    def __init__(self, kind, options, D):
        if kind != "dyt":
            super().__init__(kind, options, D)
            return
        nn.Module.__init__(self)
        self.kind, self.D = kind, D
        self.opts = nf.parse_options(kind, options)
        self.opts.setdefault("zero_centered_gain", False)  # read by draw_params; DyT has none
        if self.opts["gain"]:
            self.gain = nn.Parameter(torch.empty(D, dtype=gmf.DTYPE))
        if self.opts["bias"]:
            self.bias = nn.Parameter(torch.empty(D, dtype=gmf.DTYPE))
        self.alpha = nn.Parameter(torch.empty(1, dtype=gmf.DTYPE))


def draw_params(model, rng, base=gmf.draw_params):
    """gen_model_fixtures' draw (alpha drawn there as a bias, v = 0.1 N), then alpha =
    alpha0 * (1 + v) in float32."""
    out = base(model, rng)
    for name, t in model.normlab_params().items():
        if name.rsplit(".", 1)[-1] == "alpha":
            norm = model.get_submodule(gmf.torch_name(model, t).rsplit(".", 1)[0])
            v = out[name].astype(np.float32)
            alpha = np.float32(norm.opts["alpha0"]) * (np.float32(1) + v)
            assert alpha.dtype == np.float32 and np.all(alpha > 0), name
            out[name] = alpha.astype(np.float64)
    return out


def use_dyt():
    """Point gen_model_fixtures at this file's cases, normalizer module and parameter draw."""
    gmf.CASES = CASES
    gmf.Norm = Norm
    gmf.draw_params = draw_params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models",
                        help="output directory (default: tests/fixtures/models)")
    parser.add_argument("--normlab", default=str(nf.default_normlab()),
                        help="the normlab binary whose `norms --json` gives the normalizers' "
                             "default options (default: build/normlab)")
    args = parser.parse_args()
    nf.load_registry(args.normlab)
    use_dyt()
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # a fixed summation order
    for name in CASES:
        path = gmf.write_case(out_dir, name)
        with h5py.File(path, "r+") as f:
            f.attrs["generator"] = GENERATOR
        gmf.verify_file(path, name)
        with h5py.File(path, "r") as f:
            alphas = sorted(n for n in f["params"] if n.endswith(".alpha"))
            assert len(alphas) == 2 * gmf.TF_BASE["layers"] + 1, alphas  # attn, mlp; final
            assert all(np.any(f["grads"][n][()] != 0) for n in alphas)
        print(f"{path}: {path.stat().st_size} bytes, {len(alphas)} DyT sites")


if __name__ == "__main__":
    main()
