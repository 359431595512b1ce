"""normlab.torch: normlab's normalizers as PyTorch modules, on CPU tensors.

`NormFunction` is a torch.autograd.Function whose forward and backward are the extension's
(normlab._core, python/module.cpp) on numpy views of the tensors; `Norm(kind, D, **options)` is an
nn.Module around it for any kind, and `RMSNorm`, `LayerNorm` take torch.nn's constructor arguments
and defaults, so that `normlab.torch.RMSNorm(d)` replaces `torch.nn.RMSNorm(d)` in a model (same
state_dict keys). `ScaleNorm`, `PRMSNorm`, `L2Norm`, `CenterNorm`, `PCNorm` and `DyT` are one class
per other kind with normlab's defaults (`normlab norms`). Every normlab option passes through as a
keyword (eps_mode="outside", storage="bfloat16", zero_centered_gain=True, ...).

Parameters are named as torch's modules name them: normlab's gain is `weight`, bias `bias`, and the
scalars are `lambda_` (pcnorm with learn_lambda=True) and `alpha` (dyt, as the DyT paper's module).

Limits: CPU only; float32 and float64 tensors (bfloat16 and float16 are emulated on float32 tensors
with storage="bfloat16" / "float16"); normalization over the last axis only; backward is
once_differentiable, so a second derivative (double backward, gradgradcheck, Hessian-vector
products) raises. The computation runs on normlab's own threads (normlab.set_threads, default 1).
"""

import numbers

try:
    import torch  # the real torch: absolute imports, this module is normlab.torch
except ImportError as _missing:
    raise ImportError(
        f"normlab.torch needs PyTorch, which does not import here ({_missing}). Install it (Debian: "
        "apt install python3-torch; else pip install torch); the rest of normlab works without it"
    ) from _missing

from torch import nn
from torch.autograd.function import once_differentiable

try:
    from ._core import Normalizer, NormlabError
except ImportError as _missing:
    raise ImportError(
        f"normlab.torch needs the extension module normlab._core ({_missing}). Build it (cmake "
        "--build build) and put build/python on the path instead of analysis/, or pip install the "
        "repository (README, Python)") from _missing

__all__ = ["NormFunction", "Norm", "RMSNorm", "LayerNorm", "ScaleNorm", "PRMSNorm", "L2Norm",
           "CenterNorm", "PCNorm", "DyT", "TORCH_NAMES", "NormlabError"]

# normlab's parameter name -> the module's attribute (and state_dict key).
TORCH_NAMES = {"gain": "weight", "bias": "bias", "lambda": "lambda_", "alpha": "alpha"}

_DTYPES = (torch.float32, torch.float64)


def _check_tensor(name, t):
    """A CPU float32/float64 tensor, or an error saying what normlab.torch takes instead."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} is a {type(t).__name__}, not a torch.Tensor")
    if t.device.type != "cpu":
        raise ValueError(f"{name} is on device '{t.device}', but normlab.torch runs on the CPU only "
                         "(the extension computes on numpy arrays): move it with .cpu()")
    if t.dtype not in _DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; normlab.torch takes float32 or float64 tensors. "
                        "bfloat16 and float16 are emulated on float32 tensors: give x.float() to a "
                        "module made with storage=\"bfloat16\" (or \"float16\")")


def _array(t):
    """t as a C-contiguous numpy array, sharing t's memory where t already is contiguous."""
    return t.detach().contiguous().numpy()


