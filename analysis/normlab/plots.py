"""A sweep directory's figures, each as a PNG (200 dpi) and a PDF beside it (matplotlib, Agg):

  loss_step          training loss (smoothed) and validation loss (nats) against the step, one
                     line per row of the table (the sweep's axes but seed), the mean over the
                     seeds that did not fail with a band from the lowest to the highest; stuck
                     and diverged runs drawn one by one apart from it (failures.py), the task's
                     chance loss as a line;
  loss_time          the same against wall time (the cumulative step_time, the seeds' mean);
  stat_<NAME>        per-site statistics (default in_rms) over training, one panel per row, one
                     line per site (mean over the seeds that did not fail; stuck and diverged
                     runs' means apart); sites where the statistic is NaN throughout
                     (no such parameter) are left out, and a row with no such site gets no panel;
                     the panels share the y axis unless --no-sharey;
  loss_lr            with lr_sensitivity.md and .csv, for a sweep over the learning rate (--lr;
                     by default when optim.lr is an axis): final val loss against lr and the LR
                     sensitivity of Wortsman et al. 2023 per row (lr_sensitivity.py, lr_plot.py);
  sensitivity        gain, offset and control sensitivity per site and normalizer on a log axis,
                     at the files' reference epsilon, only when `normlab analyze sensitivity`
                     files (*.sensitivity.h5) lie in the directory.

    /usr/bin/python3 -m normlab.plots SWEEP_DIR [--out DIR] [--stat NAME[,NAME]] [--sites A,B]
                                      [--smooth N] [--no-sharey] [--lr KEY|none]
    normlab plot SWEEP_DIR ...          (the same, through the normlab binary)
"""

import argparse
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import failures, lr_plot, lr_sensitivity  # noqa: E402
from .rows import group_runs, in_sweep_order, label_of, row_keys, sweep_axes  # noqa: E402, F401
from . import schema as S  # noqa: E402
from .frames import load_runs  # noqa: E402

PNG_DPI = 200
VECTOR_FORMAT = "pdf"
# Layout, measured on the rendered figures: one line of an 8-point legend with its spacing; the
# longest label two legend columns fit in 11 inches; a stat panel's title line in 4.6 inches.
LEGEND_ROW_INCHES = 0.2
LEGEND_COLUMN_CHARS = 70
TITLE_CHARS = 60
# Failed runs reaching over this many times the band of the others cut the loss axis (below).
FAILED_TOP_RATIO = 2.0
# Type sizes readable when a figure is shrunk to a column's width.
STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.titlesize": 10, "pdf.fonttype": 42}

# The y-axis label of a statistic (docs/FORMAT.md, "Statistics"); others are labelled by name.
STAT_LABELS = {
    "in_mean": "mean of the site input x",
    "in_abs_mean_over_rms": "|mean| / RMS of the site input x",
    "in_rms": "RMS of the site input x",
    "in_std": "standard deviation of the site input x",
    "in_max_abs": "max |x| at the site input",
    "in_mean_share": "mean² / RMS² of the site input x",
    "out_rms": "RMS of the site output y",
    "grad_in_rms": "RMS of dL/dx (nats per unit of x)",
    "grad_out_rms": "RMS of dL/dy (nats per unit of y)",
    "lambda": "λ of partial centering",
    "update_ratio": "‖Δθ‖ / ‖θ‖ per update",
}


def save(fig, out, stem):
    """Writes OUT/STEM.png (PNG_DPI) and OUT/STEM.pdf and closes the figure; returns the PNG."""
    path = Path(out) / f"{stem}.png"
    with plt.rc_context(STYLE):  # pdf.fonttype is read when saving
        fig.savefig(path, dpi=PNG_DPI)
        fig.savefig(path.with_suffix("." + VECTOR_FORMAT))
    plt.close(fig)
    return path


