#!/usr/bin/python3
"""The validation gap between two values of one config key at chosen steps, paired by seed.

Per group (the other axes but seed and the --where keys) and step (500: the evaluation after 500
steps), runs with --compare = --value against those with --baseline of the same seed: the mean
difference of --metric, its 95% t interval and the paired t test's two-sided p (ttest_rel). Only
completed runs enter; the others (stuck, diverged, no result) and lone seeds are counted apart.

usage: gap_by_step.py SWEEP_DIR --compare KEY --baseline VALUE --value VALUE [--where K=V,...]
           [--steps 500,1000] [--metric val_loss|val_metric] [--csv]
  e.g. gap_by_step.py sweeps/init_offset --compare model.norm --baseline layernorm
           --value rmsnorm --where model.init=offset --steps 500,1000,2000
"""
import argparse
import csv
import difflib
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analysis"))
import normlab  # noqa: E402
from normlab.rows import sweep_axes  # noqa: E402
from failure_counts import cell_text, parse_where  # noqa: E402  (cell_text: true, 0.01)

NOT_GROUPED = {"seed", "name", "train.out"}


def fail(message):
    print(f"gap_by_step.py: {message}", file=sys.stderr)
    sys.exit(2)


def step_counts(text):
    """"500,1000" -> [500, 1000]; argparse reports a ValueError as an invalid --steps."""
    return [int(s) for s in text.split(",") if s.strip()]


def load(sweep_dir):
    root = Path(sweep_dir)
    if not root.is_dir():
        fail(f"{sweep_dir}: no such directory")
    source = root / "runs" if (root / "runs").is_dir() else root
    runs = normlab.load_runs(source, include_partial=True, skip_unreadable=True)  # warns of each
    if not runs:
        fail(f"{sweep_dir}: no run files in {source}")
    return runs, sweep_axes(root, runs)


