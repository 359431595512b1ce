"""normlab.torch (issue 20) against PyTorch: torch.autograd.gradcheck in float64 for every kind and
the options that change the backward; torch.nn.LayerNorm, torch.nn.RMSNorm (a hand-written RMSNorm
on torch < 2.4) and a hand-written DyT, forward and backward; a tiny model trained with normlab's
RMSNorm and with torch's; the emulated bfloat16 storage against the extension's numpy call; and
bad input.

Needs the extension: CTest puts the build's package (build/python) on PYTHONPATH. When torch does
not import, exits with SKIP_CODE (CTest's SKIP_RETURN_CODE), unless NORMLAB_REQUIRE_TORCH=1.
"""

import copy
import inspect
import io
import os
import subprocess
import sys
import unittest
from pathlib import Path

SKIP_CODE = 77
try:
    import torch
except ImportError as missing:
    if os.environ.get("NORMLAB_REQUIRE_TORCH") == "1":
        raise
    print(f"test_torch skipped: torch does not import ({missing}); NORMLAB_REQUIRE_TORCH=1 fails instead")
    sys.exit(SKIP_CODE)

REPO = Path(__file__).resolve().parents[2]
if "PYTHONPATH" not in os.environ:  # by hand: this checkout's build
    sys.path.insert(0, str(REPO / "build" / "python"))

import numpy as np  # noqa: E402

import normlab  # noqa: E402
import normlab.torch as nt  # noqa: E402

# Central differences in float64 with torch's step 1e-6: truncation ~1e-12 and rounding
# ~1e-16 / 1e-6 = 1e-10 of the values (O(1) here), so 1e-7 absolute and 1e-6 relative (the
# project's finite-difference bound) leave a margin of 100 and still catch any wrong term.
GRAD_ATOL, GRAD_RTOL = 1e-7, 1e-6


def assert_close(test, name, ours, ref, terms):
    """|ours - ref| <= terms * eps * max|ref| per element: the worst-case rounding of a sum of
    `terms` terms in ref's dtype (both sides round; a wrong formula is off by O(max|ref|))."""
    ours, ref = ours.detach(), ref.detach()
    test.assertEqual(tuple(ours.shape), tuple(ref.shape), f"{name}: shape")
    test.assertEqual(ours.dtype, ref.dtype, f"{name}: dtype")
    bound = terms * torch.finfo(ref.dtype).eps * float(ref.abs().max())
    err = (ours.double() - ref.double()).abs()
    worst = int(torch.argmax(err))
    if float(err.flatten()[worst]) > bound:
        test.fail(f"{name} ({ref.dtype}): max abs error {float(err.max()):.3g} > {bound:.3g} at flat "
                  f"index {worst}: ours {float(ours.flatten()[worst])!r}, reference "
                  f"{float(ref.flatten()[worst])!r}")


def perturbed(module, generator, scale=0.3):
    """Random parameters near the module's initial ones (lambda_ and alpha stay inside their range)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in ("lambda_", "alpha"):  # by at most 10%: lambda in (0, 1], alpha > 0
                p.mul_(1 + 0.2 * (torch.rand(p.shape, generator=generator, dtype=p.dtype) - 0.5))
            else:
                p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


def gradients(module, x, dy):
    """y, dx and each parameter's gradient (by name) of sum(y * dy), with fresh .grad fields."""
    x = x.detach().clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    y = module(x)
    y.backward(dy)
    return y.detach(), x.grad, {name: p.grad for name, p in module.named_parameters()}


class HandRMSNorm(torch.nn.Module):
    """y = w * x * rsqrt(mean(x^2) + eps), written in torch: the reference where torch.nn has no
    RMSNorm (it came in torch 2.4). eps=None: the machine epsilon of x's dtype, as torch's."""

    def __init__(self, D, eps=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(D, dtype=dtype))

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight


def torch_rmsnorm(D, eps, dtype):
    """torch.nn.RMSNorm where this torch has it, else HandRMSNorm."""
    if hasattr(torch.nn, "RMSNorm"):
        return torch.nn.RMSNorm(D, eps=eps, dtype=dtype)
    return HandRMSNorm(D, eps=eps, dtype=dtype)


