"""loss_lr: final validation loss against the learning rate, as Wortsman et al. 2023 plot it
(arXiv:2309.14322, figure 1): one line per row of the sweep, log x axis, the loss at
initialization ℓ₀ as the ceiling the LR sensitivity caps at.

With several row keys the lines are told apart the way a 2 norms x 2 placements x 2 qk settings
grid reads best: a panel per placement (or per value of the keys left over), a color per
normalizer, a line style per qk_norm setting; each line's legend entry gives its LR sensitivity.
"""

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from . import failures
from . import schema as S
from .lr_sensitivity import log_spacing_note
from .rows import value_text

COLOR_KEYS = ("model.norm",)
STYLE_KEYS = ("model.qk_norm",)
PANEL_KEYS = ("model.placement",)
LINESTYLES = ["-", "--", ":", "-."]
FAILED_MARKERS = {S.STATUS_DIVERGED: dict(marker="X", s=46, edgecolors="black", linewidths=0.5),
                  S.STATUS_STUCK: dict(marker="s", s=34, facecolors="none", linewidths=1.0)}
INITIAL_STYLE = dict(color="0.2", linestyle=":", linewidth=1.0)
# The 7-point key below the panels and the 10-point title, measured on the rendered figure.
KEY_COLUMN_INCHES = 4.2
KEY_ROW_INCHES = 0.22
TITLE_CHARS_PER_INCH = 11.5
MAX_PANEL_COLUMNS = 4                # more panels wrap onto further rows


def encoding(keys):
    """(color key, style key, panel keys) for the row keys: the named keys when present, else the
    first key colors and the rest make the panels."""
    keys = list(keys)
    color = next((k for k in COLOR_KEYS if k in keys), keys[0] if keys else None)
    rest = [k for k in keys if k != color]
    style = next((k for k in STYLE_KEYS if k in rest), None)
    rest = [k for k in rest if k != style]
    panels = [k for k in PANEL_KEYS if k in rest] + [k for k in rest if k not in PANEL_KEYS]
    return color, style, panels


def _levels(results, key):
    return list(dict.fromkeys(r.values.get(key) for r in results)) if key else [None]


def _line_label(result, color, style, sensitivity_text):
    parts = [f"{k.split('.')[-1]}={value_text(result.values.get(k))}" for k in (color, style) if k]
    return f"{', '.join(parts) or result.label}: {sensitivity_text}"


def _sensitivity_text(result):
    mean, low, high = result.interval()
    if not np.isfinite(mean):
        return "LR sens. undefined (none trained)"
    ci = f" [{low:.2g}, {high:.2g}]" if np.isfinite(low) else ""
    return f"LR sens. {mean:.3g}{ci}"


def _draw_group(ax, result, color, linestyle, label):
    """The mean over seeds of min(ℓ, ℓ₀) per lr, a band from the lowest to the highest seed, and
    every failed run as a marker at the value the formula counts (ℓ₀ when diverged)."""
    lrs = np.asarray(result.lrs, dtype=float)
    if result.capped:
        per_seed = np.array([result.capped[s] for s in result.seeds()])
        ax.plot(lrs, per_seed.mean(axis=0), color=color, linestyle=linestyle, marker="o",
                markersize=3, linewidth=1.4, label=label)
        ax.fill_between(lrs, per_seed.min(axis=0), per_seed.max(axis=0), color=color, alpha=0.15)
    else:
        ax.plot([], [], color=color, linestyle=linestyle, label=label)
    for status, marker in FAILED_MARKERS.items():
        hit = [p for p in result.points if p.status == status and np.isfinite(p.capped)]
        if hit:
            face = {} if "facecolors" in marker else {"facecolors": color}
            ax.scatter([p.lr for p in hit], [p.capped for p in hit], color=color, zorder=3,
                       **{**marker, **face})


def _panel_results(results, panels):
    """{panel title: [results]} in the order the rows come."""
    by_panel = {}
    for r in results:
        title = ", ".join(f"{k}={value_text(r.values.get(k))}" for k in panels) or "all rows"
        by_panel.setdefault(title, []).append(r)
    return by_panel


def _key_handles(results):
    statuses = {p.status for r in results for p in r.points}
    handles = [Line2D([], [], **INITIAL_STYLE, label="ℓ₀: loss at initialization (step 0)")]
    names = {S.STATUS_DIVERGED: "diverged run, drawn at ℓ₀ (what it counts)",
             S.STATUS_STUCK: "stuck run, at its final loss (capped at ℓ₀)"}
    for status, marker in FAILED_MARKERS.items():
        if status in statuses:
            face = "none" if "facecolors" in marker else "0.5"
            handles.append(Line2D([], [], marker=marker["marker"], linestyle="none", color="0.3",
                                  markerfacecolor=face, label=names[status]))
    return handles


def lr_figure(results, lr_key, chance=()):
    """The figure; results are lr_sensitivity.lr_sensitivities' rows."""
    keys = list(results[0].values) if results else []
    color_key, style_key, panels = encoding(keys)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {v: cycle[i % len(cycle)] for i, v in enumerate(_levels(results, color_key))}
    styles = {v: LINESTYLES[i % len(LINESTYLES)] for i, v in enumerate(_levels(results, style_key))}
    by_panel = _panel_results(results, panels)
    n = len(by_panel)
    key = _key_handles(results) + ([failures.chance_handle(chance)] if chance else [])
    columns = max(1, min(n, MAX_PANEL_COLUMNS))
    rows = -(-max(n, 1) // columns)
    width = max(5.2 * columns, 9.0)
    ncol = max(1, min(len(key), int(width // KEY_COLUMN_INCHES)))
    key_inches = KEY_ROW_INCHES * -(-len(key) // ncol) + 0.1
    fig, axes = plt.subplots(rows, columns, figsize=(width, 4.6 * rows + key_inches),
                             squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (title, mine) in zip(axes.flat, by_panel.items()):
        for r in mine:
            label = _line_label(r, color_key, style_key, _sensitivity_text(r))
            _draw_group(ax, r, colors[r.values.get(color_key)], styles[r.values.get(style_key)], label)
            if np.isfinite(r.initial_loss()):
                ax.axhline(r.initial_loss(), **INITIAL_STYLE)
        failures.draw_chance(ax, chance)
        ax.set_xscale("log")
        ax.set(title=title, xlabel=f"learning rate ({lr_key}, log scale)")
        ax.tick_params(labelleft=True)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[:, 0]:
        ax.set_ylabel("final validation loss (nats), min(ℓ, ℓ₀)")
    fig.legend(handles=key, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    notes = {log_spacing_note(r.lrs) for r in results} - {""}
    lines = ["final validation loss against the learning rate: mean over seeds of min(ℓ, ℓ₀), band "
             "from the lowest to the highest seed",
             "LR sensitivity = mean over the lrs of min(ℓ, ℓ₀) − ℓ* (Wortsman et al. 2023), per seed; "
             "mean [95% t interval] over seeds", *sorted(notes)]
    fig.suptitle("\n".join(textwrap.fill(line, int(width * TITLE_CHARS_PER_INCH)) for line in lines))
    fig.tight_layout(rect=(0, key_inches / fig.get_figheight(), 1, 1))
    return fig
