#!/usr/bin/env bash
# Checks that a portable normlab binary can run on a CPU without AVX-512: no AVX-512 instruction
# (a zmm or mask register, an EVEX-only register xmm16-31/ymm16-31) outside the AVX-512 kernel
# unit's functions (core/kernels_avx512.cpp, namespace normlab::kernels::avx512), which run only
# where the CPU has AVX-512 (runtime dispatch, core/kernels.hpp).
#
#   bash scripts/check_isa.sh build-v3/normlab            # a NORMLAB_NATIVE=OFF build
#   bash scripts/check_isa.sh --object build/CMakeFiles/normlab_core.dir/src/core/kernels_avx2.cpp.o
#                                                         # one unit: none at all
# A -march=native build on an AVX-512 machine uses AVX-512 everywhere by design: check the
# portable build (README, "Speed on other CPUs").
set -euo pipefail
whole=1
if [[ ${1:-} == --object ]]; then whole=0; shift; fi
file=${1:?usage: check_isa.sh [--object] BINARY_OR_OBJECT}
[[ -f $file ]] || { echo "check_isa: $file: no such file" >&2; exit 2; }
avx512='zmm|\{%k[1-7]\}|%k[0-7]\b|%[xy]mm(1[6-9]|2[0-9]|3[01])\b'
found=$(objdump -d --no-show-raw-insn -C "$file" | awk -v re="$avx512" -v whole="$whole" '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  $0 ~ re && !(whole && fn ~ /normlab::kernels::avx512::/) { n[fn]++ }
  END { for (f in n) printf "%6d  %s\n", n[f], f }' | sort -rn)
if [[ -n $found ]]; then
  echo "check_isa: $file: AVX-512 instructions$( ((whole)) && echo " outside the AVX-512 kernels") (count, function):" >&2
  echo "$found" | head -20 >&2
  exit 1
fi
if ((whole)); then
  echo "check_isa: $file: no AVX-512 instruction outside normlab::kernels::avx512"
else
  echo "check_isa: $file: no AVX-512 instruction"
fi
