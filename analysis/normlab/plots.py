"""A sweep directory's plots as PNG files (matplotlib, Agg):

  loss_step.png      training loss (smoothed) and validation loss against the step, one line per
                     row of the table (the sweep's axes but seed), the mean over seeds with a band
                     from the lowest to the highest seed;
  loss_time.png      the same against wall time (the cumulative step_time, the seeds' mean);
  stat_<NAME>.png    per-site statistics (default in_rms) over training, one panel per row,
                     one line per site (mean over seeds);
  sensitivity.png    gain, offset and control sensitivity per site and normalizer, only when
                     `normlab analyze sensitivity` files (*.sensitivity.h5) lie in the directory.

    /usr/bin/python3 -m normlab.plots SWEEP_DIR [--out DIR] [--stat NAME[,NAME]] [--sites A,B]
    normlab plot SWEEP_DIR ...          (the same, through the normlab binary)
"""

import argparse
import sys
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import schema as S  # noqa: E402
from .frames import load_runs  # noqa: E402


def row_keys(sweep_dir, runs):
    """The manifest's axes but seed; without a manifest, the config keys that vary but seed."""
    manifest = Path(sweep_dir) / "manifest.toml"
    if manifest.exists():
        keys = tomllib.loads(manifest.read_text()).get("axes", [])
    else:
        from .frames import varying_keys
        keys = varying_keys(runs)
    keys = [k for k in keys if k not in ("seed", "name")]
    return keys or ["model.norm"]


def in_sweep_order(sweep_dir, runs):
    """The runs in the sweep's expansion order (manifest.toml), so lines come in the table's order."""
    manifest = Path(sweep_dir) / "manifest.toml"
    listed = tomllib.loads(manifest.read_text()).get("runs", []) if manifest.exists() else []
    position = {run_id: i for i, run_id in enumerate(listed)}
    return sorted(runs, key=lambda r: position.get(r.run_id, len(listed)))


def label_of(run, keys):
    return ", ".join(str(run.flat_config.get(k)) for k in keys)


def group_runs(runs, keys):
    """{label: [runs]} in the order the runs come."""
    groups = {}
    for run in runs:
        groups.setdefault(label_of(run, keys), []).append(run)
    return groups


def _band(frames, column):
    """Mean, min and max over runs of `column`, aligned on the index (steps)."""
    wide = pd.concat([f[column].rename(i) for i, f in enumerate(frames)], axis=1)
    return wide.mean(axis=1), wide.min(axis=1), wide.max(axis=1)


def _smooth(series, window):
    return series.rolling(window, min_periods=1).mean() if window > 1 else series