def _band(frames, column):
    """Mean, min and max over runs of `column`, aligned on the index (steps)."""
    wide = pd.concat([f[column].rename(i) for i, f in enumerate(frames)], axis=1)
    return wide.mean(axis=1), wide.min(axis=1), wide.max(axis=1)


def _smooth(series, window):
    return series.rolling(window, min_periods=1).mean() if window > 1 else series


def _loss_lines(runs, against, smooth):
    """(x_train, train mean, low, high), (x_val, val mean, low, high) over the runs' seeds."""
    steps = [run.steps() for run in runs]
    evals = [run.evals() for run in runs]
    for s in steps:
        s[S.SERIES_TRAIN_LOSS] = _smooth(s[S.SERIES_TRAIN_LOSS], smooth)
        s["wall"] = s[S.SERIES_STEP_TIME].cumsum()
    train = _band(steps, S.SERIES_TRAIN_LOSS)
    val = _band(evals, S.SERIES_VAL_LOSS)
    if against == "time":
        wall = _band(steps, "wall")[0]
        x_train = wall.reindex(train[0].index).to_numpy()
        x_val = wall.reindex(val[0].index, method="nearest").to_numpy()
    else:
        x_train, x_val = train[0].index.to_numpy(), val[0].index.to_numpy()
    return ((x_train, *(v.to_numpy() for v in train)), (x_val, *(v.to_numpy() for v in val)))


