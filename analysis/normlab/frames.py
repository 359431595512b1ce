"""Many runs at once: a directory of run files, and frames across runs with config keys as columns,
ready for groupby on what a sweep varied (`model.norm`, `optim.lr`, ...)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import schema as S
from .runs import ForeignFileError, RunFileError, open_run


class Runs(list):
    """A list of open runs that closes them all, by close() or as a context manager.

    `skipped` lists the HDF5 files of other formats that load_runs passed over in a directory
    (a sweep's index.h5, analysis outputs such as *.sensitivity.h5)."""

    skipped = ()

    def close(self):
        for run in self:
            run.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_runs(source, pattern="*.h5", include_partial=False, skip_unreadable=False):
    """Opens the run files under a directory (recursively, by `pattern`) or in a list of paths.

    In a directory, run files are told by their `format` attribute: HDF5 files of other formats
    (a sweep's index.h5, *.sensitivity.h5 beside the runs) are passed over and listed in the
    result's `skipped`; a path given in a list must be a run file. include_partial adds the
    `.partial` files of runs training, interrupted or killed, opened with SWMR. A file that cannot
    be read stops the load with a RunFileError naming every such file and why;
    skip_unreadable=True instead warns about each and returns the others.
    """
    if isinstance(source, (str, Path)):
        root = Path(source)
        if not root.is_dir():
            raise NotADirectoryError(f"{root}: not a directory of run files")
        patterns = [pattern, pattern + S.SUFFIX_PARTIAL] if include_partial else [pattern]
        paths = sorted(p for pat in patterns for p in root.rglob(pat))
    else:
        paths = [Path(p) for p in source]
    in_directory = isinstance(source, (str, Path))
    runs, failures, skipped = Runs(), [], []
    for path in paths:
        try:
            runs.append(open_run(path, swmr=path.name.endswith(S.SUFFIX_PARTIAL)))
        except ForeignFileError as e:
            (skipped if in_directory else failures).append(path if in_directory else str(e))
        except (RunFileError, OSError) as e:
            failures.append(str(e))
    runs.skipped = skipped
    if failures and not skip_unreadable:
        runs.close()
        raise RunFileError(f"{len(failures)} of {len(paths)} run files cannot be read:\n  "
                           + "\n  ".join(failures))
    for failure in failures:
        warnings.warn(f"skipped: {failure}", stacklevel=2)
    return runs


# Where a run's file went is bookkeeping, not part of the experiment.
_NOT_EXPERIMENT_KEYS = {"train.out"}


def varying_keys(runs):
    """The flat config keys whose values differ between the runs, in config order, leaving out
    train.out (the directory the file was written to)."""
    keys = dict.fromkeys(k for run in runs for k in run.flat_config if k not in _NOT_EXPERIMENT_KEYS)
    return [k for k in keys if len({repr(run.flat_config.get(k)) for run in runs}) > 1]


def summary(runs):
    """One row per run: run_id, status (completed, stuck, diverged, or running and interrupted
    for runs without a result), every config key, then how it went (steps done, the train loss
    of step 0 before any update, final train loss, final and best validation loss, final
    validation metric, the task's chance loss, median step time) and the file's path."""
    rows = []
    for run in runs:
        steps, evals = run.steps(), run.evals()
        rows.append({
            S.ATTR_RUN_ID: run.run_id,
            S.ATTR_STATUS: run.status,
            **run.flat_config,
            "steps_done": len(steps),
            "initial_train_loss": _initial(steps[S.SERIES_TRAIN_LOSS]),
            "final_train_loss": _last(steps[S.SERIES_TRAIN_LOSS]),
            "final_val_loss": _last(evals[S.SERIES_VAL_LOSS]),
            "best_val_loss": evals[S.SERIES_VAL_LOSS].min(),
            "final_val_metric": _last(evals[S.SERIES_VAL_METRIC]),
            S.ATTR_CHANCE_LOSS: run.chance_loss,
            "median_step_time": steps[S.SERIES_STEP_TIME].median(),
            "path": str(run.path),
        })
    return pd.DataFrame(rows)


def steps_frame(runs, config=None):
    """Every run's steps in long form: run_id, config columns, step, train_loss, lr, ..., and
    last the run's status, so that stuck and diverged runs can be told apart in a groupby.

    config: the flat config keys to add as columns; None adds those that vary between the runs.
    """
    return _across(runs, config, lambda run: run.steps().reset_index())


def evals_frame(runs, config=None):
    """Every run's evaluations in long form: run_id, config columns, eval_step, val_loss, ..."""
    return _across(runs, config, lambda run: run.evals().reset_index())


def stats_frame(runs, config=None):
    """Every run's site_stats() in long form: run_id, config columns, stat_step, site, kind,
    layer, features and one column per statistic."""
    return _across(runs, config, lambda run: run.site_stats())


def sweep_dataset(runs, config=None):
    """The runs as one xarray.Dataset with a leading `run` dimension (coordinate: run_id), the
    config keys that vary between them (or those given in `config`), `status` and `chance_loss`
    as coordinates on `run`.

    Runs of different lengths or site counts (no normalizer has fewer sites) are padded with NaN
    (outer join); a site table that differs between runs (the kind at a site) becomes a
    (run, site) coordinate. `runs` is what load_runs returns, or a directory to load."""
    if isinstance(runs, (str, Path)):
        with load_runs(runs) as loaded:
            return sweep_dataset(loaded, config)
    if not runs:
        raise ValueError("sweep_dataset: no runs")
    keys = varying_keys(runs) if config is None else list(config)
    parts = []
    for run in runs:
        data = run.dataset()
        sites = [n for n in data.coords
                 if n != S.AXIS_SITE and data.coords[n].dims == (S.AXIS_SITE,)]
        data = data.reset_coords(sites)  # site tables as variables: they may differ between runs
        data = data.expand_dims(run=[run.run_id])
        for name in sites:
            data[name] = data[name].astype(str) if data[name].dtype.kind in "OSU" else data[name]
        outcome = {S.ATTR_STATUS: ("run", [run.status]), S.ATTR_CHANCE_LOSS: ("run", [run.chance_loss])}
        data.attrs.pop(S.ATTR_STATUS, None)  # a coordinate now: it differs between runs
        data.attrs.pop(S.ATTR_CHANCE_LOSS, None)
        parts.append(data.assign_coords({**{k: ("run", [run.flat_config.get(k)]) for k in keys},
                                         **outcome}))
    merged = xr.concat(parts, dim="run", join="outer", data_vars="all", coords="different",
                       compat="equals", combine_attrs="drop_conflicts", fill_value=np.nan)
    return merged.set_coords(sites) if sites else merged


def _across(runs, config, frame_of):
    """frame_of(run) for each run, tagged with run_id and the config columns, concatenated."""
    keys = varying_keys(runs) if config is None else list(config)
    frames = []
    for run in runs:
        frame = frame_of(run)
        tags = {S.ATTR_RUN_ID: run.run_id, **{k: run.flat_config.get(k) for k in keys}}
        frame = frame.assign(**tags)[[*tags, *frame.columns]]
        frames.append(frame.assign(**{S.ATTR_STATUS: run.status}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _last(series):
    return series.iloc[-1] if len(series) else np.nan


def _initial(series):
    """The value at step 0 (before any update); NaN when the run has no step 0."""
    return series.loc[0] if 0 in series.index else np.nan
