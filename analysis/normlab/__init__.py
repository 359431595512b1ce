"""Reading the run files of `normlab train` (docs/FORMAT.md) into pandas and xarray: one run, live
or finished (runs.py), or many at once with their config keys as columns (frames.py)."""

from .frames import (Runs, evals_frame, load_runs, stats_frame, steps_frame, summary,
                     sweep_dataset, varying_keys)
from .runs import (FORMAT, FORMAT_VERSION, OLDEST_FORMAT_VERSION, ForeignFileError,
                   FormatVersionError, NotARunError, Run, RunFileError, open_run)
from .launch import TrainError, open_sweep, train

__all__ = [
    "FORMAT", "FORMAT_VERSION", "OLDEST_FORMAT_VERSION",
    "RunFileError", "NotARunError", "ForeignFileError", "FormatVersionError",
    "Run", "open_run",
    "Runs", "load_runs", "varying_keys", "summary", "steps_frame", "evals_frame", "stats_frame",
    "sweep_dataset",
    "train", "open_sweep", "TrainError",
]