def _group_colors(groups):
    """One color per group, from the style's cycle, also for a group that has no mean line."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {label: cycle[i % len(cycle)] for i, label in enumerate(groups)}


def _failed_loss_lines(ax_train, ax_val, status, runs, color, against, smooth):
    """Each failed run on its own, thin, in its group's color; a diverged run's cross where it
    stopped (its last finite loss)."""
    for run in runs:
        (x, mean, _, _), (xv, vmean, _, _) = _loss_lines([run], against, smooth)
        ax_train.plot(x, mean, color=color, **failures.LINE_STYLES[status])
        ax_val.plot(xv, vmean, color=color, **failures.LINE_STYLES[status])
        if status == S.STATUS_DIVERGED:
            failures.mark_stop(ax_train, x, mean, color)
            failures.mark_stop(ax_val, xv, vmean, color)


def _cut_failed_tops(axes, kept_top):
    """A diverging run can reach tens of nats and flatten every mean to the floor of the panel:
    when the data reach over FAILED_TOP_RATIO x the highest band of the runs that did not fail
    (or the chance loss), the shared y axis stops a little above that band. Returns the cut."""
    top = max(ax.dataLim.y1 for ax in axes)
    if not np.isfinite(kept_top) or top <= FAILED_TOP_RATIO * kept_top:
        return None
    cut = kept_top * 1.15
    bottom = min(ax.dataLim.y0 for ax in axes)
    axes[0].set_ylim(bottom - 0.05 * (cut - bottom), cut)
    return cut


def loss_figure(groups, against, smooth):
    """Train loss and val loss per group against the step or the wall time, the two panels
    sharing the loss axis; below them one legend naming the rows, their number of seeds and
    failures, then how failures and the chance loss are drawn. Stuck and diverged runs are drawn
    apart from the mean (failures.py says why), and the task's chance loss as a horizontal line
    when the runs carry it."""
    colors = _group_colors(groups)
    handles = [Line2D([], [], color=colors[label], label=f"{label} ({failures.outcome_text(runs)})")
               for label, runs in groups.items()]
    chance = failures.chance_losses([r for runs in groups.values() for r in runs])
    handles += failures.style_handles(failures.statuses_of(groups))
    entries = len(handles) + bool(chance)
    # Two columns only when one would be tall and two fit the figure's width.
    ncol = 2 if entries > 10 and max(len(h.get_label()) for h in handles) <= LEGEND_COLUMN_CHARS else 1
    rows = -(-entries // ncol)
    height = 4.4 + LEGEND_ROW_INCHES * rows
    with plt.rc_context(STYLE):
        fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, height), sharey=True)
        kept_top = list(chance)
        for label, runs in groups.items():
            kept, failed = failures.split_by_outcome(runs)
            color = colors[label]
            if kept:
                (x, mean, low, high), (xv, vmean, vlow, vhigh) = _loss_lines(kept, against, smooth)
                kept_top += [np.nanmax(high, initial=-np.inf), np.nanmax(vhigh, initial=-np.inf)]
                ax_train.plot(x, mean, color=color)
                ax_train.fill_between(x, low, high, color=color, alpha=0.2)
                ax_val.plot(xv, vmean, marker=".", color=color)
                ax_val.fill_between(xv, vlow, vhigh, color=color, alpha=0.2)
            for status, failed_runs in failed.items():
                _failed_loss_lines(ax_train, ax_val, status, failed_runs, color, against, smooth)
        chance_handle = failures.draw_chance(ax_train, chance)
        failures.draw_chance(ax_val, chance)
        handles += [chance_handle] if chance_handle else []
        xlabel = "wall time (s, cumulative step time)" if against == "time" else "training step"
        smoothed = f", moving mean of {smooth} steps" if smooth > 1 else ""
        ax_train.set(xlabel=xlabel, ylabel="loss (cross-entropy, nats)",
                     title=f"training loss (batch{smoothed})")
        ax_val.set(xlabel=xlabel, title="validation loss (held-out set)")
        ax_val.tick_params(labelleft=True)
        cut = _cut_failed_tops((ax_train, ax_val), max(kept_top, default=np.nan))
        fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False)
        fig.suptitle(failures.loss_caption(groups) + (f";\ny axis cut at {cut:.3g} nats: failed runs "
                                                      "above it leave the top edge" if cut else ""))
        fig.tight_layout(rect=(0, (LEGEND_ROW_INCHES * rows + 0.1) / height, 1, 1))
    return fig


def plot_losses(groups, out, against, smooth):
    """loss_step.png or loss_time.png (and .pdf)."""
    return save(loss_figure(groups, against, smooth), out, f"loss_{against}")


def _mean_stat(runs, stat):
    """The mean over runs of `stat`, wide by site, at every step any of them has (a diverged
    run's series ends early); None when no run has the statistic."""
    frames = [run.stat(stat) for run in runs if stat in run.statistics]
    if not frames:
        return None
    return pd.concat(frames).groupby(level=0).mean()


def _stat_means(groups, stat, sites):
    """{label: ({outcome: mean over its runs, wide by site}, runs)} with outcome "kept" for the
    runs that did not fail, then stuck and diverged (each mean apart, failures.py says why);
    only sites with a finite value, groups without any such site left out."""
    means = {}
    for label, runs in groups.items():
        kept, failed = failures.split_by_outcome(runs)
        parts = {"kept": _mean_stat(kept, stat), **{s: _mean_stat(rs, stat) for s, rs in failed.items()}}
        parts = {k: m for k, m in parts.items() if m is not None}
        columns = list(dict.fromkeys(c for m in parts.values() for c in m.columns))
        chosen = [c for c in columns if (sites is None or c in sites)
                  and any(c in m and m[c].notna().any() for m in parts.values())]
        if chosen:
            means[label] = ({k: m.reindex(columns=chosen) for k, m in parts.items()}, runs)
    return means


def _stat_panel(ax, parts):
    """One color per site: the mean of the runs that did not fail solid (labelled by site),
    stuck runs' mean dashed, diverged runs' mean dotted with a cross at its last value."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sites = next(iter(parts.values())).columns
    for i, site in enumerate(sites):
        color = cycle[i % len(cycle)]
        labelled = False
        for outcome, mean in parts.items():
            style = failures.LINE_STYLES.get(outcome, dict(linewidth=1))
            label = site if not labelled else None
            ax.plot(mean.index, mean[site].to_numpy(), color=color, label=label, **style)
            labelled = True
            if outcome == S.STATUS_DIVERGED:
                failures.mark_stop(ax, mean.index, mean[site].to_numpy(), color)


def _log_axis(ax, span):
    """A log y axis; under three decades, ticks at 1, 2 and 5 times each power of ten, written as
    plain numbers, since a decade or two would show one or two labels only."""
    ax.set_yscale("log")
    if span < 1e3:
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def stat_figure(groups, stat, sites=None, sharey=True):
    """One panel per group with a finite value of `stat` at one of `sites` (default all), one
    line per such site, mean over the seeds that did not fail (stuck and diverged runs' means
    drawn apart); None when no group has one. A log y axis when every value is positive and
    they span more than a decade."""
    means = _stat_means(groups, stat, sites)
    if not means:
        return None
    n = len(means)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    values = np.concatenate([m.to_numpy().ravel() for parts, _ in means.values() for m in parts.values()])
    values = values[np.isfinite(values)]
    log = values.size > 0 and values.min() > 0 and values.max() > 10 * values.min()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.7 * rows), squeeze=False,
                                 sharey=sharey)
        for ax, (label, (parts, runs)) in zip(axes.flat, means.items()):
            _stat_panel(ax, parts)
            if log:
                _log_axis(ax, values.max() / values.min())
            # Wrapped: a row of several keys is wider than its panel.
            ax.set_title(textwrap.fill(f"{label} ({failures.outcome_text(runs)})", TITLE_CHARS))
            ax.set_xlabel("training step")
            ax.set_ylabel(STAT_LABELS.get(stat, stat))
            ax.tick_params(labelleft=True)
            if len(next(iter(parts.values())).columns) <= 16:
                ax.legend(title="site", ncol=2, fontsize=7, title_fontsize=7)
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        failed = {o for parts, _ in means.values() for o in parts if o != "kept"}
        fig.suptitle(failures.stat_caption(stat, failed, sharey))
        fig.tight_layout()
    return fig


def plot_stat(groups, out, stat, sites=None, sharey=True):
    """stat_<stat>.png (and .pdf); None when no group has the statistic at any chosen site."""
    fig = stat_figure(groups, stat, sites, sharey)
    return save(fig, out, f"stat_{stat}") if fig is not None else None


SENSITIVITY_DIRECTIONS = ("gain", "offset", "control")
ROUNDING_FLOOR = 1e-12  # docs/ANALYSIS.md: |dL| below this times the base loss is float64 rounding


def _read_sensitivity(path):
    """(norm, sites, {direction: values}, reference epsilon, base loss) from a `normlab analyze
    sensitivity` file (docs/ANALYSIS.md: group /sensitivity, datasets <direction>_sensitivity over
    `site`); None for a file of another format."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "normlab-sensitivity":
            return None
        g = f["sensitivity"]
        sites = [str(x) for x in g["site"].asstr()[()]]
        values = {d: np.asarray(g[f"{d}_sensitivity"][()], dtype=float)
                  for d in SENSITIVITY_DIRECTIONS}
        return (str(g.attrs.get("norm", "?")), sites, values,
                float(g.attrs.get("reference_epsilon", np.nan)), float(g.attrs.get("base_loss", np.nan)))


def read_sensitivities(sweep_dir):
    """{norm: [(sites, values, epsilon, base loss)]} from every *.sensitivity.h5 under the
    directory; unreadable and foreign files are reported on stderr and passed over."""
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
        by_norm.setdefault(found[0], []).append(found[1:])
    return by_norm


def _epsilon_text(by_norm):
    epsilons = sorted({r[2] for runs in by_norm.values() for r in runs})
    return "ε = " + ", ".join(f"{e:g}" for e in epsilons)


def _sensitivity_panel(ax, runs, width=0.27):
    """Markers per site and direction at the mean over runs, min-max error bars; a value at or
    under the rounding floor is drawn on it as an open triangle."""
    sites = runs[0][0]
    x = np.arange(len(sites))
    floor = ROUNDING_FLOOR * np.mean([r[3] for r in runs])
    for k, d in enumerate(SENSITIVITY_DIRECTIONS):
        v = np.stack([r[1][d] for r in runs])
        shown = np.maximum(v.mean(axis=0), floor)
        low, high = np.maximum(v.min(axis=0), floor), np.maximum(v.max(axis=0), floor)
        at = x + (k - 1) * width
        drawn = ax.errorbar(at, shown, yerr=np.stack([shown - low, high - shown]), fmt="o",
                            markersize=4, capsize=2, label=d)
        under = shown <= floor
        ax.plot(at[under], shown[under], "v", markersize=6, mfc="white", color=drawn[0].get_color())
    ax.axhline(floor, color="gray", linestyle="--", linewidth=0.8,
               label="float64 rounding floor (1e-12 × base loss; values under it drawn on it, ▽)")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 5)
    ax.set_xticks(x, sites, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("|ΔL| (nats)")


def sensitivity_figure(by_norm, sharey=True):
    """One panel per normalizer, per site (forward order) the gain, offset and control
    sensitivity (mean over its runs with the same sites, min-max error bars) on a log axis, since
    they span decades (a normalized site's gain sensitivity sits near float64 rounding); the
    rounding floor (ROUNDING_FLOOR x the mean base loss) dashed."""
    norms = sorted(by_norm)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(norms), 1, figsize=(9, 2.9 * len(norms) + 1.0), squeeze=False,
                                 sharey=sharey)
        for ax, norm in zip(axes[:, 0], norms):
            runs = [r for r in by_norm[norm] if r[0] == by_norm[norm][0][0]]  # same sites only
            _sensitivity_panel(ax, runs)
            ax.set_title(f"model.norm={norm} (n = {len(runs)} run{'s' if len(runs) != 1 else ''})")
        axes[-1, 0].set_xlabel("site (forward order)")
        fig.suptitle(f"sensitivity per site: (|ΔL(+ε)| + |ΔL(−ε)|) / 2 at {_epsilon_text(by_norm)}, "
                     "mean and min-max over runs")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()))
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / fig.get_figheight()))
    return fig


