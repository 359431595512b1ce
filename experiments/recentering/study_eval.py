"""The statistics of the re-centering study (issue 21): ground truth per site, rank correlations
with bootstrap intervals over seeds, and out-of-sample thresholds. Pure numpy/scipy on plain
dicts, so run_study.py stays the driver and this file can be read (and checked) on its own.

Data shapes used throughout:
  losses[stack][seed] = final validation loss, stack a tuple of kinds ("L"/"R" per site)
  preds[name][seed]   = list of per-site values (NaN where the command printed n/a)
"""
import math

import numpy as np
from scipy import stats

from normlab.intervals import t_interval

# The columns of `normlab analyze recentering`'s CSV that the study ranks (depth: layer / depth).
PREDICTORS = ["in_mean_share", "mean_jitter", "scale_cv", "mean_leak", "grad_ones_share", "ones_response",
              "ones_response_plain", "offset_ratio", "depth"]


def stack(depth, kind, except_site=None):
    """All `kind` ("L" or "R") but `except_site`, which gets the other kind."""
    other = "R" if kind == "L" else "L"
    return tuple(other if s == except_site else kind for s in range(depth))


def paired_deltas(losses, depth, seeds):
    """Per site s and seed: Delta_remove = loss(LN except s) - loss(all LN) and
    Delta_add = loss(all RN) - loss(RN except s), each paired by seed ({s: [per seed]})."""
    all_ln, all_rn = losses[stack(depth, "L")], losses[stack(depth, "R")]
    remove, add = {}, {}
    for s in range(depth):
        ln_x, rn_x = losses[stack(depth, "L", s)], losses[stack(depth, "R", s)]
        remove[s] = [ln_x[k] - all_ln[k] for k in seeds]
        add[s] = [all_rn[k] - rn_x[k] for k in seeds]
    return remove, add


def spearman(x, y):
    """Spearman's rho over the sites where both are finite; NaN when either is constant or
    fewer than two sites remain."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    return float(stats.spearmanr(x[ok], y[ok])[0])


def site_means(per_seed, seed_idx):
    """per_seed: array (seeds, sites); the per-site mean over the chosen seed rows, NaN-aware."""
    a = np.asarray(per_seed, dtype=float)[seed_idx]
    with np.errstate(all="ignore"):
        finite = np.isfinite(a)
        counts = finite.sum(axis=0)
        sums = np.where(finite, a, 0.0).sum(axis=0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def spearman_bootstrap(delta, pred, reps=2000, rng_seed=21):
    """rho of the per-site means of pred (seeds x sites) with those of delta (seeds x sites),
    and a 95% percentile interval from resampling seeds (the same seed rows for both).
    Returns (rho, lo, hi, share of resamples where rho was defined)."""
    delta, pred = np.asarray(delta, dtype=float), np.asarray(pred, dtype=float)
    n = delta.shape[0]
    every = np.arange(n)
    rho = spearman(site_means(pred, every), site_means(delta, every))
    rng = np.random.default_rng(rng_seed)
    draws = []
    for _ in range(reps):
        idx = rng.integers(0, n, n)
        draws.append(spearman(site_means(pred, idx), site_means(delta, idx)))
    draws = np.asarray(draws)
    ok = np.isfinite(draws)
    if ok.sum() == 0:
        return rho, math.nan, math.nan, 0.0
    lo, hi = np.percentile(draws[ok], [2.5, 97.5])
    return rho, float(lo), float(hi), float(ok.mean())


def needs_centering(remove):
    """A site needs re-centering when removing it costs beyond its interval: the t interval
    of Delta_remove lies above 0 (with one seed, when the single Delta is above 0)."""
    labels = []
    for s in sorted(remove):
        m, lo, _ = t_interval(remove[s])
        labels.append(bool(lo > 0) if math.isfinite(lo) else bool(m > 0))
    return labels


def fit_threshold(values, labels):
    """The rule 'needs re-centering when sign * value >= t' that agrees with the labels at the
    most sites (ties: sign +1 first, then the lowest t). Returns (sign, t, agreement)."""
    v = np.asarray(values, dtype=float)
    y = np.asarray(labels, dtype=bool)
    ok = np.isfinite(v)
    if ok.sum() == 0:
        return 1, math.nan, math.nan
    v, y = v[ok], y[ok]
    best = None
    for sign in (1, -1):
        w = np.sort(sign * v)
        cuts = [w[0] - 1.0] + [(a + b) / 2 for a, b in zip(w[:-1], w[1:])] + [w[-1] + 1.0]
        for t in cuts:
            agree = float(np.mean((sign * v >= t) == y))
            if best is None or agree > best[2]:
                best = (sign, float(t), agree)
    return best


def apply_threshold(values, labels, sign, t):
    """Agreement of the rule on other sites (NaN values count as a wrong call)."""
    v = np.asarray(values, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if not math.isfinite(t) or len(v) == 0:
        return math.nan
    call = np.where(np.isfinite(v), sign * v >= t, ~y)
    return float(np.mean(call == y))


def majority_agreement(train_labels, test_labels):
    """The baseline a predictor must beat: the training set's majority label, applied to test."""
    guess = np.mean(train_labels) >= 0.5 if len(train_labels) else True
    return float(np.mean(np.asarray(test_labels, dtype=bool) == guess))
