"""normlab._core, the normalizers on numpy arrays (python/module.cpp), against independent references:
the PyTorch fixtures every C++ normalizer is tested with (tests/fixtures/<kind>.h5, written by
tests/gen_fixtures.py), finite differences in float64, closed forms in numpy; against `normlab apply`
on the same data (the same library, so the same bits); and bad input, whose messages are those the
command line gives.

CTest puts the build's package (build/python) on PYTHONPATH; by hand: PYTHONPATH=build/python.
"""

import math
import os
import tempfile
import unittest
from pathlib import Path

import h5py
import numpy as np

import support  # REPO, BINARY; puts the build's package (build/python) on sys.path
import normlab

FIXTURES = support.REPO / "tests" / "fixtures"
KINDS = ["rmsnorm", "layernorm", "scalenorm", "prmsnorm", "l2norm", "centernorm", "pcnorm", "none", "dyt"]
PARAMS = ("gain", "bias", "lambda", "alpha")


def options_of(text):
    """A fixture's options attribute ("eps=1e-3,bias=true") as keyword arguments."""
    pairs = [item.split("=", 1) for item in text.split(",") if item] if text else []
    return {("lambda_" if k == "lambda" else k): v for k, v in pairs}


def fixture_cases(kind):
    with h5py.File(FIXTURES / f"{kind}.h5", "r") as f:
        for name, group in f.items():
            data = {key: group[key][()] for key in group}
            options = group.attrs.get("options", "")
            yield name, options_of(options.decode() if isinstance(options, bytes) else options), data


def assert_close(test, got, want, rtol, what, floor=0.0):
    """|got - want| <= rtol * (|want| + max|want|) + floor: relative, with a floor at the array's
    scale and, for a value that is a difference of larger terms, at the size of those terms."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    test.assertEqual(got.shape, want.shape, what)
    scale = np.abs(want).max() if want.size else 0.0
    bad = np.abs(got - want) > rtol * (np.abs(want) + scale) + floor
    test.assertFalse(bad.any(), f"{what}: max error {np.abs(got - want).max():.3g} (scale {scale:.3g})")


def cancellation_floors(n, data, cache, rtol):
    """The floors tests/test_fixtures.cpp derives, rtol times the terms that cancel: dx_ij is a
    difference of terms of size rstd_i * |dy_ij * g_j| (the applied gain, g0 + stored), d_lambda's
    terms are |mean_i| * rstd_i * sum_j |dy_ij * g_j|, DyT's d_alpha's are |dy_ij * g_j * x_ij|."""
    x, dy = data["x"], data["dy"]
    D = x.shape[-1]
    g0 = (math.sqrt(D) if n.kind == "scalenorm" else 1.0) if n.options.get("zero_centered_gain") == "true" else 0.0
    gain = np.abs(g0 + data["gain"]) if "gain" in data else np.ones(1)
    terms = np.abs(dy) * gain
    rstd, mean = cache.rstd.reshape(-1, 1), cache.mean.reshape(-1, 1)
    return {"dx": rtol * rstd * terms.max(-1, keepdims=True),
            "d_lambda": rtol * float((np.abs(mean) * rstd * terms.sum(-1, keepdims=True)).sum()),
            "d_alpha": rtol * float((terms * np.abs(x)).sum())}


class FixtureTest(unittest.TestCase):
    """Every case of every kind's PyTorch fixture, forward and backward, in float64 and float32."""

    def check_kind(self, kind, dtype, rtol):
        cases = 0
        for name, options, data in fixture_cases(kind):
            n = normlab.Normalizer(kind, **options)
            params = {p: data[p].astype(dtype) for p in PARAMS if p in data}
            x, dy = data["x"].astype(dtype), data["dy"].astype(dtype)
            y, cache = n.forward(x, params)
            dx, grads = n.backward(dy, x, cache, params)
            what = f"{kind} {name} {options} {np.dtype(dtype).name}"
            self.assertEqual(y.dtype, dtype, what)
            suffix = "_float32" if dtype == np.float32 and "y_float32" in data else ""
            floors = cancellation_floors(n, data, cache, rtol)
            assert_close(self, y, data["y" + suffix], rtol, what + " y")
            assert_close(self, dx, data["dx" + suffix], rtol, what + " dx", floors["dx"])
            self.assertEqual(sorted(grads), sorted(p for p in PARAMS if "d_" + p in data), what)
            for p, g in grads.items():
                assert_close(self, g, data["d_" + p + suffix], rtol, f"{what} d_{p}", floors.get("d_" + p, 0.0))
            cases += 1
        self.assertGreater(cases, 0, kind)

    def test_float64(self):
        for kind in KINDS:
            with self.subTest(kind=kind):
                self.check_kind(kind, np.float64, 1e-9)

    def test_float32(self):
        # A float32 computation against float64 references: 2^-24 relative per rounding, with the
        # accumulation in double (the library's choice); 1e-5 is ~170 ulps, room for DyT's tanh.
        for kind in KINDS:
            with self.subTest(kind=kind):
                self.check_kind(kind, np.float32, 1e-5)