def plot_sensitivity(sweep_dir, out, sharey=True):
    """sensitivity.png (and .pdf) from every *.sensitivity.h5 under the directory; None when
    there is none."""
    by_norm = read_sensitivities(sweep_dir)
    return save(sensitivity_figure(by_norm, sharey), out, "sensitivity") if by_norm else None


def check_choices(what, chosen, known):
    """ValueError naming the valid values when one of `chosen` is not among `known`."""
    unknown = [c for c in chosen if c not in known]
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        raise ValueError(f"{what}: no {names} in the runs; they have {', '.join(known)}")


def lr_results(sweep_dir, runs, lr_key):
    """lr_sensitivity's rows for the sweep: its axes but lr_key and seed."""
    lr_sensitivity.check_lr_key(runs, lr_key, sweep_axes(sweep_dir, runs))
    keys = [k for k in row_keys(sweep_dir, runs) if k != lr_key]
    results = lr_sensitivity.lr_sensitivities(in_sweep_order(sweep_dir, runs), lr_key, keys, label_of)
    if not any(r.points for r in results):
        raise ValueError(f"--lr {lr_key}: no run of the sweep has a result (completed, stuck or diverged)")
    return results


def lr_figure_of(sweep_dir, runs, lr_key, results=None):
    """The loss_lr figure of the runs (lr_plot.py)."""
    results = results or lr_results(sweep_dir, runs, lr_key)
    with plt.rc_context(STYLE):
        return lr_plot.lr_figure(results, lr_key, failures.chance_losses(runs))


