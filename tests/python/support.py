"""What the Python tests share: the repository, the normlab binary, and tiny training runs.

CTest passes NORMLAB_REPO, NORMLAB_BINARY and NORMLAB_SCHEMA (tests/python/CMakeLists.txt); run by
hand, the tests take this checkout and its build/.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(os.environ.get("NORMLAB_REPO", Path(__file__).resolve().parents[2]))
BINARY = Path(os.environ.get("NORMLAB_BINARY", REPO / "build" / "normlab"))
# Prints the C++ run-file schema (src/io/run_schema.hpp) as JSON.
SCHEMA_BINARY = Path(os.environ.get("NORMLAB_SCHEMA",
                                    REPO / "build" / "tests" / "python" / "normlab_schema"))
# The package: the build's (build/python: the readers beside the extension normlab._core, python/)
# where it was built, else analysis/ (the readers alone).
PACKAGE_ROOT = Path(os.environ.get("NORMLAB_PACKAGE", BINARY.parent / "python"))
sys.path.insert(0, str(PACKAGE_ROOT if (PACKAGE_ROOT / "normlab").is_dir() else REPO / "analysis"))

TRANSFORMER = REPO / "experiments" / "transformer.toml"
GRU = REPO / "experiments" / "gru.toml"
# The language models at a size that trains in a fraction of a second.
SMALL_LM = ["model.width=32", "data.chars=20000"]


# The environment of the normlab processes a test starts: without LD_PRELOAD, which under the
# sanitizer build preloads libasan into this interpreter for the extension (tests/python/
# CMakeLists.txt); the binary there links its own, and a release binary must not get it.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
if "NORMLAB_CHILD_ASAN_OPTIONS" in os.environ:
    CHILD_ENV["ASAN_OPTIONS"] = os.environ["NORMLAB_CHILD_ASAN_OPTIONS"]


def train_command(out, name, *sets, config=None):
    """The `normlab train` command line for a run `name` in `out` with `--set` for each of sets."""
    command = [str(BINARY), "train"] + ([str(config)] if config else [])
    for key_value in (*sets, f"name={name}"):
        command += ["--set", key_value]
    return command + ["--out", str(out)]


def train(out, name, *sets, config=None):
    """Runs `normlab train` to completion and returns the path of its run file."""
    command = train_command(out, name, *sets, config=config)
    result = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return Path(out) / f"{name}.h5"


def normlab(*args, check=True):
    """Runs `normlab ARGS...`; with check, a non-zero exit fails the test with its stderr."""
    result = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, env=CHILD_ENV)
    if check and result.returncode != 0:
        raise AssertionError(f"normlab {' '.join(map(str, args))} failed:\n{result.stderr}")
    return result


def expected_stat_steps(steps, every):
    """The steps docs/FORMAT.md says statistics are taken at: 0, every k, and the last."""
    return sorted(set(range(0, steps, every)) | {steps - 1})