def finite_difference(n, x, dy, params, h=1e-6):
    """d(sum(dy * y))/dx and /dparams by central differences, in float64."""
    def loss(x_, params_):
        return float((n.forward(x_, params_)[0] * dy).sum())
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        dx[i] = (loss(up, params) - loss(down, params)) / (2 * h)
    grads = {}
    for name, value in params.items():
        grads[name] = np.zeros_like(value)
        for i in range(value.size):
            up, down = dict(params, **{name: value.copy()}), dict(params, **{name: value.copy()})
            up[name][i] += h
            down[name][i] -= h
            grads[name][i] = (loss(x, up) - loss(x, down)) / (2 * h)
    return dx, grads


class CalculusTest(unittest.TestCase):
    """The backward against finite differences of the forward, on rank-3 input."""

    CASES = [("rmsnorm", {"bias": True}), ("layernorm", {"bias": True, "eps_mode": "outside"}),
             ("scalenorm", {}), ("prmsnorm", {"p": 0.5}), ("pcnorm", {"learn_lambda": True, "lambda_": 0.3}),
             ("dyt", {"alpha0": 0.7}), ("l2norm", {"zero_centered_gain": True}), ("centernorm", {}),
             ("rmsnorm", {"gain": False})]

    def test_finite_differences(self):
        rng = np.random.default_rng(7)
        for kind, options in self.CASES:
            with self.subTest(kind=kind, options=options):
                n = normlab.Normalizer(kind, **options)
                x = rng.normal(0.5, 2.0, size=(2, 3, 6))
                dy = rng.normal(size=x.shape)
                params = n.init_params(6, "float64")
                for name, value in params.items():  # away from the initial values
                    value += rng.uniform(-0.2, 0.2, size=value.shape)
                dx, grads = n.backward(dy, x, None, params)
                fd_dx, fd_grads = finite_difference(n, x, dy, params)
                assert_close(self, dx, fd_dx, 1e-6, "dx")
                for name in params:
                    assert_close(self, grads[name], fd_grads[name], 1e-6, "d_" + name)


class ClosedFormTest(unittest.TestCase):
    def test_rmsnorm_and_layernorm_forward(self):
        rng = np.random.default_rng(1)
        x = rng.normal(3.0, 2.0, size=(4, 5, 33))
        g, b = rng.normal(size=33), rng.normal(size=33)
        y, cache = normlab.Normalizer("rmsnorm", eps=1e-6).forward(x, gain=g)
        rms = np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)
        np.testing.assert_allclose(y, g * x / rms, rtol=1e-13)
        np.testing.assert_allclose(cache.rstd, 1 / rms.reshape(-1), rtol=1e-13)
        y, cache = normlab.Normalizer("layernorm", bias=True).forward(x, {"gain": g, "bias": b})
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        np.testing.assert_allclose(y, g * (x - mean) / np.sqrt(var + 1e-5) + b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cache.mean, mean.reshape(-1), rtol=1e-13)

    def test_any_rank_is_rows_of_the_last_axis(self):
        n = normlab.Normalizer("layernorm")
        x = np.random.default_rng(2).normal(size=(2, 3, 4, 8)).astype(np.float32)
        y3, _ = n.forward(x)
        y2, _ = n.forward(x.reshape(-1, 8))
        self.assertTrue(np.array_equal(y3.reshape(-1, 8), y2))
        y1, _ = n.forward(x[1, 2, 3])
        self.assertTrue(np.array_equal(y1, y3[1, 2, 3]))

    def test_non_contiguous_input_is_read_as_its_values(self):
        n = normlab.Normalizer("rmsnorm")
        x = np.random.default_rng(3).normal(size=(8, 6))
        view = x.T  # (6, 8), Fortran order
        self.assertTrue(np.array_equal(n.forward(view)[0], n.forward(np.ascontiguousarray(view))[0]))
        self.assertTrue(np.array_equal(n.forward(x[:, ::2])[0], n.forward(x[:, ::2].copy())[0]))

    def test_empty_batch(self):
        n = normlab.Normalizer("rmsnorm")
        y, cache = n.forward(np.zeros((0, 4), np.float32))
        self.assertEqual(y.shape, (0, 4))
        dx, grads = n.backward(np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), cache)
        self.assertEqual(dx.shape, (0, 4))
        self.assertTrue(np.array_equal(grads["gain"], np.zeros(4, np.float32)))

    def test_threads_give_the_same_forward(self):
        n = normlab.Normalizer("layernorm", bias=True)
        x = np.random.default_rng(4).normal(size=(512, 256)).astype(np.float32)
        one = n.forward(x)[0]
        self.assertEqual(normlab.set_threads(2), min(2, os.cpu_count() or 1))
        try:
            self.assertTrue(np.array_equal(n.forward(x)[0], one))
        finally:
            normlab.set_threads(1)

    def test_described(self):
        n = normlab.Normalizer("pcnorm", lambda_=0.25, learn_lambda=True)
        self.assertEqual(n.kind, "pcnorm")
        self.assertEqual(n.options["lambda"], "0.25")
        self.assertEqual([s["name"] for s in n.param_specs(5)], ["gain", "lambda"])
        self.assertEqual(normlab.kind_info("dyt")["options"]["alpha0"], "0.5")
        self.assertEqual(sorted(normlab.kinds()), sorted(KINDS))