class HandDyT(torch.nn.Module):
    """y = w * tanh(alpha * x) + b in torch, named as the DyT paper's DynamicTanh."""

    def __init__(self, D, alpha0=0.5, dtype=None):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.full((1,), alpha0, dtype=dtype))
        self.weight = torch.nn.Parameter(torch.ones(D, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.zeros(D, dtype=dtype))

    def forward(self, x):
        return self.weight * torch.tanh(self.alpha * x) + self.bias


# (kind, options) for gradcheck: every kind at its defaults, then the options that change the
# backward's formula.
GRADCHECK_CASES = [(kind, {}) for kind in normlab.kinds()] + [
    ("layernorm", {"bias": False}),
    ("layernorm", {"variance": "welford"}),
    ("rmsnorm", {"eps_mode": "outside"}),
    ("rmsnorm", {"eps_mode": "clamp"}),
    ("rmsnorm", {"zero_centered_gain": True, "bias": True}),
    ("rmsnorm", {"gain": False}),
    ("scalenorm", {"zero_centered_gain": True}),
    ("prmsnorm", {"p": 0.5}),
    ("pcnorm", {"learn_lambda": True}),
    ("pcnorm", {"learn_lambda": True, "lambda_": 0.9, "eps_mode": "outside"}),
    ("dyt", {"alpha0": 2.0, "bias": False}),
    ("dyt", {"gain": False}),
]


class GradcheckTest(unittest.TestCase):
    def test_every_kind_and_option(self):
        generator = torch.Generator().manual_seed(1)
        for kind, options in GRADCHECK_CASES:
            for shape in ((3, 6), (2, 3, 6)):
                with self.subTest(kind=kind, options=options, shape=shape):
                    module = perturbed(nt.Norm(kind, 6, dtype=torch.float64, **options), generator)
                    x = torch.randn(shape, generator=generator, dtype=torch.float64) * 2 + 0.5
                    inputs = (x.requires_grad_(), *module.parameters())
                    self.assertTrue(all(t.requires_grad for t in inputs))

                    def apply(x, *params):
                        return nt.NormFunction.apply(module.normalizer, x, *params)
                    self.assertTrue(torch.autograd.gradcheck(apply, inputs, atol=GRAD_ATOL,
                                                             rtol=GRAD_RTOL))

    def test_parameters_named_as_torch(self):
        names = {kind: [n for n, _ in nt.Norm(kind, 4).named_parameters()] for kind in normlab.kinds()}
        self.assertEqual(names["rmsnorm"], ["weight"])
        self.assertEqual(names["layernorm"], ["weight", "bias"])
        self.assertEqual(sorted(names["dyt"]), ["alpha", "bias", "weight"])
        self.assertEqual(names["none"], [])
        learned = nt.PCNorm(4, learn_lambda=True, lambda_=0.25)
        self.assertEqual([n for n, _ in learned.named_parameters()], ["weight", "lambda_"])
        self.assertEqual(float(learned.lambda_), 0.25)
        self.assertEqual(float(nt.ScaleNorm(9).weight), 3.0)  # sqrt(D)
        self.assertIsNone(nt.RMSNorm(4, elementwise_affine=False).weight)
        self.assertEqual([n for n, _ in nt.LayerNorm(4, bias=False).named_parameters()], ["weight"])
        self.assertIsNone(nt.LayerNorm(4, bias=False).bias)

    def test_a_class_per_kind(self):
        classes = {cls.KIND: cls for cls in (nt.ScaleNorm, nt.PRMSNorm, nt.L2Norm, nt.CenterNorm,
                                             nt.PCNorm, nt.DyT)}
        classes.update(rmsnorm=nt.RMSNorm, layernorm=nt.LayerNorm)
        self.assertEqual(sorted([*classes, "none"]), sorted(normlab.kinds()))
        for kind, cls in classes.items():
            self.assertEqual(cls(5).kind, kind)

    def test_only_input_gradient_when_parameters_are_frozen(self):
        module = nt.LayerNorm(5, dtype=torch.float64).requires_grad_(False)
        x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(module, (x,), atol=GRAD_ATOL, rtol=GRAD_RTOL))
        module(x).backward(torch.randn(x.shape, dtype=x.dtype))
        self.assertIsNone(module.weight.grad)
        self.assertIsNotNone(x.grad)

    def test_second_derivative_raises(self):
        module = nt.RMSNorm(4, dtype=torch.float64)
        x = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
        (dx,) = torch.autograd.grad((module(x) ** 2).sum(), x, create_graph=True)
        with self.assertRaisesRegex(RuntimeError, "once_differentiable"):
            dx.sum().backward()


