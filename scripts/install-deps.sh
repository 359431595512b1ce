#!/usr/bin/env bash
# Installs what normlab needs from Debian 12's archive; a no-op when everything is there.
#   scripts/install-deps.sh            build + test dependencies (the C++ side and analysis/normlab)
#   scripts/install-deps.sh --python   also PyTorch, for the fixture generators and bench train
#   scripts/install-deps.sh --slurm    also Slurm and MUNGE, for the real Slurm test (.ci/run uses it)
#   scripts/install-deps.sh --fuzz     also clang and libFuzzer, for fuzz/ (.ci/run uses it)
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev   # tensors, SIMD; linalg::svd
  libopenblas-dev                                          # BLAS (CBLAS) and LAPACK
  nlohmann-json3-dev                                       # JSON (bench train and its PyTorch peer)
  libhdf5-dev hdf5-tools                                   # run files, fixtures, h5dump
  libboost-program-options-dev                             # command line
  libtomlplusplus-dev                                      # experiment files
  zlib1g-dev                                               # reading the gzipped MNIST files
  libssl-dev                                               # SHA-256 (libcrypto): data/ checksums
  catch2                                                   # tests (Catch2 v2)
  pybind11-dev python3-dev                                 # the Python module normlab._core (python/)
  python3 python3-venv python3-setuptools python3-wheel    # /usr/bin/python3: analysis/, its tests; pip install . into a venv (offline: these build it)
  python3-numpy python3-h5py                               # arrays; run files in HDF5
  python3-pandas                                           # run files as DataFrames
  python3-scipy                                            # t and Fisher tests (failure_counts.py, gap_by_step.py, LR sensitivity); the tests' cross-checks
  python3-xarray python3-h5netcdf                          # run files as Datasets (xarray's engine)
  python3-matplotlib                                       # the example notebook's figures
  python3-nbformat python3-nbclient                        # running the notebook in the tests
  python3-ipykernel                                        # its kernel (the python3 kernelspec)
)
for option in "$@"; do
  case "$option" in
    --python) packages+=(python3-torch) ;;                 # tests/gen_*fixtures.py, bench train
    --slurm) packages+=(slurm-wlm munge) ;;                # tests/slurm/test_slurm.sh
    --fuzz) packages+=(clang-16 libclang-rt-16-dev) ;;     # fuzz/: clang++-16 (C++20 lambdas capturing structured bindings), libFuzzer + ASan
    *) echo "install-deps: unknown option $option (known: --python, --slurm, --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
