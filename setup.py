"""Builds normlab._core for `pip install .` with the project's own CMake build (python/CMakeLists.txt):
the C++ library's core and norm layers and the pybind11 module, nothing else (no tests, no
executable). The metadata is in pyproject.toml.

Environment:
  NORMLAB_CMAKE_ARGS   extra configure arguments, e.g. "-DNORMLAB_NATIVE=OFF -DNORMLAB_ARCH=x86-64-v3"
                       for a package that runs on other CPUs than this one (the default is
                       -march=native, as the project's build)
  NORMLAB_BUILD_DIR    an existing CMake build directory to build the module in (reuses its objects)
  CMAKE_BUILD_PARALLEL_LEVEL   jobs for the build (CMake's own variable)
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = Path(os.environ.get("NORMLAB_BUILD_DIR") or Path(self.build_temp).resolve() / "cmake")
        configure = ["cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     "-DNORMLAB_TESTS=OFF", "-DNORMLAB_PYTHON=ON", f"-DPython_EXECUTABLE={sys.executable}",
                     *shlex.split(os.environ.get("NORMLAB_CMAKE_ARGS", ""))]
        if not (build_dir / "CMakeCache.txt").exists() or "NORMLAB_BUILD_DIR" not in os.environ:
            subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "normlab_python"], check=True)
        built = sorted((build_dir / "python" / "normlab").glob("_core*.so"))
        if not built:
            sys.exit(f"setup.py: the CMake build in {build_dir} made no normlab/_core*.so")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[-1], target)


def check_version():
    """pyproject.toml's version is the project's (CMakeLists.txt): one number for both."""
    cmake = re.search(r"project\(normlab VERSION ([\d.]+)", (ROOT / "CMakeLists.txt").read_text())
    toml = re.search(r'^version = "([\d.]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if not cmake or not toml or cmake.group(1) != toml.group(1):
        sys.exit("setup.py: pyproject.toml's version differs from CMakeLists.txt's project version")


check_version()
# setuptools' own work files under build/pip (beside a CMake build/, which .gitignore covers), not
# in the source tree.
setup(ext_modules=[CMakeExtension("normlab._core")], cmdclass={"build_ext": CMakeBuild},
      options={"build": {"build_base": "build/pip"}, "egg_info": {"egg_base": "build/pip"}})
