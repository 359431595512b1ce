#!/usr/bin/python3
"""Deterministic PyTorch reference fixtures for the normlab normalizers.

Usage:
    /usr/bin/python3 tests/gen_fixtures.py [--out tests/fixtures] [--normlab build/normlab]

(Debian's interpreter is needed: it sees python3-torch, h5py and numpy.)

The kinds, their options and defaults, and the shape and initial value of
their gains come from the library itself, `normlab norms --json` (a built
normlab is needed); what this file states on its own is each kind's
reference computation in torch (NORMALIZERS) and its option sets (CASES).
A kind the library lists without both is an error.

Every normalizer maps x of shape (B, D) to y of shape (B, D), normalizing
each row over its D features.  All computation is done in float64.  The
reference loss is  loss = sum(y * dy)  for a random upstream gradient dy,
and autograd gives dx and the parameter gradients.

File layout
-----------
One HDF5 file per kind: <out>/<kind>.h5 for every kind `normlab norms
--json` lists (today rmsnorm, layernorm, scalenorm, prmsnorm, l2norm,
centernorm, pcnorm, none)

Root attributes:
    generator      "tests/gen_fixtures.py"
    torch_version  torch.__version__

One group per case, case_000, case_001, ... in the order of CASES below,
D varying fastest within an option set (D = 1, 37, 64 with B = 5; the first
option set of rmsnorm, layernorm, prmsnorm and pcnorm additionally gets
D = 4097 with B = 2).  Each group holds

    attributes  kind (str), options (str, "key=value,key=value", "" means
                defaults), B (int64), D (int64)
    inputs      x (B, D), dy (B, D)
    parameters  gain   (D,)  -- (1,) for a scalar gain (scalenorm); absent
                             where the form has none ("none")
                bias   (D,)  -- only when bias=true
                lambda (1,)  -- only with learn_lambda=true (pcnorm)
    outputs     y (B, D), dx (B, D), and d_gain / d_bias / d_lambda with
                the shape of their parameter, only where it exists

All datasets are float64.  Inputs and parameters are drawn in float32 and
then widened, so a float32 test can cast them losslessly.

Semantics (r(s) is the denominator for a statistic s):
    eps_mode=inside   r = sqrt(s + eps)
    eps_mode=outside  r = sqrt(s) + eps
    eps_mode=clamp    r = clamp(sqrt(s), min=eps)
    geff = gain, or g0 + gain when zero_centered_gain=true (g0 = 1 for the
    vector gains, sqrt(D) for the scalar ScaleNorm gain); "+ b" only when
    bias=true.

Notes:
  * Each case draws from its own numpy Generator seeded with
    (crc32(kind), case index); rerunning gives byte-identical files.
  * A learned pcnorm lambda is stored rounded to float32 like every other
    parameter (lambda=0.7 -> 0.699999988079071); the reference uses the
    stored value.
  * For eps_mode outside/clamp, sqrt has gradient 0 where the statistic is
    exactly 0 (layernorm with D = 1, whose output is constant), instead of
    the NaN autograd would produce.
  * Arrays with >= 1024 elements (only the D = 4097 cases) are stored with
    gzip + shuffle; everything else is contiguous.
  * With D = 1, dx is tiny (or exactly 0 in clamp mode) and is obtained by
    cancellation, so it is only accurate in absolute terms (~1e-16).
"""

import argparse
import json
import math
import pathlib
import subprocess
import zlib

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

DTYPE = torch.float64
SMALL_DIMS = (1, 37, 64)   # each with B = 5
BIG_DIM = 4097             # with B = 2, first option set of BIG_DIM_KINDS only
BIG_DIM_KINDS = ("rmsnorm", "layernorm", "prmsnorm", "pcnorm")