class AgainstTorchTest(unittest.TestCase):
    """Same parameters, x and a random upstream dy on normlab's module and torch's."""

    B, D = 24, 16  # x (2, 12, D): the gradients of weight and bias sum over B = 24 rows

    def compare(self, ours, ref, dtype, seed=2):
        ours.load_state_dict(ref.state_dict())  # also: the state_dict keys match
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(2, self.B // 2, self.D, generator=generator, dtype=dtype) * 3 + 1
        dy = torch.randn(x.shape, generator=generator, dtype=dtype)
        y, dx, grads = gradients(ours, x, dy)
        y_ref, dx_ref, grads_ref = gradients(ref, x, dy)
        name = type(ref).__name__
        assert_close(self, f"{name} y", y, y_ref, self.D)  # sums over the D features of a row
        assert_close(self, f"{name} dx", dx, dx_ref, self.D)
        self.assertEqual(sorted(grads), sorted(grads_ref))
        for key, grad in grads.items():  # sums over the B rows (and D for alpha)
            assert_close(self, f"{name} d{key}", grad, grads_ref[key], self.B * self.D)

    def test_layernorm(self):
        for dtype in (torch.float32, torch.float64):
            with self.subTest(dtype=dtype):
                ref = perturbed(torch.nn.LayerNorm(self.D, dtype=dtype), torch.Generator().manual_seed(3))
                self.compare(nt.LayerNorm(self.D, dtype=dtype), ref, dtype)
                ref = torch.nn.LayerNorm(self.D, eps=1e-2, elementwise_affine=False, dtype=dtype)
                self.compare(nt.LayerNorm(self.D, eps=1e-2, elementwise_affine=False, dtype=dtype),
                             ref, dtype)

    def test_rmsnorm(self):
        reference = "torch.nn.RMSNorm" if hasattr(torch.nn, "RMSNorm") else "a hand-written RMSNorm"
        print(f"\nRMSNorm compared with {reference} (torch {torch.__version__})", file=sys.stderr)
        for dtype in (torch.float32, torch.float64):
            for eps in (None, 1e-6):  # None: machine epsilon of dtype on both sides
                with self.subTest(dtype=dtype, eps=eps):
                    ref = perturbed(torch_rmsnorm(self.D, eps, dtype), torch.Generator().manual_seed(4))
                    self.compare(nt.RMSNorm(self.D, eps=eps, dtype=dtype), ref, dtype)

    def test_rmsnorm_eps_none_is_the_dtypes_epsilon(self):
        # At x = 0 the output is 0 / sqrt(eps): a test that would pass with any eps needs x != 0,
        # so take rows of tiny values where eps dominates the mean square.
        x = torch.full((1, 4), 1e-5, dtype=torch.float64)
        for dtype in (torch.float32, torch.float64):
            y = nt.RMSNorm(4, dtype=dtype)(x.to(dtype))
            expected = 1e-5 / np.sqrt(1e-10 + float(torch.finfo(dtype).eps))
            self.assertAlmostEqual(float(y[0, 0]) / expected, 1.0, places=5)

    def test_dyt(self):
        for dtype in (torch.float32, torch.float64):
            with self.subTest(dtype=dtype):
                ref = perturbed(HandDyT(self.D, dtype=dtype), torch.Generator().manual_seed(5))
                self.compare(nt.DyT(self.D, dtype=dtype), ref, dtype)

    def test_module_equals_function_and_numpy(self):
        module = perturbed(nt.PCNorm(self.D, dtype=torch.float64), torch.Generator().manual_seed(6))
        x = torch.randn(5, self.D, dtype=torch.float64)
        y = module(x)
        y_numpy, _ = module.normalizer.forward(x.numpy(), gain=module.weight.detach().numpy())
        self.assertTrue(np.array_equal(y.detach().numpy(), y_numpy))
        x_t = torch.randn(self.D, 5, dtype=torch.float64).t()  # not contiguous
        self.assertTrue(torch.equal(module(x_t), module(x_t.contiguous())))
        self.assertEqual(tuple(module(torch.zeros(0, self.D, dtype=torch.float64)).shape), (0, self.D))


def tiny_model(norm, dtype):
    torch.manual_seed(7)  # the same Linear weights for both models
    return torch.nn.Sequential(torch.nn.Linear(6, 8, dtype=dtype), norm, torch.nn.Linear(8, 3, dtype=dtype))


class DropInTest(unittest.TestCase):
    def test_trains_as_torchs(self):
        """Linear -> RMSNorm -> Linear, 5 SGD steps: every parameter as with torch's RMSNorm."""
        dtype = torch.float64
        ours = tiny_model(nt.RMSNorm(8, dtype=dtype), dtype)
        ref = tiny_model(torch_rmsnorm(8, None, dtype), dtype)
        ref.load_state_dict(ours.state_dict())
        generator = torch.Generator().manual_seed(8)
        x = torch.randn(16, 6, generator=generator, dtype=dtype)
        target = torch.randn(16, 3, generator=generator, dtype=dtype)
        optimizers = [torch.optim.SGD(m.parameters(), lr=0.5) for m in (ours, ref)]
        for step in range(5):
            losses = []
            for model, optimizer in zip((ours, ref), optimizers):
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), target)
                loss.backward()
                optimizer.step()
                losses.append(float(loss))
            # float64 on both sides; 5 steps compound rounding of ~1e-16 per operation.
            self.assertAlmostEqual(losses[0], losses[1], delta=1e-12 * losses[1], msg=f"step {step}")
        self.assertLess(losses[0], float(torch.nn.functional.mse_loss(tiny_model(
            nt.RMSNorm(8, dtype=dtype), dtype)(x), target)))  # it did train
        for (name, p), p_ref in zip(ours.named_parameters(), ref.parameters()):
            assert_close(self, name, p, p_ref, 5 * 16 * 8)

    def test_state_dict_keys_as_torchs(self):
        pairs = [(nt.LayerNorm(8), torch.nn.LayerNorm(8)),
                 (nt.LayerNorm(8, elementwise_affine=False), torch.nn.LayerNorm(8, elementwise_affine=False)),
                 (nt.RMSNorm(8), torch_rmsnorm(8, None, None)),
                 (nt.DyT(8), HandDyT(8))]
        if "bias" in inspect.signature(torch.nn.LayerNorm).parameters:  # torch >= 2.1
            pairs.append((nt.LayerNorm(8, bias=False), torch.nn.LayerNorm(8, bias=False)))
        if hasattr(torch.nn, "RMSNorm"):
            pairs.append((nt.RMSNorm(8, elementwise_affine=False), torch.nn.RMSNorm(8, elementwise_affine=False)))
        for ours, ref in pairs:
            with self.subTest(module=repr(ours)):
                self.assertEqual(sorted(ours.state_dict()), sorted(ref.state_dict()))
                perturbed(ref, torch.Generator().manual_seed(9))
                ours.load_state_dict(ref.state_dict())
                ref.load_state_dict(nt.Norm(ours.kind, 8, **ours.normalizer.options).state_dict())
                for key, value in ours.state_dict().items():
                    self.assertFalse(torch.equal(value, ref.state_dict()[key]), key)

    def test_copy_and_save(self):
        module = perturbed(nt.PCNorm(8, learn_lambda=True, eps_mode="outside", dtype=torch.float64),
                           torch.Generator().manual_seed(10))
        buffer = io.BytesIO()
        torch.save(module, buffer)
        buffer.seek(0)
        x = torch.randn(3, 8, dtype=torch.float64)
        for copied in (copy.deepcopy(module), torch.load(buffer, weights_only=False)):
            self.assertEqual(copied.normalizer.describe(), module.normalizer.describe())
            self.assertTrue(torch.equal(copied(x), module(x)))