class ApplyTest(unittest.TestCase):
    """The module and `normlab apply` are the same library: the same bits on the same data,
    emulated bfloat16 included, and the same message for the same mistake."""

    def apply(self, tmp, data, *options):
        src = Path(tmp) / "in.h5"
        with h5py.File(src, "w") as f:
            for name, value in data.items():
                f[name] = value
        out = Path(tmp) / "out.h5"
        result = support.normlab("apply", "--in", src, "--out", out, *options, check=False)
        if result.returncode == 0:
            with h5py.File(out, "r") as f:
                values = {name: f[name][()] for name in f}
            out.unlink()
            return values, ""
        return None, result.stderr

    def test_same_bits(self):
        rng = np.random.default_rng(5)
        for dtype in (np.float32, np.float64):
            x = rng.normal(1.0, 3.0, size=(3, 4, 40)).astype(dtype)
            dy = rng.normal(size=x.shape).astype(dtype)
            g = rng.normal(size=40).astype(dtype)
            for kind, flags, kwargs in [
                    ("layernorm", ["--bias", "true"], {"bias": True}),
                    ("rmsnorm", ["--storage", "bfloat16", "--accumulate", "float32"],
                     {"storage": "bfloat16", "accumulate": "float32"}),
                    ("dyt", ["--alpha0", "0.3"], {"alpha0": 0.3})]:
                with self.subTest(kind=kind, dtype=np.dtype(dtype).name), tempfile.TemporaryDirectory() as tmp:
                    ref, err = self.apply(tmp, {"x": x, "dy": dy, "gain": g}, "--norm", kind, *flags)
                    self.assertEqual(err, "")
                    n = normlab.Normalizer(kind, **kwargs)
                    y, cache = n.forward(x, gain=g)
                    dx, grads = n.backward(dy, x, cache, gain=g)
                    self.assertTrue(np.array_equal(y, ref["y"]))
                    self.assertTrue(np.array_equal(dx, ref["dx"]))
                    self.assertTrue(np.array_equal(grads["gain"], ref["d_gain"]))

    def test_emulated_differs_from_native(self):
        x = np.random.default_rng(6).normal(size=(16, 64)).astype(np.float32)
        native = normlab.Normalizer("rmsnorm").forward(x)[0]
        bf16 = normlab.Normalizer("rmsnorm", storage="bfloat16").forward(x)[0]
        self.assertFalse(np.array_equal(native, bf16))
        # bfloat16 keeps 8 significant bits: every output is a bfloat16 value (low 16 bits zero).
        self.assertTrue((bf16.view(np.uint32) & 0xFFFF == 0).all())
        # Three roundings to bfloat16 (8 significant bits, unit roundoff u = 2^-8) reach y: x's, the
        # RMS's through x, and y's own, each at most u relative.
        np.testing.assert_allclose(bf16, native, rtol=3 * 2 ** -8)

    def test_same_messages(self):
        x = np.ones((2, 3), np.float32)
        mistakes = [  # (data for apply, apply flags, the module's call)
            ({"x": x, "gain": np.ones(2, np.float32)}, ["--norm", "rmsnorm"],
             lambda: normlab.Normalizer("rmsnorm").forward(x, gain=np.ones(2, np.float32)),
             "'gain' has shape (2,), rmsnorm needs (3,)"),
            ({"x": x, "bias": np.ones(3, np.float32)}, ["--norm", "rmsnorm"],
             lambda: normlab.Normalizer("rmsnorm").forward(x, bias=np.ones(3, np.float32)),
             "'bias' is given, but rmsnorm("),
            ({"x": x, "dy": np.ones((3, 2), np.float32)}, ["--norm", "rmsnorm"],
             lambda: normlab.Normalizer("rmsnorm").backward(np.ones((3, 2), np.float32), x),
             "'dy' has shape (3, 2), expected the shape of x (2, 3)"),
            ({"x": np.float32(1)}, ["--norm", "rmsnorm"],
             lambda: normlab.Normalizer("rmsnorm").forward(np.float32(1)), "'x' is a scalar"),
            ({"x": np.ones((2, 0), np.float32)}, ["--norm", "rmsnorm"],
             lambda: normlab.Normalizer("rmsnorm").forward(np.ones((2, 0), np.float32)),
             "'x' has D = 0 features"),
            ({"x": x}, ["--norm", "rmsnrm"], lambda: normlab.Normalizer("rmsnrm"),
             "unknown normalizer 'rmsnrm' (did you mean 'rmsnorm'?)"),
            ({"x": x}, ["--norm", "rmsnorm", "--lambda", "0.5"], lambda: normlab.Normalizer("rmsnorm", lambda_=0.5),
             "lambda"),
            ({"x": x}, ["--norm", "layernorm", "--eps-mode", "insid"],
             lambda: normlab.Normalizer("layernorm", eps_mode="insid"), "insid"),
            ({"x": x}, ["--norm", "dyt", "--storage", "bfloat16"],
             lambda: normlab.Normalizer("dyt", storage="bfloat16"), "dyt"),
        ]
        for data, flags, call, message in mistakes:
            with self.subTest(message=message), tempfile.TemporaryDirectory() as tmp:
                _, cli_error = self.apply(tmp, data, *flags)
                self.assertIn(message, cli_error)
                with self.assertRaises(normlab.NormlabError) as raised:
                    call()
                text = str(raised.exception)
                self.assertIn(message, text)
                self.assertIn(text, cli_error.replace("in.h5: dataset ", ""),
                              "the module's message is the command line's")