def plot_losses(groups, out, against, smooth):
    """loss_step.png or loss_time.png: train loss and val loss per group."""
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, runs in groups.items():
        steps = [run.steps() for run in runs]
        evals = [run.evals() for run in runs]
        for s in steps:
            s[S.SERIES_TRAIN_LOSS] = _smooth(s[S.SERIES_TRAIN_LOSS], smooth)
            s["wall"] = s[S.SERIES_STEP_TIME].cumsum()
        mean, low, high = _band(steps, S.SERIES_TRAIN_LOSS)
        val_mean, val_low, val_high = _band(evals, S.SERIES_VAL_LOSS)
        if against == "time":
            wall = _band(steps, "wall")[0]
            x_train = wall.reindex(mean.index).to_numpy()
            x_val = wall.reindex(val_mean.index, method="nearest").to_numpy()
        else:
            x_train, x_val = mean.index.to_numpy(), val_mean.index.to_numpy()
        line, = ax_train.plot(x_train, mean.to_numpy(), label=f"{label} ({len(runs)})")
        ax_train.fill_between(x_train, low.to_numpy(), high.to_numpy(), color=line.get_color(), alpha=0.2)
        ax_val.plot(x_val, val_mean.to_numpy(), marker=".", color=line.get_color(), label=label)
        ax_val.fill_between(x_val, val_low.to_numpy(), val_high.to_numpy(), color=line.get_color(), alpha=0.2)
    xlabel = "wall time (s, cumulative step time)" if against == "time" else "step"
    ax_train.set(xlabel=xlabel, ylabel="train loss" + (f" (mean of {smooth} steps)" if smooth > 1 else ""),
                 title="training loss (mean over seeds, min-max band)")
    ax_val.set(xlabel=xlabel, ylabel="validation loss", title="validation loss")
    ax_train.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out) / f"loss_{against}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_stat(groups, out, stat, sites=None):
    """stat_<stat>.png: one panel per group, one line per site, mean over seeds."""
    n = len(groups)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    drawn = 0
    for ax, (label, runs) in zip(axes.flat, groups.items()):
        frames = [run.stat(stat) for run in runs if stat in run.statistics]
        if not frames:
            ax.set_title(f"{label}: no {stat}", fontsize=8)
            continue
        mean = sum(f.reindex(frames[0].index) for f in frames) / len(frames)
        chosen = [s for s in mean.columns if sites is None or s in sites]
        for site in chosen:
            ax.plot(mean.index, mean[site].to_numpy(), label=site, linewidth=1)
        values = mean[chosen].to_numpy()
        if values.size and np.all(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("step")
        ax.set_ylabel(stat)
        if len(chosen) <= 16:
            ax.legend(fontsize=5, ncol=2)
        drawn += 1
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{stat} per site over training (mean over seeds)")
    fig.tight_layout()
    path = Path(out) / f"stat_{stat}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path if drawn else None


SENSITIVITY_DIRECTIONS = ("gain", "offset", "control")


def _read_sensitivity(path):
    """(norm, sites, {direction: values}) from a `normlab analyze sensitivity` file
    (docs/ANALYSIS.md: group /sensitivity, datasets <direction>_sensitivity over `site`); None for
    a file of another format."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "normlab-sensitivity":
            return None
        g = f["sensitivity"]
        sites = [str(x) for x in g["site"].asstr()[()]]
        values = {d: np.asarray(g[f"{d}_sensitivity"][()], dtype=float)
                  for d in SENSITIVITY_DIRECTIONS}
        return str(g.attrs.get("norm", "?")), sites, values


def plot_sensitivity(sweep_dir, out):
    """sensitivity.png: one panel per normalizer, bars per site (forward order) of the gain, offset
    and control sensitivity at the reference epsilon, the mean over the runs of that normalizer
    with their min-max as error bars; from every *.sensitivity.h5 under the directory. None when
    there is none."""
    by_norm = {}
    for path in sorted(Path(sweep_dir).rglob("*.sensitivity.h5")):
        try:
            found = _read_sensitivity(path)
        except (OSError, KeyError) as e:
            print(f"sensitivity: skipped {path}: {e}", file=sys.stderr)
            continue
        if found is None:
            print(f"sensitivity: skipped {path}: not a normlab-sensitivity file", file=sys.stderr)
            continue
        norm, sites, values = found
        by_norm.setdefault(norm, []).append((sites, values))
    if not by_norm:
        return None
    norms = sorted(by_norm)
    fig, axes = plt.subplots(len(norms), 1, figsize=(9, 2.6 * len(norms)), squeeze=False)
    width = 0.27
    for ax, norm in zip(axes[:, 0], norms):
        runs = [r for r in by_norm[norm] if r[0] == by_norm[norm][0][0]]  # same sites only
        sites = runs[0][0]
        x = np.arange(len(sites))
        for k, d in enumerate(SENSITIVITY_DIRECTIONS):
            v = np.stack([r[1][d] for r in runs])
            mean = v.mean(axis=0)
            err = np.stack([mean - v.min(axis=0), v.max(axis=0) - mean])
            ax.bar(x + (k - 1) * width, mean, width, yerr=err, capsize=2, label=d)
        ax.set_xticks(x, sites, rotation=30, ha="right", fontsize=6)
        ax.set_ylabel("|dL| (nats)")
        ax.set_title(f"{norm} ({len(runs)} run{'s' if len(runs) != 1 else ''})", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("sensitivity per site at the reference epsilon (mean, min-max over runs)")
    fig.tight_layout()
    path = Path(out) / "sensitivity.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def make_plots(sweep_dir, out=None, stats=("in_rms",), sites=None, smooth=10):
    """Writes every plot of a sweep directory into `out` (default SWEEP_DIR/plots), one stat_*.png
    per statistic in `stats`, and returns their paths."""
    sweep_dir = Path(sweep_dir)
    runs_dir = sweep_dir / "runs"
    if not runs_dir.is_dir():
        raise NotADirectoryError(f"{sweep_dir}: not a sweep directory (no runs/)")
    out = Path(out) if out else sweep_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    with load_runs(runs_dir, skip_unreadable=True) as runs:
        runs = [r for r in runs if r.steps_done > 0]
        if not runs:
            raise ValueError(f"{sweep_dir}: no run with any step in runs/")
        known = sorted({s for r in runs for s in r.statistics})
        for stat in stats:
            if stat not in known:
                raise ValueError(f"--stat: no statistic {stat!r} in the runs; they have {', '.join(known)}")
        groups = group_runs(in_sweep_order(sweep_dir, runs), row_keys(sweep_dir, runs))
        written = [plot_losses(groups, out, "step", smooth), plot_losses(groups, out, "time", smooth)]
        written += [plot_stat(groups, out, stat, sites) for stat in stats]
    written.append(plot_sensitivity(sweep_dir, out))
    return [p for p in written if p is not None]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="normlab plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", help="directory of the PNGs (default SWEEP_DIR/plots)")
    parser.add_argument("--stat", default="in_rms",
                        help="per-site statistics, comma-separated (default in_rms), e.g. in_rms,in_mean_share")
    parser.add_argument("--sites", help="only these sites, comma-separated (default: all)")
    parser.add_argument("--smooth", type=int, default=10, help="train-loss moving average, steps")
    args = parser.parse_args(argv)
    try:
        paths = make_plots(args.sweep_dir, args.out, args.stat.split(","),
                           set(args.sites.split(",")) if args.sites else None, args.smooth)
    except (OSError, ValueError) as e:
        print(f"normlab plot: error: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(f"plot -> {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