# Option sets, in emission order.
# Every value of every option of a kind appears in at least one set. New sets go at the end of a
# list: the seeds follow the case index, so earlier cases stay byte-identical.
CASES = {
    "rmsnorm": ["", "eps_mode=outside,eps=1e-08", "eps_mode=clamp",
                "bias=true", "zero_centered_gain=true", "gain=false",
                "gain=false,bias=true"],
    "layernorm": ["", "bias=false", "variance=one_pass", "variance=welford",
                  "eps_mode=outside", "zero_centered_gain=true", "eps=0.001",
                  "eps_mode=clamp", "gain=false,bias=false", "gain=false"],
    "scalenorm": ["", "eps_mode=inside", "zero_centered_gain=true",
                  "bias=true", "eps_mode=outside", "eps=0.01", "gain=false"],
    "prmsnorm": ["", "p=0.25", "p=1", "p=0.5,eps_mode=outside", "p=0.3",
                 "eps_mode=clamp", "bias=true", "zero_centered_gain=true",
                 "eps=0.001", "gain=false"],
    "l2norm": ["", "eps_mode=outside", "eps_mode=clamp", "bias=true",
               "zero_centered_gain=true", "eps=0.001", "gain=false"],
    "centernorm": ["", "bias=false", "zero_centered_gain=true", "gain=false"],
    "pcnorm": ["lambda=0", "lambda=0.3", "lambda=1", "",
               "lambda=0.5,learn_lambda=true",
               "lambda=0.7,learn_lambda=true,eps_mode=outside",
               "lambda=0.2,learn_lambda=true,bias=true",
               "eps_mode=clamp", "zero_centered_gain=true,learn_lambda=true",
               "eps=0.001,lambda=0.6", "gain=false,learn_lambda=true"],
    "none": [""],
    "dyt": ["", "alpha0=1", "bias=false", "alpha0=0.2,bias=false", "gain=false"],
}

# From the library (load_registry): kind -> its defaults {option: value}, and
# kind -> its form (src/norm/form.hpp; src/norm/registry_json.cpp lists the
# fields).
DEFAULTS = {}
FORMS = {}


def default_normlab():
    return pathlib.Path(__file__).resolve().parent.parent / "build" / "normlab"


def load_registry(normlab):
    """Fill DEFAULTS and FORMS from `normlab norms --json`."""
    try:
        text = subprocess.run([str(normlab), "norms", "--json"], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"{normlab} norms --json failed ({e}); build normlab "
                         f"first or pass --normlab PATH")
    for kind in json.loads(text)["kinds"]:
        DEFAULTS[kind["name"]] = kind["defaults"]
        FORMS[kind["name"]] = kind["form"]
    for what, table in (("option sets in CASES", CASES),
                        ("reference in NORMALIZERS", NORMALIZERS)):
        missing = sorted(set(DEFAULTS) - set(table))
        unknown = sorted(set(table) - set(DEFAULTS))
        if missing or unknown:
            raise SystemExit(f"kinds without {what}: {missing}; "
                             f"not in the library: {unknown}")


def gain_init(kind, D):
    """The applied gain at init (1, or sqrt(D)) as the form states it."""
    return {"1": 1.0, "sqrt(D)": math.sqrt(D)}[FORMS[kind]["gain_init"]]


def gain_shape(kind, D, opts):
    """(D,), (1,) or None (no gain, or gain=false), as the form states it."""
    if not opts.get("gain", True):
        return None
    return {"vector": (D,), "scalar": (1,), "none": None}[FORMS[kind]["gain"]]


def is_elementwise(kind):
    """An element-wise kind (DyT): a learned scalar alpha, no statistic."""
    return FORMS[kind]["family"] == "elementwise"


