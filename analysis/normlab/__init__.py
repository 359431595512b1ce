"""normlab from Python: the normalizers on numpy arrays (the extension module _core, built from
python/module.cpp: Normalizer, kinds, kind_info), in PyTorch (normlab.torch), and the run files of
`normlab train` (docs/FORMAT.md) read into pandas and xarray: one run, live or finished (runs.py), or
many at once with their config keys as columns (frames.py).

The readers are plain Python; the normalizers need the extension, which a build tree holds in
build/python/normlab/ (PYTHONPATH=build/python) and `pip install .` installs."""

from .frames import (Runs, evals_frame, load_runs, stats_frame, steps_frame, summary,
                     sweep_dataset, varying_keys)
from .runs import (FORMAT, FORMAT_VERSION, OLDEST_FORMAT_VERSION, ForeignFileError,
                   FormatVersionError, NotARunError, Run, RunFileError, open_run)
from .launch import TrainError, open_sweep, train

# The extension's names; without it (analysis/ on the path, no build) the readers still work and
# these raise an ImportError that says how to get it.
_CORE_NAMES = ("Normalizer", "Cache", "NormlabError", "kinds", "kind_info", "options", "set_threads",
               "threads")
try:
    from ._core import Cache, Normalizer, NormlabError, kind_info, kinds, options, set_threads, threads
except ImportError as _missing:
    _CORE_ERROR = _missing

    def __getattr__(name):
        if name in _CORE_NAMES:
            raise ImportError(
                f"normlab.{name} needs the extension module normlab._core, which this copy of the "
                f"package ({__path__[0]}) does not have ({_CORE_ERROR}). Build it (cmake --build "
                "build) and put build/python on the path instead of analysis/, or pip install the "
                "repository (README, Python)") from _CORE_ERROR
        raise AttributeError(f"module 'normlab' has no attribute '{name}'")

__all__ = [
    "FORMAT", "FORMAT_VERSION", "OLDEST_FORMAT_VERSION",
    "RunFileError", "NotARunError", "ForeignFileError", "FormatVersionError",
    "Run", "open_run",
    "Runs", "load_runs", "varying_keys", "summary", "steps_frame", "evals_frame", "stats_frame",
    "sweep_dataset",
    "train", "open_sweep", "TrainError",
]
if "_CORE_ERROR" not in globals():
    __all__ += _CORE_NAMES