def plot_lr(sweep_dir, runs, out, lr_key):
    """loss_lr.png (and .pdf), lr_sensitivity.md and lr_sensitivity.csv."""
    results = lr_results(sweep_dir, runs, lr_key)
    fig = lr_figure_of(sweep_dir, runs, lr_key, results)
    return [save(fig, out, "loss_lr"), *lr_sensitivity.write_tables(results, out, lr_key)]


DEFAULT_LR_KEY = "optim.lr"


def make_plots(sweep_dir, out=None, stats=("in_rms",), sites=None, smooth=10, sharey=True, lr=None):
    """Writes every figure of a sweep directory into `out` (default SWEEP_DIR/plots), one stat_*
    per statistic in `stats`, and returns the paths written (each PNG has a PDF beside it).
    lr: the config key of the learning rate, for loss_lr and the lr_sensitivity tables; None
    makes them when DEFAULT_LR_KEY is an axis of the sweep, "" never."""
    sweep_dir = Path(sweep_dir)
    runs_dir = sweep_dir / "runs"
    if not runs_dir.is_dir():
        raise NotADirectoryError(f"{sweep_dir}: not a sweep directory (no runs/)")
    out = Path(out) if out else sweep_dir / "plots"
    with load_runs(runs_dir, skip_unreadable=True) as loaded:
        runs = [r for r in loaded if r.steps_done > 0]
        if not runs:
            raise ValueError(f"{sweep_dir}: no run with any step in runs/")
        known = sorted({s for r in runs for s in r.statistics})
        for stat in stats:
            if stat not in known:
                raise ValueError(f"--stat: no statistic {stat!r} in the runs; they have {', '.join(known)}")
        if sites is not None:
            known_sites = list(dict.fromkeys(s for r in runs for s in r.sites().index))
            check_choices("--sites", sorted(sites), known_sites)
        if lr is None:
            lr = DEFAULT_LR_KEY if DEFAULT_LR_KEY in sweep_axes(sweep_dir, loaded) else ""
        if lr:  # before any figure, so that a wrong key writes nothing
            lr_sensitivity.check_lr_key(loaded, lr, sweep_axes(sweep_dir, loaded))
        out.mkdir(parents=True, exist_ok=True)
        groups = group_runs(in_sweep_order(sweep_dir, runs), row_keys(sweep_dir, runs))
        written = [plot_losses(groups, out, "step", smooth), plot_losses(groups, out, "time", smooth)]
        for stat in stats:
            written.append(plot_stat(groups, out, stat, sites, sharey))
            if written[-1] is None:
                print(f"stat_{stat}: NaN at every chosen site of every run; no figure", file=sys.stderr)
        if lr:  # every run, also one that diverged at its first step: it counts ℓ₀
            written.extend(plot_lr(sweep_dir, list(loaded), out, lr))
    written.append(plot_sensitivity(sweep_dir, out, sharey))
    return [p for p in written if p is not None]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="normlab plot", description=__doc__.split("\n\n    /usr/bin")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", help="the sweep directory (the --out of normlab sweep; it holds runs/)")
    parser.add_argument("--out", help="directory of the figures (default SWEEP_DIR/plots)")
    parser.add_argument("--stat", default="in_rms",
                        help="per-site statistics, comma-separated (default in_rms), e.g. in_rms,in_mean_share")
    parser.add_argument("--sites", help="only these sites, comma-separated (default: all)")
    parser.add_argument("--smooth", type=int, default=10, help="train-loss moving average, in steps (default 10)")
    parser.add_argument("--no-sharey", dest="sharey", action="store_false",
                        help="give each panel of a figure its own y axis (default: shared)")
    parser.add_argument("--lr", metavar="KEY",
                        help="the config key of the learning rate, an axis of the sweep: writes "
                             "loss_lr.png and lr_sensitivity.md/.csv (default: optim.lr when the "
                             "sweep varies it; --lr none: never)")
    args = parser.parse_args(argv)
    lr = "" if args.lr == "none" else args.lr
    try:
        paths = make_plots(args.sweep_dir, args.out, args.stat.split(","),
                           set(args.sites.split(",")) if args.sites else None, args.smooth,
                           args.sharey, lr)
    except (OSError, ValueError) as e:
        print(f"normlab plot: error: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(f"plot -> {p}" if p.suffix == ".png" else f"table -> {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