def parse_options(kind, text):
    """'key=value,...' -> full option dict (defaults of `kind` filled in)."""
    opts = dict(DEFAULTS[kind])
    for item in filter(None, text.split(",")):
        key, value = item.split("=", 1)
        if key not in opts:
            raise ValueError(f"{kind}: unknown option {key!r}")
        default = opts[key]
        if isinstance(default, bool):
            if value not in ("true", "false"):
                raise ValueError(f"{kind}: {key} must be true/false")
            opts[key] = value == "true"
        elif isinstance(default, (int, float)):
            opts[key] = float(value)
        else:
            opts[key] = value
    for key, value in opts.items():   # JSON gives whole numbers as int
        if isinstance(value, int) and not isinstance(value, bool):
            opts[key] = float(value)
    if opts.get("eps_mode", "inside") not in ("inside", "outside", "clamp"):
        raise ValueError(f"{kind}: bad eps_mode {opts['eps_mode']!r}")
    return opts


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def make_inputs(kind, case_index, opts, B, D):
    """Draw x, dy and the parameters in float32; return float64 arrays.

    The generator is seeded from (crc32(kind), case_index), so every case is
    reproducible on its own.
    """
    rng = np.random.default_rng([zlib.crc32(kind.encode()), case_index])
    f32 = np.float32

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    # x: (B, D), one row recipe per row (B = 2 uses the first two).
    z = normal(5, D)
    rows = [
        z[0],                          # N(0, 1)
        f32(1000) + z[1],              # large mean offset
        f32(0.5) + f32(1e-3) * z[2],   # tiny variance
        f32(10) * z[3],                # large scale
        z[4] + f32(3),                 # moderate offset
    ]
    data = {"x": np.stack(rows[:B]), "dy": normal(B, D)}

    shape = gain_shape(kind, D, opts)
    if shape is not None:                             # (D,), or (1,) for a scalar gain
        # A zero-centered gain w is 0.1 * init * N, else the gain is init * (1 + 0.1 N).
        zc = opts.get("zero_centered_gain", False)
        init = f32(gain_init(kind, D))
        data["gain"] = (f32(0.1) * init * normal(*shape) if zc
                        else init * (f32(1) + f32(0.1) * normal(*shape)))
    if opts.get("bias", False):
        data["bias"] = f32(0.1) * normal(D)           # (D,)
    if opts.get("learn_lambda", False):
        # Rounded to float32 like every other parameter (0.7 -> 0.69999999).
        data["lambda"] = np.array([opts["lambda"]], dtype=np.float32)
    if is_elementwise(kind):
        # The scalar alpha near its init: alpha0 * (1 + 0.1 N), in float32.
        data["alpha"] = f32(opts["alpha0"]) * (f32(1) + f32(0.1) * normal(1))

    for name, arr in data.items():
        assert arr.dtype == np.float32, name
    return {name: arr.astype(np.float64) for name, arr in data.items()}


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def safe_sqrt(s):
    """sqrt(s) whose gradient is 0 (not inf / NaN) where s == 0.

    Only reached for eps_mode outside/clamp, where the statistic can be
    exactly zero (e.g. the variance of a D = 1 row).
    """
    positive = s > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, s, torch.ones_like(s))),
                       torch.zeros_like(s))


def denom(stat, opts):
    """r(stat) for the three eps modes; stat: (B, 1) -> (B, 1)."""
    eps, mode = opts["eps"], opts["eps_mode"]
    if mode == "inside":
        return torch.sqrt(stat + eps)
    if mode == "outside":
        return safe_sqrt(stat) + eps
    return torch.clamp(safe_sqrt(stat), min=eps)       # clamp


def effective_gain(prm, opts, g0=1.0):
    """geff: stored gain, or g0 + w for zero-centered gains; 1 under gain=false."""
    if "gain" not in prm:
        return 1.0
    return g0 + prm["gain"] if opts.get("zero_centered_gain", False) else prm["gain"]


def add_bias(y, prm):
    return y + prm["bias"] if "bias" in prm else y     # (B, D) + (D,)


# ---------------------------------------------------------------------------
# Normalizers: f(x (B, D), prm {name: tensor}, opts) -> y (B, D)
# ---------------------------------------------------------------------------

def rmsnorm(x, prm, opts):
    ms = x.pow(2).mean(dim=-1, keepdim=True)                # (B, 1)
    return add_bias(effective_gain(prm, opts) * x / denom(ms, opts), prm)


def layernorm_ops(x, prm, opts):
    """LayerNorm from plain torch ops (biased variance, two-pass)."""
    xc = x - x.mean(dim=-1, keepdim=True)                   # (B, D)
    var = xc.pow(2).mean(dim=-1, keepdim=True)              # (B, 1)
    return add_bias(effective_gain(prm, opts) * xc / denom(var, opts), prm)


def uses_torch_layernorm(opts):
    return opts["eps_mode"] == "inside" and not opts["zero_centered_gain"]


def layernorm_torch(x, prm, opts, center_first=True):
    """PyTorch's own LayerNorm (nn.LayerNorm, or F.layer_norm without bias).

    LayerNorm is shift-invariant, so by default the input is centered first:
    torch's fused CPU kernel evaluates x * rstd - mean * rstd, which loses
    about |mean| * rstd * 1e-16 absolute (3e-11 for the D = 1, mean-1000 rows,
    where rstd = 1/sqrt(eps)), i.e. more than the 1e-10 relative tolerance of
    the C++ tests.  Centering first leaves the math and the gradient unchanged.
    """
    D = x.shape[-1]
    if center_first:
        x = x - x.mean(dim=-1, keepdim=True)                # (B, D)
    if not opts["gain"] and not opts["bias"]:
        # torch.nn.LayerNorm(elementwise_affine=False): the gain=false,bias=false case.
        return torch.nn.LayerNorm(D, eps=opts["eps"], elementwise_affine=False, dtype=DTYPE)(x)
    if opts["bias"] and opts["gain"]:
        ln = torch.nn.LayerNorm(D, eps=opts["eps"], dtype=DTYPE)
        return functional_call(ln, {"weight": prm["gain"], "bias": prm["bias"]}, (x,))
    # torch 1.13's nn.LayerNorm has no bias=False (nor a bias without a weight).
    return F.layer_norm(x, (D,), prm.get("gain"), prm.get("bias"), opts["eps"])


