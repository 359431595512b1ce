#!/usr/bin/env bash
# Optional: a second PyTorch peer for `normlab bench train`, a current torch 2.x CPU wheel in a
# virtual environment of its own (.venv-torch2/ in the repository, git-ignored). Neither CI nor
# the quick start needs it; Debian's python3-torch (1.13) stays the default peer.
#
#   scripts/install-torch2.sh            # -> .venv-torch2/bin/python
#   build/normlab bench train --python /usr/bin/python3,.venv-torch2/bin/python
#
# Environment: VENV (default <repo>/.venv-torch2), PYTHON (default /usr/bin/python3),
# TORCH_INDEX (default the CPU-only wheel index). When that index cannot be reached (only PyPI is,
# on this project's machines) it falls back to plain PyPI, whose Linux wheel also pulls the CUDA
# libraries: a few GB of download that the CPU peer never loads a kernel from.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv-torch2}
python=${PYTHON:-/usr/bin/python3}
index=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}

if [ ! -x "$venv/bin/python" ]; then
  # Debian splits ensurepip into python3-venv; say so instead of failing half-way.
  "$python" -m venv "$venv" || {
    echo "install-torch2.sh: '$python -m venv' failed; on Debian: apt-get install python3-venv" >&2
    exit 1
  }
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [ -z "$index" ] || ! "$venv/bin/python" -m pip install --quiet torch --index-url "$index"; then
  echo "install-torch2.sh: no CPU-only wheel from '${index:-(none)}'; installing torch from PyPI" >&2
  "$venv/bin/python" -m pip install --quiet torch
fi
# torch.compile's inductor backend needs a C++ compiler at run time (g++ here) and numpy is
# what it warns about when missing; neither is needed for the eager peer.
"$venv/bin/python" -m pip install --quiet numpy || true
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "in", torch.__file__)'
echo "peer: $venv/bin/python  (build/normlab bench train --python /usr/bin/python3,$venv/bin/python)"
