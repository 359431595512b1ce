"""One run file of `normlab train` (docs/FORMAT.md) as pandas frames, an xarray Dataset or arrays.

A Run keeps its HDF5 file open and reads on each call, so a run opened with SWMR while it trains
shows new rows after refresh(). It finds each series through the dimension scale on its first axis
(`step`, `eval_step`, `stat_step`, `site`), so datasets added later, which do not change the
format version, are read without changes here.
"""

import tomllib
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from . import schema as S
from .schema import FORMAT, FORMAT_VERSION

# Version 1 had no dimension scales, through which this reader finds every series.
OLDEST_FORMAT_VERSION = 2


class RunFileError(ValueError):
    """A file that cannot be read as a normlab run; the message names the file."""


class NotARunError(RunFileError):
    """Not an HDF5 file, or one whose `format` attribute is missing or not `normlab-run`."""


class ForeignFileError(NotARunError):
    """An HDF5 file that opens and is of another format (a sweep's index.h5, an analysis's
    *.sensitivity.h5, anyone's file): load_runs on a directory passes over these."""


class FormatVersionError(RunFileError):
    """A run file of a format version this reader does not read."""


def open_run(path, swmr=False):
    """Opens a run file; swmr=True reads a `.partial` file that `normlab train` is still writing."""
    return Run(path, swmr=swmr)


class Run:
    """An open run file: its attributes, its config, and its series as frames."""

    def __init__(self, path, swmr=False):
        self.path = Path(path)
        self.swmr = swmr
        self._file = _open_checked(self.path, swmr)
        self.attrs = {name: _plain(value) for name, value in self._file.attrs.items()}
        self.config = tomllib.loads(self.attrs[S.ATTR_CONFIG_TOML])
        self.flat_config = _flatten(self.config)
        # Dataset objects live as long as the Run: refresh() updates the ones the frames read.
        self._datasets = {n: d for n, d in self._file.items() if isinstance(d, h5py.Dataset)}
        self._series = _series_by_axis(self._datasets)
        if swmr:
            self.refresh()

    def __repr__(self):
        return f"Run({str(self.path)!r}, {self.run_id}, {self.status}, {self.steps_done} steps)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    @property
    def run_id(self):
        return self.attrs[S.ATTR_RUN_ID]

    @property
    def status(self):
        """As read when opened: a SWMR reader does not see the status the writer sets at the end."""
        return self.attrs[S.ATTR_STATUS]

    @property
    def chance_loss(self):
        """The task's chance-level validation loss in nats, what `stuck` is measured against;
        NaN in files written before the attribute."""
        return float(self.attrs.get(S.ATTR_CHANCE_LOSS, np.nan))

    @property
    def steps_done(self):
        return self._length(S.AXIS_STEP)

    @property
    def statistics(self):
        """The names of the per-site statistics in the file."""
        return list(self._series.get(S.AXIS_STAT_STEP, []))

    def refresh(self):
        """Makes the rows flushed since opening visible (SWMR runs)."""
        # Axes before values: the writer extends values first, so values refreshed later cover
        # an axis refreshed earlier (as long as the file keeps the writer's order).
        for axis in self._series:
            self._datasets[axis].refresh()
        for names in self._series.values():
            for name in names:
                self._datasets[name].refresh()

    def steps(self):
        """Per training step, indexed by `step`: train_loss, lr, grad_norm, step_time."""
        return self._frame(S.AXIS_STEP)

    def evals(self):
        """Per evaluation, indexed by `eval_step`: val_loss, val_metric."""
        return self._frame(S.AXIS_EVAL_STEP)

    def sites(self):
        """The sites in forward order, indexed by `site`: kind, layer, features."""
        frame = self._frame(S.AXIS_SITE)
        return frame.rename(columns=lambda name: name.removeprefix(S.AXIS_SITE + "_"))

    def stat(self, name):
        """One statistic, wide: index `stat_step`, one column per site in forward order."""
        if name not in self.statistics:
            raise KeyError(f"{self.path}: no statistic {name!r}; "
                           f"it has {', '.join(self.statistics) or 'none'}")
        n = self._length(S.AXIS_STAT_STEP)
        return pd.DataFrame(self._datasets[name][:n],
                            index=pd.Index(self._axis(S.AXIS_STAT_STEP, n), name=S.AXIS_STAT_STEP),
                            columns=pd.Index(self.sites().index, name=S.AXIS_SITE))

    def site_stats(self):
        """Every statistic in long form: one row per (stat_step, site), with the site's kind,
        layer and features, one column per statistic."""
        sites = self.sites()
        n = self._length(S.AXIS_STAT_STEP)
        frame = pd.DataFrame({S.AXIS_STAT_STEP: np.repeat(self._axis(S.AXIS_STAT_STEP, n), len(sites)),
                              S.AXIS_SITE: np.tile(sites.index.to_numpy(), n)})
        frame = frame.join(sites, on=S.AXIS_SITE)
        for name in self.statistics:
            frame[name] = self._datasets[name][:n].reshape(-1)  # (K, S) row-major, as above
        return frame

    def dataset(self):
        """The run (without the checkpoint) as an in-memory xarray.Dataset, read by xarray's
        h5netcdf engine: dimensions step, eval_step, stat_step and site, the site tables as
        coordinates on `site`, the root attributes and the flat config in .attrs."""
        if self.swmr:
            # While the writer extends a series, its values run ahead of its axis, which xarray
            # refuses as conflicting sizes.
            raise RunFileError(f"{self.path}: dataset() reads finished files; while the run is "
                               "written use steps(), evals() and site_stats()")
        with xr.open_dataset(self.path, engine="h5netcdf") as opened:
            data = opened.load()
        data = data.set_coords(self._series.get(S.AXIS_SITE, []))  # site_kind, site_layer, ...
        data.attrs.update(self.flat_config)
        return data

    def checkpoint(self):
        """The parameters after the last step, by name (completed and diverged runs)."""
        if S.CHECKPOINT_GROUP not in self._file:
            raise KeyError(f"{self.path}: no checkpoint (status {self.status}); "
                           "only completed and diverged runs have one")
        return {name: d[()] for name, d in self._file[S.CHECKPOINT_GROUP].items()}

    def _length(self, axis):
        """The rows of `axis` that every series on it has.

        The writer extends the values before the axis, yet in a file being written the axis can
        reach the disk first (docs/FORMAT.md promises otherwise; this reader does not rely on it).
        """
        if axis not in self._datasets:  # a version 2 file has no statistics
            return 0
        return min(len(self._datasets[n]) for n in [axis, *self._series.get(axis, [])])

    def _axis(self, axis, n):
        """The first n values of an axis; none when the file lacks it."""
        return _read(self._datasets[axis], n) if axis in self._datasets else np.array([], int)

    def _frame(self, axis):
        """The 1-D series on `axis`, indexed by it."""
        n = self._length(axis)
        index = self._axis(axis, n)
        columns = {name: _read(self._datasets[name], n) for name in self._series.get(axis, [])
                   if self._datasets[name].ndim == 1}
        return pd.DataFrame(columns, index=pd.Index(index, name=axis))