def layernorm(x, prm, opts):
    """Reference LayerNorm: PyTorch's implementation where its semantics
    apply (eps inside, plain gain), else plain ops.

    The `variance` option (two_pass / one_pass / welford) is an algorithm
    choice on the C++ side and does not change the reference.
    """
    if uses_torch_layernorm(opts):
        return layernorm_torch(x, prm, opts)
    return layernorm_ops(x, prm, opts)


def scalenorm(x, prm, opts):
    ss = x.pow(2).sum(dim=-1, keepdim=True)                 # (B, 1), r = L2 norm
    g = effective_gain(prm, opts, g0=math.sqrt(x.shape[-1]))  # (1,)
    return add_bias(g * x / denom(ss, opts), prm)


def prms_k(p, D):
    """Number of leading features used by pRMSNorm: ceil(p * D), at least 1."""
    return max(1, math.ceil(p * D - 1e-9))


def prmsnorm(x, prm, opts):
    k = prms_k(opts["p"], x.shape[-1])
    ms = x[:, :k].pow(2).mean(dim=-1, keepdim=True)         # (B, 1)
    return add_bias(effective_gain(prm, opts) * x / denom(ms, opts), prm)


def l2norm(x, prm, opts):
    ss = x.pow(2).sum(dim=-1, keepdim=True)                 # (B, 1)
    return add_bias(effective_gain(prm, opts) * x / denom(ss, opts), prm)


def centernorm(x, prm, opts):
    xc = x - x.mean(dim=-1, keepdim=True)                   # (B, D); eps unused
    return add_bias(effective_gain(prm, opts) * xc, prm)


def pcnorm(x, prm, opts):
    lam = prm["lambda"] if "lambda" in prm else opts["lambda"]  # (1,) or float
    z = x - lam * x.mean(dim=-1, keepdim=True)              # (B, D)
    ms = z.pow(2).mean(dim=-1, keepdim=True)                # (B, 1)
    return add_bias(effective_gain(prm, opts) * z / denom(ms, opts), prm)


def identity(x, prm, opts):
    return x


def dyt(x, prm, opts):
    """DyT (Zhu et al. 2025): y = g * tanh(alpha * x) + b, alpha a learned scalar (1,)."""
    return add_bias(effective_gain(prm, opts) * torch.tanh(prm["alpha"] * x), prm)


NORMALIZERS = {
    "rmsnorm": rmsnorm, "layernorm": layernorm, "scalenorm": scalenorm,
    "prmsnorm": prmsnorm, "l2norm": l2norm, "centernorm": centernorm,
    "pcnorm": pcnorm, "none": identity, "dyt": dyt,
}
PARAM_NAMES = ("gain", "bias", "lambda", "alpha")


# ---------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------

def forward_backward(fn, inputs, opts):
    """y = fn(x), loss = sum(y * dy); returns y, dx and d_<param> arrays."""
    x = torch.tensor(inputs["x"], dtype=DTYPE, requires_grad=True)
    dy = torch.tensor(inputs["dy"], dtype=DTYPE)
    prm = {n: torch.tensor(inputs[n], dtype=DTYPE, requires_grad=True)
           for n in PARAM_NAMES if n in inputs}
    y = fn(x, prm, opts)
    (y * dy).sum().backward()
    out = {"y": y.detach().numpy(), "dx": x.grad.numpy()}
    for n, t in prm.items():
        out["d_" + n] = t.grad.numpy()
    return out


def max_diff(a, b):
    return max(float(np.max(np.abs(a[n] - b[n]))) for n in a)


# Largest deviation of torch's LayerNorm on the *uncentered* input from the
# stored reference, for the summary printed by main().
RAW_TORCH_LN_DIFF = [0.0]


