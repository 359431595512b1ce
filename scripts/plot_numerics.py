"""Plot a `normlab numerics` file (docs/NUMERICS.md) into one figure with four panels: OUT.png
(200 dpi) and OUT.pdf beside it.

usage: /usr/bin/python3 scripts/plot_numerics.py NUMERICS.h5 OUT.png

(a) LayerNorm's variance algorithms and RMSNorm in float32 against the rows' mean/std;
(b) worst relative error of y by storage/accumulation for RMSNorm and LayerNorm, normal rows, vs D;
(c) Jacobian spectral norm vs the input RMS, numeric (markers) and closed form (lines);
(d) RMSNorm's weight gradient times delta under W -> delta W (1 under the 1/delta law).
"""
import sys
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PNG_DPI = 200
# Type sizes readable when the figure is shrunk to a page's width.
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "pdf.fonttype": 42}


def table(f, group):
    out = {}
    for name, ds in f[group].items():
        v = ds[()]
        if v.dtype.kind in "OS":
            v = np.array([s.decode() if isinstance(s, bytes) else s for s in v])
        out[name] = v
    return out


def capped(v, cap=10.0):
    """Non-finite errors are drawn at `cap` so they stay visible."""
    v = np.asarray(v, dtype=float)
    return np.where(np.isfinite(v), np.minimum(v, cap), cap)


def main(path, png):
    with plt.rc_context(STYLE):
        draw(path, png)


def draw(path, png):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") not in ("normlab-numerics", b"normlab-numerics"):
            sys.exit(f"{path}: not a normlab numerics file")
        c, k, s = table(f, "cases"), table(f, "conditioning"), table(f, "gradient_scaling")
    default_eps = {"rmsnorm": (1e-5, "inside"), "layernorm": (1e-5, "inside")}
    fig, ax = plt.subplots(2, 2, figsize=(12, 10.5))

    # (a) float32 vs offset ratio, worst over D
    a = ax[0, 0]
    fam = (c["family"] == "offset") | (c["family"] == "normal")
    for kind, variant, impl, label in [
        ("layernorm", "one_pass", "emulated", "LayerNorm one-pass (float32)"),
        ("layernorm", "two_pass", "emulated", "LayerNorm two-pass (float32)"),
        ("layernorm", "welford", "emulated", "LayerNorm Welford (float32)"),
        ("rmsnorm", "default", "emulated", "RMSNorm (float32)"),
        ("layernorm", "one_pass", "normlab", "LayerNorm one-pass (normlab float32, double sums)"),
    ]:
        eps, mode = default_eps[kind]
        m = (fam & (c["kind"] == kind) & (c["variant"] == variant) & (c["implementation"] == impl)
             & (c["storage"] == "float32") & (c["eps"] == eps) & (c["eps_mode"] == mode))
        ratios = sorted(set(c["offset_ratio"][m]))
        worst = [capped(c["y_max_rel"][m & (c["offset_ratio"] == r)]).max() for r in ratios]
        a.plot([max(r, 1.0) for r in ratios], worst, "o-", label=label)
    a.set(xscale="log", yscale="log", xlabel="mean/std of the rows (0 drawn at 1)",
          ylabel="max relative error of y (worst D; ≥10 drawn at 10)",
          title="(a) cancellation in float32")
    a.legend()

    # (b) storage/accumulation vs D, normal rows
    b = ax[0, 1]
    for kind, variant, style in [("rmsnorm", "default", "-"), ("layernorm", "two_pass", "--")]:
        eps, mode = default_eps[kind]
        base = ((c["kind"] == kind) & (c["variant"] == variant) & (c["family"] == "normal")
                & (c["eps"] == eps) & (c["eps_mode"] == mode))
        pairs = sorted(set(zip(c["implementation"][base], c["storage"][base], c["accumulation"][base])))
        for impl, st, acc in pairs:
            m = base & (c["implementation"] == impl) & (c["storage"] == st) & (c["accumulation"] == acc)
            order = np.argsort(c["D"][m])
            b.plot(c["D"][m][order], capped(c["y_max_rel"][m][order]), style, marker=".",
                   label=f"{kind}, {impl}, {st}/{acc}")
    b.set(xscale="log", yscale="log", xlabel="row length D (features)", ylabel="max relative error of y",
          title="(b) precision vs D, standard normal rows")
    b.legend(fontsize=7, ncol=2, title="kind, implementation, storage/accumulation", title_fontsize=7,
             loc="upper center", bbox_to_anchor=(0.5, -0.14))

    # (c) spectral norm vs RMS
    cc = ax[1, 0]
    Dmax = k["D"].max()
    for kind in sorted(set(k["kind"])):
        m = (k["kind"] == kind) & (k["D"] == Dmax) & (k["mean"] == 0)
        order = np.argsort(k["rms"][m])
        line = cc.plot(k["rms"][m][order], k["sigma_max"][m][order], "o", label=f"{kind} numeric")
        if np.isfinite(k["closed_sigma_max"][m]).any():
            cc.plot(k["rms"][m][order], k["closed_sigma_max"][m][order], "-",
                    color=line[0].get_color(), label=f"{kind} closed form")
    cc.set(xscale="log", yscale="log", xlabel="RMS of the input row (mean 0)",
           ylabel="spectral norm of dy/dx (1/units of x)", title=f"(c) Jacobian spectral norm, D = {Dmax}")
    cc.legend()

    # (d) 1/delta gradient scaling
    d = ax[1, 1]
    d.plot(s["delta"], s["scaled"], "o-")
    d.axhline(1.0, color="gray", lw=0.8)
    d.set(xscale="log", xlabel="weight scale δ (W → δW)",
          ylabel="δ ‖dL/dW(δ)‖ / ‖dL/dW(1)‖ (1: the 1/δ law)",
          title="(d) RMSNorm: gradients scale as 1/δ (until mean(h²) ~ eps)")
    fig.tight_layout()
    fig.savefig(png, dpi=PNG_DPI)
    fig.savefig(Path(png).with_suffix(".pdf"))
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