class EmulatedTest(unittest.TestCase):
    def test_bfloat16_storage_is_the_extensions(self):
        D = 32
        module = perturbed(nt.RMSNorm(D, storage="bfloat16"), torch.Generator().manual_seed(11))
        x = torch.randn(4, D, dtype=torch.float32) * 3
        dy = torch.randn(4, D, dtype=torch.float32)
        y, dx, grads = gradients(module, x, dy)
        normalizer = normlab.Normalizer("rmsnorm", eps="auto", storage="bfloat16")
        gain = module.weight.detach().numpy()
        y_np, cache = normalizer.forward(x.numpy(), gain=gain)
        dx_np, grads_np = normalizer.backward(dy.numpy(), x.numpy(), cache, gain=gain)
        self.assertTrue(np.array_equal(y.numpy(), y_np))
        self.assertTrue(np.array_equal(dx.numpy(), dx_np))
        self.assertTrue(np.array_equal(grads["weight"].numpy(), grads_np["gain"]))
        native = nt.RMSNorm(D)
        native.load_state_dict(module.state_dict())
        y32, dx32, _ = gradients(native, x, dy)
        self.assertFalse(torch.equal(y, y32), "storage=bfloat16 gave the float32 output")
        self.assertFalse(torch.equal(dx, dx32), "storage=bfloat16 gave the float32 dx")
        # bfloat16 keeps 8 significant bits: y is rounded, not some other function.
        self.assertLess(float((y - y32).abs().max()), 2 ** -7 * float(y32.abs().max()) * 4)