def check_layernorm(inputs, opts, ref):
    """Self-check of a torch LayerNorm reference.

    Plain ops must agree to 1e-12; torch's kernel on the raw (uncentered)
    input only has to agree loosely (see layernorm_torch), which still
    catches any semantic mismatch (eps placement, unbiased variance, ...).
    """
    ops = forward_backward(layernorm_ops, inputs, opts)
    raw = forward_backward(lambda x, p, o: layernorm_torch(x, p, o, center_first=False),
                           inputs, opts)
    for name, want in ref.items():
        if not np.allclose(ops[name], want, rtol=1e-12, atol=1e-12):
            raise AssertionError(f"layernorm ops vs torch: {name} differs by "
                                 f"{np.max(np.abs(ops[name] - want)):g}")
    RAW_TORCH_LN_DIFF[0] = max(RAW_TORCH_LN_DIFF[0], max_diff(raw, ref))
    assert RAW_TORCH_LN_DIFF[0] < 1e-9, RAW_TORCH_LN_DIFF[0]


def iter_cases(kind):
    """Yield (case_index, option string, B, D) in emission order."""
    index = 0
    for set_index, text in enumerate(CASES[kind]):
        dims = [(5, D) for D in SMALL_DIMS]
        if set_index == 0 and kind in BIG_DIM_KINDS:
            dims.append((2, BIG_DIM))
        for B, D in dims:
            yield index, text, B, D
            index += 1


def build_case(kind, index, text, B, D):
    opts = parse_options(kind, text)
    inputs = make_inputs(kind, index, opts, B, D)
    outputs = forward_backward(NORMALIZERS[kind], inputs, opts)
    if kind == "layernorm" and uses_torch_layernorm(opts):
        check_layernorm(inputs, opts, outputs)
    return inputs, outputs


# Gzip only pays off on larger arrays; tiny datasets stay contiguous.
COMPRESS_MIN_ELEMS = 1024


def write_array(group, name, arr):
    kwargs = {}
    if arr.size >= COMPRESS_MIN_ELEMS:
        kwargs = dict(compression="gzip", compression_opts=9, shuffle=True)
    group.create_dataset(name, data=np.ascontiguousarray(arr, dtype=np.float64),
                         track_times=False, **kwargs)


def write_kind(out_dir, kind):
    path = out_dir / f"{kind}.h5"
    count = 0
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["generator"] = "tests/gen_fixtures.py"
        f.attrs["torch_version"] = str(torch.__version__)
        for index, text, B, D in iter_cases(kind):
            inputs, outputs = build_case(kind, index, text, B, D)
            g = f.create_group(f"case_{index:03d}", track_order=False)
            g.attrs["kind"] = kind
            g.attrs["options"] = text
            g.attrs["B"] = np.int64(B)
            g.attrs["D"] = np.int64(D)
            for name, arr in {**inputs, **outputs}.items():
                write_array(g, name, arr)
            count += 1
    print(f"{path}: {count} cases ({path.stat().st_size} bytes)")
    return path


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def verify_file(path, kind):
    """Re-open a written file: attributes, dataset set, shapes, finiteness."""
    expected = list(iter_cases(kind))
    with h5py.File(path, "r") as f:
        assert f.attrs["generator"] == "tests/gen_fixtures.py"
        assert sorted(f.keys()) == [f"case_{i:03d}" for i, *_ in expected]
        for index, text, B, D in expected:
            g = f[f"case_{index:03d}"]
            assert g.attrs["kind"] == kind and g.attrs["options"] == text
            assert g.attrs["B"] == B and g.attrs["D"] == D
            opts = parse_options(kind, text)
            shapes = {"x": (B, D), "dy": (B, D), "y": (B, D), "dx": (B, D)}
            if gain_shape(kind, D, opts) is not None:
                shapes["gain"] = gain_shape(kind, D, opts)
            if opts.get("bias", False):
                shapes["bias"] = (D,)
            if opts.get("learn_lambda", False):
                shapes["lambda"] = (1,)
            if is_elementwise(kind):
                shapes["alpha"] = (1,)
            for n in PARAM_NAMES:
                if n in shapes:
                    shapes["d_" + n] = shapes[n]
            assert set(g.keys()) == set(shapes), (path, index, sorted(g.keys()))
            for name, shape in shapes.items():
                arr = g[name][()]
                assert arr.dtype == np.float64 and arr.shape == shape, (path, index, name)
                assert np.all(np.isfinite(arr)), (path, index, name)
                if name in ("x", "dy") or name in PARAM_NAMES:
                    assert np.array_equal(arr, arr.astype(np.float32)), (path, index, name)


