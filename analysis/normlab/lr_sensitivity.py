"""Learning-rate sensitivity of a sweep over the learning rate, after Wortsman et al. 2023,
"Small-scale proxies for large-scale Transformer training instabilities" (arXiv:2309.14322,
section 2.2, "LR vs. loss curves and learning rate sensitivity"):

    LR sensitivity = E_{η ∈ [a, b]} [ min(ℓ(A(η)), ℓ₀) − ℓ* ],   ℓ* = min_{η ∈ [a, b]} ℓ(A(η))

ℓ(A(η)) is the final loss of training with learning rate η, ℓ₀ the loss at initialization; the
min with ℓ₀ lets a diverged run count as no better than the untrained model instead of as an
infinite loss. The paper sweeps η log-spaced over 3e-4..3e-1; here [a, b] is the sweep's own lr
axis and the expectation is the mean over its values (an expectation under a log-uniform η when
they are evenly log-spaced; a note says when they are not).

In normlab: ℓ(A(η)) is a run's last val_loss; ℓ₀ its train_loss at step 0, taken before any
update (so the same for every lr of a seed); a diverged run counts ℓ₀, a stuck one its final
loss capped at ℓ₀ like any other. ℓ* is the lowest final loss of the runs that did not diverge;
when none of a seed's runs ended below ℓ₀ nothing trained and the sensitivity is undefined (NaN,
"none trained"), since the formula would give 0, the score of a perfectly insensitive model.

Rows are the sweep's axes but the lr key and seed. Per row: the sensitivity per seed (over the
lrs), their mean with a 95% t interval over seeds (scipy.stats.t), and the lr with the lowest
mean capped loss over seeds. A seed without a result at every lr of its row is left out and
counted.
"""

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import schema as S
from .intervals import t_interval

CONFIDENCE = 0.95
SEED_KEY = "seed"
# How far the lrs' log-spacing may vary before the plain mean is no longer a log-uniform
# expectation worth calling one (relative to the mean step in log lr).
LOG_SPACING_TOLERANCE = 0.05


@dataclass
class RunPoint:
    """One run as the formula sees it."""
    group: str
    seed: object
    lr: float
    status: str
    final: float     # last val_loss (NaN without an evaluation)
    initial: float   # ℓ₀: train_loss at step 0 (NaN when the run has no step 0)

    @property
    def capped(self):
        """min(ℓ, ℓ₀), with ℓ₀ for a diverged run."""
        return self.initial if self.status == S.STATUS_DIVERGED else min(self.final, self.initial)


@dataclass
class GroupResult:
    label: str
    values: dict                                  # the group keys and their values
    lrs: list                                     # the lrs of the row, ascending
    per_seed: dict                                # seed -> sensitivity (NaN: none trained)
    capped: dict                                  # seed -> [min(ℓ, ℓ₀) per lr]
    points: list = field(default_factory=list)    # every RunPoint of the row
    incomplete: list = field(default_factory=list)  # seeds left out (an lr without a result)
    no_result: int = 0                            # runs of the row without a result

    def seeds(self):
        return sorted(self.capped, key=str)

    def interval(self):
        """(mean, low, high) over the seeds with a sensitivity; a t interval at CONFIDENCE,
        NaN bounds for fewer than 2 seeds."""
        return t_interval(list(self.per_seed.values()), CONFIDENCE)

    def mean_capped(self):
        """Mean over the complete seeds of min(ℓ, ℓ₀), per lr."""
        if not self.capped:
            return np.full(len(self.lrs), math.nan)
        return np.mean([self.capped[s] for s in self.seeds()], axis=0)

    def best(self):
        """(lr, mean capped loss) at the lr with the lowest mean over seeds."""
        mean = self.mean_capped()
        if not np.isfinite(mean).any():
            return math.nan, math.nan
        i = int(np.nanargmin(mean))
        return self.lrs[i], float(mean[i])

    def initial_loss(self):
        values = [p.initial for p in self.points if np.isfinite(p.initial)]
        return float(np.mean(values)) if values else math.nan

    def count(self, status):
        return sum(p.status == status for p in self.points)