class BadInputTest(unittest.TestCase):
    def test_dtypes(self):
        n = normlab.Normalizer("rmsnorm")
        for bad in (np.ones((2, 3), np.int64), np.ones((2, 3), np.float16), np.ones((2, 3), complex)):
            with self.assertRaises(TypeError) as raised:
                n.forward(bad)
            self.assertIn("float32 or float64", str(raised.exception))
        with self.assertRaises(TypeError) as raised:
            n.forward(np.ones((2, 3), np.float32), gain=np.ones(3))
        self.assertIn("'gain' has dtype float64, but x is float32", str(raised.exception))

    def test_options_and_parameters(self):
        with self.assertRaises(normlab.NormlabError) as raised:
            normlab.Normalizer("rmsnorm", epss=1e-6)
        self.assertIn("unknown option 'epss' (did you mean 'eps'?)", str(raised.exception))
        with self.assertRaises(normlab.NormlabError) as raised:
            normlab.Normalizer("rmsnorm", eps=[1])
        self.assertIn("option eps: a value of type list", str(raised.exception))
        n = normlab.Normalizer("pcnorm", learn_lambda=True)
        with self.assertRaises(normlab.NormlabError) as raised:
            n.forward(np.ones((2, 3)), lambda_=np.array([1.5]))
        self.assertIn("lambda must be in [0, 1], got 1.5", str(raised.exception))
        with self.assertRaises(normlab.NormlabError) as raised:
            n.forward(np.ones((2, 3)), gian=np.ones(3))
        self.assertIn("'gian' is not a normalizer parameter", str(raised.exception))
        with self.assertRaises(normlab.NormlabError):
            n.forward(np.ones((2, 3)), {"gain": np.ones(3)}, gain=np.ones(3))
        with self.assertRaises(TypeError) as raised:
            n.forward(np.ones((2, 3)), [np.ones(3)])
        self.assertIn("params is a list, not a dict", str(raised.exception))

    def test_cache_of_another_call(self):
        n = normlab.Normalizer("rmsnorm")
        _, cache = n.forward(np.ones((2, 3)))
        with self.assertRaises(normlab.NormlabError) as raised:
            n.backward(np.ones((4, 3)), np.ones((4, 3)), cache)
        self.assertIn("the cache is from a forward of x with shape (2, 3)", str(raised.exception))
        with self.assertRaises(normlab.NormlabError) as raised:
            normlab.Normalizer("layernorm").backward(np.ones((2, 3)), np.ones((2, 3)), cache)
        self.assertIn("the cache is from rmsnorm(", str(raised.exception))

    def test_nan_propagates_without_a_crash(self):
        x = np.ones((2, 4))
        x[1, 2] = np.nan
        y, _ = normlab.Normalizer("layernorm").forward(x)
        self.assertTrue(np.isfinite(y[0]).all() and np.isnan(y[1]).all())


if __name__ == "__main__":
    unittest.main()
