"""Confidence intervals over seeds, shared by the LR sensitivity (lr_sensitivity.py) and the
re-centering study (experiments/recentering/study_eval.py)."""

import math

import numpy as np
from scipy import stats as scipy_stats


def t_interval(values, confidence=0.95):
    """(mean, low, high) of the finite values: Student's t interval at `confidence`; NaN bounds for
    a single value, all NaN for none."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.nan, math.nan
    half = scipy_stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)