def gradcheck_case(kind, text, D, B=5, index=0):
    """torch.autograd.gradcheck (central finite differences) on one case."""
    opts = parse_options(kind, text)
    inputs = make_inputs(kind, index, opts, B, D)
    names = [n for n in PARAM_NAMES if n in inputs]
    leaves = [torch.tensor(inputs[n], dtype=DTYPE, requires_grad=True)
              for n in ["x"] + names]

    def fn(x, *params):
        return NORMALIZERS[kind](x, dict(zip(names, params)), opts)

    # Keep the perturbation well inside the tiny-variance row's scale (1e-3).
    return torch.autograd.gradcheck(fn, leaves, eps=1e-7, atol=1e-6, rtol=1e-4)


def fd_check_stored(path, case, n_probe=4):
    """Central difference of sum(y * dy) against the stored dx of one case."""
    with h5py.File(path, "r") as f:
        g = f[case]
        kind, text = g.attrs["kind"], g.attrs["options"]
        data = {k: g[k][()] for k in g.keys()}
    opts = parse_options(kind, text)
    prm = {n: torch.tensor(data[n]) for n in PARAM_NAMES if n in data}
    dy = torch.tensor(data["dy"])

    def loss(x):
        return float((NORMALIZERS[kind](torch.tensor(x), prm, opts) * dy).sum())

    h = 1e-7
    B, D = data["x"].shape
    worst = 0.0
    for i, j in [(r % B, (7 * r + 3) % D) for r in range(n_probe)]:
        xp, xm = data["x"].copy(), data["x"].copy()
        xp[i, j] += h
        xm[i, j] -= h
        fd = (loss(xp) - loss(xm)) / (2 * h)
        worst = max(worst, abs(fd - data["dx"][i, j]) / max(1.0, abs(fd)))
    assert worst < 1e-5, (path, case, worst)
    return worst


def run_checks(paths):
    for kind, path in paths.items():
        verify_file(path, kind)
    print("re-opened all files: shapes / datasets / finiteness / float32 inputs OK")

    grad_cases = [(kind, CASES[kind][0], 37) for kind in CASES if kind in paths]
    grad_cases += [
        ("layernorm", "eps_mode=outside", 1),       # zero variance, safe_sqrt path
        ("layernorm", "zero_centered_gain=true", 37),
        ("rmsnorm", "eps_mode=clamp", 64),
        ("scalenorm", "zero_centered_gain=true", 64),
        ("pcnorm", "lambda=0.7,learn_lambda=true,eps_mode=outside", 37),
        ("pcnorm", "lambda=0.2,learn_lambda=true,bias=true", 1),
        ("prmsnorm", "p=0.3", 37),
        ("dyt", "bias=false", 64),
    ]
    grad_cases = [case for case in grad_cases if case[0] in paths]
    for kind, text, D in grad_cases:
        assert gradcheck_case(kind, text, D), (kind, text, D)
    print(f"torch.autograd.gradcheck passed on {len(grad_cases)} cases")

    worst = max(fd_check_stored(path, "case_001") for path in paths.values())
    print(f"stored dx vs central differences (case_001 of each file): "
          f"worst rel. error {worst:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures",
                        help="output directory (default: tests/fixtures)")
    parser.add_argument("--normlab", default=str(default_normlab()),
                        help="the normlab binary whose kinds to use (default: build/normlab)")
    parser.add_argument("--kinds", default="",
                        help="comma-separated kinds to write (default: all); a committed "
                             "fixture is regenerated only when its cases change")
    args = parser.parse_args()
    load_registry(args.normlab)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in args.kinds.split(",") if k] or list(CASES)
    unknown = sorted(set(kinds) - set(CASES))
    if unknown:
        raise SystemExit(f"--kinds: unknown {unknown}; kinds: {', '.join(CASES)}")

    torch.manual_seed(0)   # no torch RNG is used; set for good measure
    paths = {kind: write_kind(out_dir, kind) for kind in kinds}
    total = sum(p.stat().st_size for p in paths.values())
    print(f"total: {total} bytes")
    print(f"layernorm: plain ops agree with torch LayerNorm to 1e-12; torch on the "
          f"uncentered input deviates by up to {RAW_TORCH_LN_DIFF[0]:.1e}")
    run_checks(paths)


if __name__ == "__main__":
    main()
