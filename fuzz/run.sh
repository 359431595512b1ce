#!/usr/bin/env bash
# Runs every fuzz target for SECONDS on its seed corpus (fuzz/corpus/<target>, copied, so the
# committed corpus only changes by hand) and fails on the first crash, leak or timeout, whose
# input is left in BUILD/fuzz-artifacts/.
#   bash fuzz/run.sh BUILD_DIR [SECONDS] [TARGET ...]
# NORMLAB_FUZZ_REPORT_ONLY=1 reports a finding of the timed fuzzing and goes on (CI sets it: the
# findings so far are inside libhdf5 itself, fuzz/README.md); the seed-corpus replay always fails.
# NORMLAB_FUZZ_SEED=N fixes libFuzzer's seed (CI does, so a run is repeatable); unset, each run
# explores anew, as a run at length by hand should.
set -euo pipefail
build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS] [TARGET ...]}
seconds=${2:-55}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
((${#targets[@]})) || targets=(config run_file checkpoint apply)
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
findings=0
# First the committed seed corpus, replayed as it is: every input must pass, always (this step
# fails the run whatever NORMLAB_FUZZ_REPORT_ONLY says).
for t in "${targets[@]}"; do
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 LSAN_OPTIONS=suppressions="$here/lsan.supp" \
    "$build/fuzz/fuzz_$t" -runs=0 -timeout=30 "$here/corpus/$t" >"$artifacts/$t.replay.log" 2>&1 || {
      tail -n 30 "$artifacts/$t.replay.log"; echo "fuzz: $t fails on its seed corpus" >&2; exit 1; }
  echo "fuzz: $t passes its seed corpus"
done
for t in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$t"
  mkdir -p "$corpus"
  cp -n "$here/corpus/$t/"* "$corpus/" 2>/dev/null || true
  echo "fuzz: $t for $seconds s"
  # -timeout: one input over 30 s is a hang (the readers' own child gives up after ~5 s);
  # -rss_limit_mb: a damaged extent must not make a reader allocate gigabytes.
  log="$artifacts/$t.log"
  status=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 LSAN_OPTIONS=suppressions="$here/lsan.supp" \
    "$build/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    -max_len=200000 ${NORMLAB_FUZZ_SEED:+-seed=$NORMLAB_FUZZ_SEED} -print_final_stats=1 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1 || status=$?
  tail -n 12 "$log"
  if ((status != 0)); then
    echo "fuzz: $t found a crash or hang (exit $status); its input is in $artifacts" >&2
    if [[ -n ${NORMLAB_FUZZ_REPORT_ONLY:-} ]]; then
      findings=$((findings + 1))
      continue
    fi
    exit "$status"
  fi
done
if ((findings > 0)); then
  echo "fuzz: $findings of ${#targets[@]} targets made findings (reported, not failing: NORMLAB_FUZZ_REPORT_ONLY)"
else
  echo "fuzz: ${#targets[@]} targets clean"
fi
