"""From Python to a run and back: train() runs `normlab train` on a config (a TOML file or a dict)
and opens the run file it wrote; open_sweep() reads a directory of runs as one xarray Dataset.

The binary does all the checking: train() writes a dict config to a temporary TOML file
(toml_text.py) and passes `--set` only for its own arguments (name, threads, set=), so an unknown
key or a wrong type fails exactly as on the command line, with the binary's message in a TrainError.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from . import schema as S
from .frames import load_runs, sweep_dataset
from .runs import RunFileError, open_run
from .toml_text import to_toml, toml_value

# <repo>/build/normlab, for a checkout built as the README says (this file is analysis/normlab/).
_CHECKOUT_BINARY = Path(__file__).resolve().parents[2] / "build" / "normlab"
# The last lines of `normlab train` (src/cli/train.cpp) name the run file it wrote, or found.
_FINISHED = re.compile(r"^\w+ after \d+ steps.* -> (?P<path>.+)$")
_ALREADY = re.compile(r"^(?P<path>.+): this run is already \w+ \(the same config\)")
# train's exit statuses (README): 0 trained to its end (completed or stuck), 3 diverged or
# interrupted (a run file all the same); 1 failed, 2 a usage error.
_EXIT_RUN_WRITTEN = (0, 3)


class TrainError(RuntimeError):
    """`normlab train` failed (exit status 1 or 2, or no run file). The message holds the binary's
    own error (stderr), the exit status and the command line; so do the attributes."""

    def __init__(self, message, command, returncode, stderr):
        super().__init__(message)
        self.command, self.returncode, self.stderr = command, returncode, stderr


def find_binary(binary=None):
    """The normlab executable: `binary`, else $NORMLAB_BINARY, else normlab._core.build_binary (the
    build tree of the Python extension), else `normlab` on PATH, else <repo>/build/normlab. A path
    given by the argument or the environment must exist: it is never passed over for another."""
    for given, what in ((binary, "binary="), (os.environ.get("NORMLAB_BINARY"), "NORMLAB_BINARY=")):
        if given:
            path = Path(given)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise FileNotFoundError(f"{what}{path}: no executable normlab there; build it "
                                        "(cmake --build build) or fix the path")
            return path
    tried = ["binary= (not given)", "$NORMLAB_BINARY (not set)"]
    candidates = []
    try:
        from . import _core  # the C++ extension, when it is built
        candidates.append((Path(_core.build_binary), "normlab._core.build_binary"))
    except (ImportError, AttributeError):
        tried.append("normlab._core.build_binary (no such extension or attribute)")
    on_path = shutil.which("normlab")
    if on_path:
        candidates.append((Path(on_path), "PATH"))
    else:
        tried.append("`normlab` on PATH (none)")
    candidates.append((_CHECKOUT_BINARY, "the checkout's build/"))
    for path, what in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"{what}: {path} (missing)")
    raise FileNotFoundError("no normlab executable found; tried:\n  " + "\n  ".join(tried) +
                            "\nbuild it (README: cmake -S . -B build && cmake --build build -j2), "
                            "or give binary= or NORMLAB_BINARY")


def train(config=None, out=None, *, set=None, name=None, overwrite=False, resume=False,
          binary=None, threads=None, check=True, quiet=True):
    """Trains one config with `normlab train` and returns its run file, opened (a normlab.Run; close
    it, or use `with`).

    config: a TOML file, a dict (tables nested as in the file, dotted keys "model.norm", or both)
        or None for the defaults (experiments/defaults.toml, compiled into the binary).
    out: the directory of the run file (--out); None: the config's train.out, runs/ under the
        current directory.
    set: {dotted key: value} applied after the config, as --set key=value.
    name, threads: the config keys `name` (the run file is OUT/NAME.h5) and `threads`.
    overwrite, resume: --overwrite (replace a finished run of another config at the path) and
        --resume (continue from the run's checkpoint).
    binary: the normlab executable (else find_binary's search).
    check: a failure (exit status 1 or 2: a bad key, a run of another config already at the path)
        raises a TrainError with the binary's message; check=False warns with it and returns None.
    quiet: False prints the binary's output as it trains.

    A run that diverged or was interrupted (exit status 3) is returned all the same: its status
    says which (an interrupted run is OUT/NAME.h5.partial; resume=True continues it).
    """
    text = to_toml(config) if isinstance(config, dict) else None  # Python's errors come first
    overrides = {**(set or {}), **{k: v for k, v in (("name", name), ("threads", threads))
                                   if v is not None}}
    options = [arg for key, value in overrides.items()
               for arg in ("--set", f"{key}={toml_value(value, key)}")]
    options += (["--out", str(out)] if out is not None else []) + \
        (["--overwrite"] if overwrite else []) + (["--resume"] if resume else [])
    executable = find_binary(binary)
    with tempfile.TemporaryDirectory(prefix="normlab-train-") as tmp:
        if text is not None:
            config = Path(tmp) / "config.toml"  # named in the binary's errors
            config.write_text(text, encoding="utf-8")
        command = [str(executable), "train", *([str(config)] if config is not None else []), *options]
        returncode, stdout, stderr = _run(command, quiet)
    path = _run_file(stdout) if returncode in _EXIT_RUN_WRITTEN else None
    if path is not None and path.exists():
        return _open_finished(path)
    why = f"exit status {returncode}"
    if returncode in _EXIT_RUN_WRITTEN:
        why += f", yet no run file at {path}" if path else ", yet its output names no run file"
    error = TrainError(f"normlab train failed ({why}):\n{stderr.strip() or stdout.strip()}\n"
                       f"command: {subprocess.list2cmdline(command)}", command, returncode, stderr)
    if check:
        raise error
    warnings.warn(str(error), stacklevel=2)
    return None


def open_sweep(directory, include_partial=False, config=None):
    """Every run file under `directory` (recursively: a sweep directory or its runs/) as one
    xarray.Dataset in memory, with a `run` dimension and the config keys that vary (or those in
    `config`) as coordinates on it (frames.sweep_dataset); the files are closed again.

    include_partial adds the `.partial` files of interrupted runs (closed cleanly by the trainer);
    one still being written or left by a killed process is passed over with a warning."""
    root = Path(directory)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such directory")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory (open_run reads one run file)")
    with load_runs(root, include_partial=include_partial) as runs:
        _reopen_partial(runs)
        if not runs:
            skipped = f" ({len(runs.skipped)} HDF5 files of other formats)" if runs.skipped else ""
            raise FileNotFoundError(f"{root}: no run files in it or below{skipped}; "
                                    "`normlab train --out DIR` or `normlab sweep` writes them")
        return sweep_dataset(runs, config)


def _run(command, quiet):
    """Runs the binary; returns (exit status, stdout, stderr). Without quiet its output goes on to
    sys.stdout as it comes (a notebook shows it too). A KeyboardInterrupt (a notebook's interrupt
    reaches only Python) stops the run as Ctrl-C would, with SIGINT, and waits for it to close its
    file before raising."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True,
                             encoding="utf-8", errors="surrogateescape") as process:
        lines = []
        try:
            for line in process.stdout:
                lines.append(line)
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            returncode = process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            process.wait()
            raise
        err.seek(0)
        stderr = err.read()
    if not quiet and stderr:
        sys.stderr.write(stderr)
    return returncode, "".join(lines), stderr


def _run_file(stdout):
    """The run file `normlab train` reports in its last lines (relative to the current directory,
    as the binary was run in it), or None."""
    for line in reversed(stdout.splitlines()):
        match = _FINISHED.match(line) or _ALREADY.match(line)
        if match:
            return Path(match["path"]).absolute()
    return None


def _open_finished(path):
    """A finished run file; an interrupted run's `.partial` is closed cleanly, so it opens without
    SWMR too (and then has dataset()); one that does not falls back to SWMR."""
    try:
        return open_run(path)
    except RunFileError:
        if not path.name.endswith(S.SUFFIX_PARTIAL):
            raise
        return open_run(path, swmr=True)


def _reopen_partial(runs):
    """Replaces the SWMR-opened `.partial` runs of load_runs by plain opens (xarray reads those);
    drops, with a warning, the ones HDF5 refuses (still written, or killed)."""
    for i in reversed(range(len(runs))):
        if not runs[i].swmr:
            continue
        path = runs[i].path
        runs[i].close()
        try:
            runs[i] = open_run(path)
        except RunFileError as e:
            del runs[i]
            warnings.warn(f"open_sweep: passed over {path}, still training or killed ({e}); "
                          "h5clear -s makes a killed run's file readable", stacklevel=3)
