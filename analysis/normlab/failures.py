"""How the figures show runs that failed (status `stuck` or `diverged`, docs/FORMAT.md): one set
of rules for loss_step, loss_time, stat_* and loss_lr.

A stuck run trains to the end near the task's chance loss and a diverged one stops early, so a
mean over seeds that took them in would sit between two regimes and describe neither; the
figures' mean and band are over the other runs (completed, and runs still without a result), and
every failed run is drawn apart: stuck dashed, diverged dotted with a cross where it stopped.
"""

import numpy as np
from matplotlib.lines import Line2D

from . import schema as S

FAILED = (S.STATUS_STUCK, S.STATUS_DIVERGED)
# Thin, so that a failed run is seen without hiding the mean it is not part of.
LINE_STYLES = {S.STATUS_STUCK: dict(linestyle="--", linewidth=0.9, alpha=0.9),
               S.STATUS_DIVERGED: dict(linestyle=":", linewidth=1.1, alpha=0.9)}
STOP_MARKER = dict(marker="X", markersize=7, markeredgecolor="black", markeredgewidth=0.6,
                   linestyle="none")
CHANCE_STYLE = dict(color="0.35", linestyle="-.", linewidth=0.9)


def split_by_outcome(runs):
    """(runs not failed, {status: runs} for stuck and diverged, in that order, only those present)."""
    kept = [r for r in runs if r.status not in FAILED]
    failed = {s: [r for r in runs if r.status == s] for s in FAILED}
    return kept, {s: rs for s, rs in failed.items() if rs}


def outcome_text(runs):
    """"n = 2 seeds", or with failures "n = 5 seeds: 1/5 stuck, 2/5 diverged"."""
    n = len(runs)
    text = f"n = {n} seed{'s' if n != 1 else ''}"
    _, failed = split_by_outcome(runs)
    if failed:
        text += ": " + ", ".join(f"{len(rs)}/{n} {status}" for status, rs in failed.items())
    return text


def any_failed(groups):
    return any(r.status in FAILED for runs in groups.values() for r in runs)


def chance_losses(runs):
    """The distinct finite chance losses of the runs, sorted: one per task, and for a token task
    one per validation split (the unigram entropy of its targets), so seeds may differ a little."""
    return sorted({round(r.chance_loss, 12) for r in runs if np.isfinite(r.chance_loss)})


def draw_chance(ax, values):
    """A horizontal line at the chance loss; when the runs differ, at their mean over a gray band
    from the lowest to the highest. Returns the legend handle, None without a chance loss."""
    if not values:
        return None
    ax.axhline(float(np.mean(values)), **CHANCE_STYLE)
    if len(values) > 1:
        ax.axhspan(min(values), max(values), color=CHANCE_STYLE["color"], alpha=0.12, linewidth=0)
    return chance_handle(values)


def chance_handle(values):
    text = f"{values[0]:.3g} nats" if len(values) == 1 else f"{min(values):.3g}–{max(values):.3g} nats, by run"
    return Line2D([], [], **CHANCE_STYLE, label=f"chance loss of the task ({text})")


def style_handles(statuses):
    """Legend handles explaining how each failure present is drawn."""
    handles = []
    if S.STATUS_STUCK in statuses:
        handles.append(Line2D([], [], color="0.3", **LINE_STYLES[S.STATUS_STUCK],
                              label="stuck run (not in the mean)"))
    if S.STATUS_DIVERGED in statuses:
        handles.append(Line2D([], [], color="0.3", **LINE_STYLES[S.STATUS_DIVERGED],
                              marker=STOP_MARKER["marker"], markersize=6,
                              label="diverged run (× where it stopped; not in the mean)"))
    return handles


def statuses_of(groups):
    return {r.status for runs in groups.values() for r in runs if r.status in FAILED}


def mark_stop(ax, x, y, color):
    """A cross at the last finite point of a diverged run's curve."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if finite.size:
        ax.plot(x[finite[-1]], y[finite[-1]], color=color, **STOP_MARKER)


def loss_caption(groups):
    if not any_failed(groups):
        return "mean over seeds, band from the lowest to the highest seed"
    return ("mean over the seeds that did not fail, band from the lowest to the highest of them; "
            "stuck and diverged runs drawn one by one, not in the mean")


def stat_caption(stat, failed, sharey):
    """The stat figure's title; `failed`: the failure statuses drawn in it."""
    shared = ", shared y axis" if sharey else ""
    if not failed:
        return f"{stat} per site over training (mean over seeds{shared})"
    ways = [w for status, w in ((S.STATUS_STUCK, "stuck runs' mean dashed"),
                                (S.STATUS_DIVERGED, "diverged runs' mean dotted, × at its end"))
            if status in failed]
    return (f"{stat} per site over training (solid: mean over the seeds that did not fail{shared});\n"
            + "; ".join(ways) + ", apart from the solid mean")