def sensitivity(capped, trained):
    """The formula over one seed's lrs: capped[i] = min(ℓ, ℓ₀) (ℓ₀ if diverged), trained[i]
    whether run i did not diverge and ended below ℓ₀; NaN when none trained."""
    capped = np.asarray(capped, dtype=float)
    trained = np.asarray(trained, dtype=bool)
    if not trained.any():
        return math.nan
    best = capped[trained].min()  # the paper's ℓ*: over the runs that have a finite loss
    return float(capped.mean() - best)


def check_lr_key(runs, lr_key, axes):
    """ValueError naming the key when the runs lack it or the sweep does not vary it."""
    if not any(lr_key in r.flat_config for r in runs):
        raise ValueError(f"--lr: no config key {lr_key!r} in the runs; the sweep's axes are "
                         f"{', '.join(axes) or 'none'}")
    if lr_key not in axes:
        raise ValueError(f"--lr: {lr_key!r} is not an axis of the sweep (it has one value); "
                         f"the sweep's axes are {', '.join(axes) or 'none'}")


def run_points(runs, lr_key, group_keys, label_of):
    """A RunPoint for every run with a result; ℓ₀ of a run without a step 0 (diverged at its
    first step) from a run of the same row and seed, since step 0 comes before any update."""
    points = []
    for run in runs:
        if run.status not in (S.STATUS_COMPLETED, S.STATUS_STUCK, S.STATUS_DIVERGED):
            continue
        train = run.steps()[S.SERIES_TRAIN_LOSS]
        val = run.evals()[S.SERIES_VAL_LOSS]
        points.append(RunPoint(label_of(run, group_keys), run.flat_config.get(SEED_KEY),
                               float(run.flat_config[lr_key]), run.status,
                               float(val.iloc[-1]) if len(val) else math.nan,
                               float(train.loc[0]) if 0 in train.index else math.nan))
    initial = {(p.group, p.seed): p.initial for p in points if np.isfinite(p.initial)}
    for p in points:
        if not np.isfinite(p.initial):
            p.initial = initial.get((p.group, p.seed), math.nan)
    return points


def group_result(label, values, points, lrs, no_result):
    """The sensitivity per seed of one row; seeds without a result at some lr of `lrs`, or
    without ℓ₀, are left out."""
    result = GroupResult(label, values, lrs, {}, {}, points, no_result=no_result)
    for seed in sorted({p.seed for p in points}, key=str):
        by_lr = {p.lr: p for p in points if p.seed == seed}
        if set(by_lr) != set(lrs) or not all(np.isfinite(by_lr[lr].initial) for lr in lrs):
            result.incomplete.append(seed)
            continue
        row = [by_lr[lr] for lr in lrs]
        capped = [p.capped for p in row]
        trained = [p.status != S.STATUS_DIVERGED and p.final < p.initial for p in row]
        result.capped[seed] = capped
        result.per_seed[seed] = sensitivity(capped, trained)
    return result


def lr_sensitivities(runs, lr_key, group_keys, label_of):
    """[GroupResult] per row of the sweep (group_keys: its axes but lr and seed), in the order
    the runs come; label_of(run, keys) names a row as the other figures do."""
    points = run_points(runs, lr_key, group_keys, label_of)
    order, values = [], {}
    for run in runs:
        label = label_of(run, group_keys)
        if label not in values:
            order.append(label)
            values[label] = {k: run.flat_config.get(k) for k in group_keys}
    results = []
    for label in order:
        mine = [p for p in points if p.group == label]
        total = sum(label_of(r, group_keys) == label for r in runs)
        lrs = sorted({p.lr for p in mine})
        results.append(group_result(label, values[label], mine, lrs, total - len(mine)))
    return results


def log_spacing_note(lrs):
    """A sentence when the lrs are not evenly log-spaced (the mean over them then weights the
    denser part of the range more than a log-uniform expectation would); "" otherwise."""
    if len(lrs) < 3:
        return ""
    steps = np.diff(np.log(lrs))
    if np.ptp(steps) <= LOG_SPACING_TOLERANCE * steps.mean():
        return ""
    return (f"note: the lrs {', '.join(f'{v:g}' for v in lrs)} are not evenly log-spaced; the "
            "sensitivity is their plain mean, not a log-uniform expectation")