class NormFunction(torch.autograd.Function):
    """y = normalizer(x) over x's last axis, forward and backward by the extension.

    NormFunction.apply(normalizer, x, *params): `normalizer` a normlab.Normalizer, x a CPU tensor
    of any rank >= 1, params one tensor per normalizer.param_specs(D) entry, in that order and in
    x's dtype. The forward's per-row statistics (its cache) are kept for the backward, which
    returns dx and the gradient of every parameter that needs one. Once differentiable: a second
    derivative raises.
    """

    @staticmethod
    def forward(ctx, normalizer, x, *params):
        _check_tensor("x", x)
        if x.dim() == 0:
            raise ValueError("x is a scalar (shape ()); normlab normalizes over the last axis of an "
                             "array of rank >= 1")
        names = [spec["name"] for spec in normalizer.param_specs(x.shape[-1])]
        if len(params) != len(names):
            raise TypeError(f"{normalizer.describe()} takes {len(names)} parameters ({', '.join(names)}"
                            f"), not {len(params)}")
        for name, p in zip(names, params):
            _check_tensor(f"parameter '{name}'", p)
            if p.dtype != x.dtype:
                raise TypeError(f"parameter '{name}' is {p.dtype} but x is {x.dtype}: convert the "
                                "module (module.to(x.dtype)) or x")
        y, cache = normalizer.forward(_array(x), {n: _array(p) for n, p in zip(names, params)})
        ctx.normalizer, ctx.names, ctx.cache = normalizer, names, cache
        ctx.save_for_backward(x, *params)
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, *params = ctx.saved_tensors
        dx, grads = ctx.normalizer.backward(_array(dy), _array(x), ctx.cache,
                                            {n: _array(p) for n, p in zip(ctx.names, params)})
        wanted = ctx.needs_input_grad  # (normalizer, x, *params)
        param_grads = [torch.from_numpy(grads[n]) if wanted[2 + i] else None
                       for i, n in enumerate(ctx.names)]
        return (None, torch.from_numpy(dx) if wanted[1] else None, *param_grads)


def _features(normalized_shape):
    """D from torch's normalized_shape (an int, or a sequence of one int)."""
    def integral(d):
        return isinstance(d, numbers.Integral) and not isinstance(d, bool)

    shape = (normalized_shape,) if integral(normalized_shape) else normalized_shape
    if not isinstance(shape, (tuple, list, torch.Size)) or not all(integral(d) for d in shape):
        raise TypeError(f"normalized_shape={normalized_shape!r}: give the feature count D as an int "
                        "(or a tuple of one int)")
    if len(shape) != 1:
        raise ValueError(f"normalized_shape={tuple(shape)} normalizes over {len(shape)} axes, but "
                         "normlab normalizes over the last axis only: flatten the axes first "
                         "(x.flatten(-k)) and give their product as normalized_shape")
    if shape[0] < 1:
        raise ValueError(f"normalized_shape={tuple(shape)}: the feature count must be >= 1")
    return int(shape[0])


class Norm(nn.Module):
    """normlab's normalizer `kind` over the last axis of D = normalized_shape features.

    Norm("rmsnorm", 512, eps=1e-6, eps_mode="outside"): the options are normlab's (`normlab
    norms`; lambda as lambda_), unknown or inapplicable ones raise NormlabError naming the nearest.
    The learned parameters are nn.Parameters named by TORCH_NAMES (gain -> weight), initialised as
    normlab initialises them; an absent gain or bias is a `weight` / `bias` attribute of None, as in
    torch's modules. dtype as torch's modules (default torch.get_default_dtype()); device must be
    the CPU.
    """

    def __init__(self, kind, normalized_shape, *, device=None, dtype=None, **options):
        super().__init__()
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(f"device='{device}': normlab.torch runs on the CPU only (the extension "
                             "computes on numpy arrays); give device=None or 'cpu'")
        self.normalized_shape = (_features(normalized_shape),)
        self.normalizer = Normalizer(kind, **options)
        self._specs = self.normalizer.param_specs(self.normalized_shape[0])
        for spec in self._specs:
            values = torch.empty(spec["size"], device=device, dtype=dtype)
            self.register_parameter(self._torch_name(spec["name"]), nn.Parameter(values))
        for name in ("weight", "bias"):
            if name not in self._parameters:
                self.register_parameter(name, None)
        self.reset_parameters()

    @staticmethod
    def _torch_name(name):
        return TORCH_NAMES.get(name, name)

    @property
    def kind(self):
        return self.normalizer.kind

    def reset_parameters(self):
        """Every parameter to normlab's initial value (gain 1, or sqrt(D) for ScaleNorm; bias 0)."""
        with torch.no_grad():
            for spec in self._specs:
                getattr(self, self._torch_name(spec["name"])).fill_(spec["init"])

    def forward(self, x):
        D = self.normalized_shape[0]
        if isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[-1] != D:
            raise ValueError(f"x has shape {tuple(x.shape)}, with {x.shape[-1]} "
                             f"features in its last axis, but this {type(self).__name__} normalizes "
                             f"over normalized_shape=({D},): give x of shape (*, {D})")
        params = [getattr(self, self._torch_name(spec["name"])) for spec in self._specs]
        return NormFunction.apply(self.normalizer, x, *params)

    def extra_repr(self):
        return f"{self.normalized_shape}, {self.normalizer.describe()}"

    # The extension's Normalizer does not pickle: keep its kind and options instead, so that
    # copy.deepcopy(model) and torch.save(model) work.
    def __getstate__(self):
        state = self.__dict__.copy()
        normalizer = state.pop("normalizer")
        state["_normalizer_args"] = (normalizer.kind, dict(normalizer.options))
        return state

    def __setstate__(self, state):
        kind, options = state.pop("_normalizer_args")
        super().__setstate__(state)
        self.normalizer = Normalizer(kind, **options)