class BadInputTest(unittest.TestCase):
    def test_device(self):
        with self.assertRaisesRegex(ValueError, r"device='meta'.*CPU only"):
            nt.RMSNorm(8, device="meta")
        with self.assertRaisesRegex(ValueError, r"x is on device 'meta'.*CPU only.*\.cpu\(\)"):
            nt.RMSNorm(8)(torch.empty(2, 8, device="meta"))

    def test_dtype(self):
        with self.assertRaisesRegex(TypeError, r"torch\.float16.*float32 or float64.*storage=\"bfloat16\""):
            nt.RMSNorm(8)(torch.randn(2, 8).half())
        with self.assertRaisesRegex(TypeError, r"'gain' is torch\.float32 but x is torch\.float64.*module\.to"):
            nt.RMSNorm(8)(torch.randn(2, 8, dtype=torch.float64))

    def test_option_names(self):
        with self.assertRaisesRegex(normlab.NormlabError, r"unknown option 'epss' \(did you mean 'eps'\?\)"):
            nt.Norm("rmsnorm", 8, epss=1e-3)
        with self.assertRaisesRegex(normlab.NormlabError, r"'lambda' does not apply to rmsnorm"):
            nt.RMSNorm(8, lambda_=0.5)
        with self.assertRaisesRegex(normlab.NormlabError, "rmsnorm"):
            nt.Norm("rmsnrom", 8)
        with self.assertRaisesRegex(TypeError, "give elementwise_affine, not the normlab option gain="):
            nt.RMSNorm(8, gain=False)

    def test_shapes(self):
        with self.assertRaisesRegex(ValueError, r"x has shape \(2, 5\), with 5 features.*normalized_shape=\(8,\)"):
            nt.LayerNorm(8)(torch.randn(2, 5))
        with self.assertRaisesRegex(ValueError, r"normalized_shape=\(4, 5\) normalizes over 2 axes.*last axis only"):
            nt.LayerNorm((4, 5))
        with self.assertRaisesRegex(TypeError, "normalized_shape=4.0"):
            nt.LayerNorm(4.0)
        with self.assertRaisesRegex(ValueError, r"x is a scalar"):
            nt.LayerNorm(1)(torch.tensor(2.0))
        self.assertEqual(nt.LayerNorm(np.int64(4)).normalized_shape, (4,))

    def test_without_torch(self):
        """import normlab.torch where torch does not import: an ImportError saying to install it."""
        code = "import sys; sys.modules['torch'] = None; import normlab.torch"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("ImportError: normlab.torch needs PyTorch", result.stderr)
        self.assertIn("python3-torch", result.stderr)


if __name__ == "__main__":
    unittest.main()