def check_key(key, values, runs, axes):
    """A key in the runs' configs, and each of `values` in some run's config as its text."""
    known = set().union(*(run.flat_config for run in runs))
    if key not in known:
        close = difflib.get_close_matches(key, [*axes, *sorted(known - set(axes))], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        fail(f"no config key '{key}' in the runs{hint} (the sweep's axes: {', '.join(axes)})")
    present = {cell_text(run.flat_config.get(key)) for run in runs}
    if values - present:
        fail(f"no run has {key} = {', '.join(sorted(values - present))} "
             f"(values: {', '.join(sorted(present))})")


def choose(runs, a, where):
    """The runs matching --where with --compare = --baseline or --value."""
    kept = [r for r in runs if all(cell_text(r.flat_config.get(k)) in v for k, v in where.items())]
    sides = {cell_text(r.flat_config.get(a.compare)) for r in kept}
    for value in (a.baseline, a.value):
        if value not in sides:
            fail(f"no run{' kept by --where' if where else ''} has {a.compare} = {value} "
                 f"(values: {', '.join(sorted(sides)) or 'none'})")
    return [r for r in kept if cell_text(r.flat_config.get(a.compare)) in (a.baseline, a.value)]


def paired(base, value):
    """n, mean difference, CI low, CI high, p, mean baseline, mean value of the paired series."""
    d, n = value - base, len(base)
    if n < 2:
        return (n, *[np.nan] * 6) if n == 0 else (n, *d, np.nan, np.nan, np.nan, *base, *value)
    low, high = stats.t.interval(0.95, n - 1, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(n))
    with np.errstate(all="ignore"):
        p = stats.ttest_rel(value, base).pvalue
    return n, d.mean(), low, high, p, base.mean(), value.mean()


def gap_rows(frame, a, groups, steps):
    """[(group values, step, *paired figures)] and [what is on one side only, as text]."""
    rows, unpaired = [], []
    by = groups[0] if len(groups) == 1 else groups  # a 1-list gives 1-tuples in pandas 2 only
    grouped = frame.groupby(by, sort=False) if groups else [((), frame)]
    for key, group in grouped:
        key = key if isinstance(key, tuple) else (key,)
        side = {v: group[group["side"] == v] for v in (a.baseline, a.value)}
        for part in side.values():  # one run per seed, or pairing by seed means nothing
            if part["run_id"].nunique() > part["seed"].nunique():
                fail(f"several runs share a seed in {dict(zip(groups, key))}; narrow with --where")
        on_b, on_v = (set(part["seed"]) for part in side.values())
        label = "".join(f"{k}={value}, " for k, value in zip(groups, key))
        unpaired += [f"{label}seed {seed}: {name} only" for name, seeds in
                     [(a.baseline, on_b - on_v), (a.value, on_v - on_b)] for seed in sorted(seeds)]
        for step in steps:
            at = {v: part[part["eval_step"] == step - 1].set_index("seed")[a.metric]
                  for v, part in side.items()}
            both = pd.concat([at[a.baseline], at[a.value]], axis=1, join="inner").dropna()
            rows.append((key, step, *paired(*both.to_numpy().T)))
    return rows, unpaired


def fmt(x, spec):
    return "—" if np.isnan(x) else format(x, spec)


def print_markdown(rows, a, groups, left_out, unpaired):
    header = [*groups, "step", "n", f"{a.value} − {a.baseline}", "95% CI", "paired t p",
              f"mean {a.baseline}", f"mean {a.value}"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(groups) + " ---: |" * 7)
    for key, step, n, mean, low, high, p, mb, mv in rows:
        ci = "—" if np.isnan(low) else f"[{low:+.3f}, {high:+.3f}]"
        cells = [*key, f"{step}", f"{n}", fmt(mean, "+.3f"), ci, fmt(p, ".3g"), fmt(mb, ".3f"),
                 fmt(mv, ".3f")]
        print("| " + " | ".join(cells) + " |")
    print(f"\n{a.metric} of {a.compare}={a.value} minus {a.compare}={a.baseline} after each step, "
          "paired by seed over completed runs: the mean difference, its 95% t interval,\nthe "
          "two-sided paired t test's p and the two means over the same seeds; — for < 2 pairs.")
    if left_out:
        print("Left out: " + ", ".join(f"{n} {s}" for s, n in sorted(left_out.items()))
              + " (runs without a completed result).")
    if unpaired:
        print(f"Seeds on one side only, left out: {len(unpaired)} ({'; '.join(unpaired)}).")


def print_csv(rows, groups):
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([*groups, *"step n mean_diff ci_low ci_high p mean_baseline mean_value".split()])
    for key, step, n, *figures in rows:
        out.writerow([*key, step, n, *(repr(float(x)) for x in figures)])


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--compare", required=True, help="the config key, e.g. model.norm")
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--value", required=True, help="the value set against --baseline")
    ap.add_argument("--where", default="", help="KEY=VALUE,...: keep only these runs")
    ap.add_argument("--steps", type=step_counts, default=[], help="e.g. 500,1000; default: all")
    ap.add_argument("--metric", default="val_loss", choices=["val_loss", "val_metric"])
    ap.add_argument("--csv", action="store_true", help="CSV at full precision instead")
    return ap.parse_args(argv)


def evaluations(a, where):
    """The evaluations of the completed runs compared, the group keys, and the others' counts."""
    runs, axes = load(a.sweep_dir)
    for key, values in [(a.compare, {a.baseline, a.value}), *where.items()]:
        check_key(key, values, runs, axes)
    chosen = choose(runs, a, where)
    groups = [k for k in axes if k not in NOT_GROUPED | {a.compare, *where}]
    done = [r for r in chosen if r.status == "completed"]
    left_out = Counter(r.status for r in chosen if r.status != "completed")
    if not done:
        fail(f"no completed run among the {len(chosen)} compared ({dict(left_out)})")
    frame = normlab.evals_frame(done, config=[*groups, a.compare, "seed"])
    return frame.assign(side=frame[a.compare].map(cell_text),
                        **{k: frame[k].map(cell_text) for k in groups}), groups, left_out


def main(argv=None):
    a = parse_args(argv)
    try:
        where = parse_where(a.where)
    except ValueError as e:
        fail(e)
    frame, groups, left_out = evaluations(a, where)
    available = sorted(int(s) + 1 for s in frame["eval_step"].unique())
    missing = [s for s in a.steps if s not in available]
    if missing:
        fail(f"no evaluation at step {', '.join(map(str, missing))}; "
             f"the runs were evaluated at steps {', '.join(map(str, available))}")
    rows, unpaired = gap_rows(frame, a, groups, a.steps or available)
    if a.csv:
        print_csv(rows, groups)
    else:
        print_markdown(rows, a, groups, left_out, unpaired)


if __name__ == "__main__":
    main()