def _g(value):
    """Full precision (repr: the shortest text that reads back as the same float); "" for NaN."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def table_rows(results):
    """One dict per row: the group keys, then the figures (full precision, "" for NaN)."""
    rows = []
    for r in results:
        mean, low, high = r.interval()
        best_lr, best_loss = r.best()
        finite = [v for v in r.per_seed.values() if np.isfinite(v)]
        rows.append({
            **{k: v for k, v in r.values.items()},
            "seeds": len(finite),
            "lr_sensitivity": _g(mean), "ci95_low": _g(low), "ci95_high": _g(high),
            "best_lr": _g(best_lr), "best_loss": _g(best_loss),
            "initial_loss": _g(r.initial_loss()),
            "runs": len(r.points) + r.no_result,
            "stuck": r.count(S.STATUS_STUCK), "diverged": r.count(S.STATUS_DIVERGED),
            "no_result": r.no_result,
            "seeds_none_trained": len(r.per_seed) - len(finite),
            "seeds_incomplete": len(r.incomplete),
            "lrs": ";".join(f"{v:g}" for v in r.lrs),
            "per_seed": ";".join(f"{s}={_g(v) or 'nan'}" for s, v in r.per_seed.items()),
        })
    return rows


def write_csv(results, path):
    rows = table_rows(results)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _md_value(text, digits=3):
    return f"{float(text):.{digits}g}" if text not in ("", None) else "—"


def markdown(results, lr_key):
    """The table as Markdown: a line per row, its caption saying what each figure is."""
    rows = table_rows(results)
    keys = list(results[0].values) if results else []
    head = [*keys, "LR sensitivity (nats)", "95% CI", "seeds", "best lr", "best loss", "ℓ₀",
            "stuck", "diverged", "no result"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        ci = (f"[{_md_value(row['ci95_low'])}, {_md_value(row['ci95_high'])}]"
              if row["ci95_low"] else "—")
        seeds = str(row["seeds"])
        if row["seeds_none_trained"]:
            seeds += f" ({row['seeds_none_trained']} none trained)"
        if row["seeds_incomplete"]:
            seeds += f" ({row['seeds_incomplete']} incomplete, left out)"
        cells = [str(row[k]) for k in keys] + [
            _md_value(row["lr_sensitivity"]), ci, seeds, _md_value(row["best_lr"]),
            _md_value(row["best_loss"], 4), _md_value(row["initial_loss"], 4),
            f"{row['stuck']}/{row['runs']}", f"{row['diverged']}/{row['runs']}", str(row["no_result"])]
        lines.append("| " + " | ".join(cells) + " |")
    notes = {log_spacing_note(r.lrs) for r in results} - {""}
    caption = (
        f"LR sensitivity over `{lr_key}` (Wortsman et al. 2023, arXiv:2309.14322, §2.2): the mean "
        "over the sweep's lrs of min(ℓ, ℓ₀) − ℓ*, with ℓ the final validation loss, ℓ₀ the "
        "train loss at step 0 (before any update; a diverged run counts ℓ₀) and ℓ* the lowest "
        "final loss of the seed; per seed, then the mean over seeds with a 95% t interval. "
        "Best lr: the lowest mean over seeds of min(ℓ, ℓ₀); best loss: that mean. Stuck runs "
        "count their final loss (capped at ℓ₀); \"none trained\": no lr of the seed ended below ℓ₀, "
        "so the sensitivity is undefined.")
    return "\n".join([*lines, "", caption, *sorted(notes)]) + "\n"


def write_tables(results, out, lr_key):
    """OUT/lr_sensitivity.md and OUT/lr_sensitivity.csv; returns both paths."""
    md = Path(out) / "lr_sensitivity.md"
    md.write_text(markdown(results, lr_key))
    return [md, write_csv(results, Path(out) / "lr_sensitivity.csv")]