def _open_checked(path, swmr):
    """Opens `path` with h5py after checking `format` and `format_version`."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run file")
    if not h5py.is_hdf5(path):
        raise NotARunError(f"{path}: not a normlab run file (not an HDF5 file)")
    try:
        f = h5py.File(path, "r", swmr=swmr)
    except OSError as e:
        hint = ""
        if path.name.endswith(S.SUFFIX_PARTIAL):
            hint = (" (a run still training, or one whose process was killed, opens with "
                    "swmr=True; see docs/FORMAT.md)")
        raise RunFileError(f"{path}: HDF5 cannot open it: {e}{hint}") from e
    try:
        _check_format(path, f.attrs)
    except RunFileError:
        f.close()
        raise
    return f


def _check_format(path, attrs):
    fmt = _plain(attrs[S.ATTR_FORMAT]) if S.ATTR_FORMAT in attrs else None
    if fmt != FORMAT:
        what = f"no '{S.ATTR_FORMAT}' attribute" if fmt is None else f"its format is {fmt!r}"
        raise ForeignFileError(f"{path}: not a normlab run file ({what}, expected {FORMAT!r})")
    version = (_plain(attrs[S.ATTR_FORMAT_VERSION]) if S.ATTR_FORMAT_VERSION in attrs
               else None)
    if not isinstance(version, int):
        raise NotARunError(f"{path}: a normlab run file without an integer '{S.ATTR_FORMAT_VERSION}' "
                           f"attribute (found {version!r})")
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{path}: run file format version {version}, newer than {FORMAT_VERSION}, the newest "
            "this reader knows; update normlab (analysis/normlab) to read it")
    if version < OLDEST_FORMAT_VERSION:
        raise FormatVersionError(
            f"{path}: run file format version {version}, older than {OLDEST_FORMAT_VERSION}, the "
            "oldest this reader reads (it has no dimension scales); rerun it with a newer normlab")


def _series_by_axis(datasets):
    """Maps each axis to the datasets whose first dimension it labels (its dimension scale)."""
    series = {}
    for name, d in datasets.items():
        if d.ndim >= 1 and len(d.dims[0]) > 0:  # a scale itself has none attached
            series.setdefault(d.dims[0][0].name.lstrip("/"), []).append(name)
    return series


def _read(dataset, n):
    """The first n rows, strings decoded to str."""
    if h5py.check_string_dtype(dataset.dtype):
        return dataset.asstr()[:n]
    return dataset[:n]


def _plain(value):
    """An HDF5 attribute value as a plain Python str, int or float."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _flatten(config, prefix=""):
    """{"model": {"norm": ...}} as {"model.norm": ...}; lists joined by "," (as the `norm`
    attribute does), so every value can be a DataFrame column and a groupby key."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[prefix + key] = ",".join(str(v) for v in value)
        else:
            flat[prefix + key] = value
    return flat