def _no_clash(module, options, names, instead):
    """Options that a drop-in class sets from its torch-style arguments cannot be given too."""
    for name in names:
        if name in options:
            raise TypeError(f"{module}: give {instead}, not the normlab option {name}=")


class RMSNorm(Norm):
    """torch.nn.RMSNorm's signature and defaults: y = w * x / sqrt(mean(x^2) + eps).

    eps=None is the machine epsilon of x's dtype (normlab's eps="auto"), as torch's;
    elementwise_affine=False is normlab's gain=False. Other normlab options (eps_mode, bias,
    zero_centered_gain, storage, accumulate) pass through.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None,
                 **options):
        _no_clash("RMSNorm", options, ("gain",), "elementwise_affine")
        super().__init__("rmsnorm", normalized_shape, device=device, dtype=dtype,
                         eps="auto" if eps is None else eps, gain=bool(elementwise_affine), **options)
        self.eps, self.elementwise_affine = eps, elementwise_affine


class LayerNorm(Norm):
    """torch.nn.LayerNorm's signature and defaults: y = w * (x - mean) / sqrt(var + eps) + b.

    eps = 1e-5 inside the root, biased variance; elementwise_affine=False means neither weight nor
    bias (as torch), bias=False no bias. Other normlab options (eps_mode, variance,
    zero_centered_gain, storage, accumulate) pass through.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
                 dtype=None, **options):
        _no_clash("LayerNorm", options, ("gain",), "elementwise_affine")
        affine = bool(elementwise_affine)
        super().__init__("layernorm", normalized_shape, device=device, dtype=dtype, eps=eps,
                         gain=affine, bias=affine and bool(bias), **options)
        self.eps, self.elementwise_affine = eps, elementwise_affine


class _KindNorm(Norm):
    """A class per kind: (normalized_shape, device=None, dtype=None, **options), normlab's defaults."""

    KIND = None

    def __init__(self, normalized_shape, *, device=None, dtype=None, **options):
        super().__init__(self.KIND, normalized_shape, device=device, dtype=dtype, **options)


class ScaleNorm(_KindNorm):
    """y = g * x / max(||x||, eps), one scalar gain `weight` = sqrt(D) at init (Nguyen & Salazar 2019)."""

    KIND = "scalenorm"


class PRMSNorm(_KindNorm):
    """y = w * x / sqrt(mean(x[:k]^2) + eps), k = ceil(p*D), p = 0.0625 (Zhang & Sennrich 2019)."""

    KIND = "prmsnorm"


class L2Norm(_KindNorm):
    """y = w * x / sqrt(sum(x^2) + eps) (the l2-norm variant of Zhang & Sennrich 2019)."""

    KIND = "l2norm"


class CenterNorm(_KindNorm):
    """y = w * (x - mean(x)) + b: LayerNorm without the division (normlab)."""

    KIND = "centernorm"


class PCNorm(_KindNorm):
    """y = w * z / sqrt(mean(z^2) + eps), z = x - lambda * mean(x), lambda = 0.5 (normlab).

    learn_lambda=True makes lambda a learned scalar parameter `lambda_`."""

    KIND = "pcnorm"


class DyT(_KindNorm):
    """y = w * tanh(alpha * x) + b, scalar `alpha` = alpha0 = 0.5 at init (Zhu et al. 2025, Dynamic
    Tanh): parameters alpha, weight, bias as the paper's DynamicTanh module names them."""

    KIND = "dyt"
