#!/usr/bin/env bash
# The papers' tables in miniature (issue 8, redone in the papers' regimes for issue 18), with
# normlab's own experiments beside them. Runs each sweep of experiments/sweeps/<experiment>.toml,
# then `normlab table` (Markdown, CSV, LaTeX) and `normlab plot` into RESULTS/<experiment>/.
#
#   experiments/run_paper_tables.sh [--jobs N]        # full size: results/<experiment>/, about
#                                                     # 1 h 45 min with --jobs 2 on 2 cores
#                                                     # (twt_depth about an hour); sweep
#                                                     # dirs in sweeps/paper/
#   experiments/run_paper_tables.sh --tiny --out DIR  # every run at a tiny size (the ctest
#                                                     # paper_tables.tiny): a few minutes
# Options: --only a,b (some experiments), --binary PATH (default build/normlab), --out DIR (the
# results root; default results/, or build/paper-tiny/results with --tiny), --sweeps DIR (the
# sweep directories; default sweeps/paper, or beside --out with --tiny).
# The per-experiment README.md files (the comparison with the papers) are written by hand from
# the tables; this script never touches them. Rerunning skips the runs already done.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=$repo/build/normlab
jobs=2
tiny=0
out=""
sweeps=""
only=""
experiments=(paper_gru_shakespeare paper_transformer twt_depth init_offset init_offset_delay
             lr_sensitivity mlp_mnist dyt_shakespeare)

while [[ $# -gt 0 ]]; do
  case $1 in
    --tiny) tiny=1 ;;
    --jobs) jobs=$2; shift ;;
    --binary) binary=$2; shift ;;
    --out) out=$2; shift ;;
    --sweeps) sweeps=$2; shift ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run_paper_tables.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n $only ]]; then
  IFS=, read -r -a experiments <<< "$only"
fi
if [[ $tiny == 1 ]]; then
  out=${out:-$repo/build/paper-tiny/results}
  sweeps=${sweeps:-$out/../sweeps}
else
  out=${out:-$repo/results}
  sweeps=${sweeps:-$repo/sweeps/paper}
fi

# --tiny: a few steps at tiny widths, by `normlab sweep --set` over the real sweep files, so
# every key and value they hold is checked and every stage runs.
tiny_sets() {
  local family=$1
  local sets=(train.steps=6 train.eval_every=3 data.val_size=8 stats.every=3 model.width=16
              train.checkpoint_every=0)
  case $family in
    gru) sets+=(model.embed=8 model.context=16) ;;
    transformer) sets+=(model.context=16) ;;
  esac
  for s in "${sets[@]}"; do printf -- '--set\n%s\n' "$s"; done
}

for e in "${experiments[@]}"; do
  file=$repo/experiments/sweeps/$e.toml
  [[ -f $file ]] || { echo "run_paper_tables.sh: no sweep file $file" >&2; exit 2; }
  family=$(sed -n 's/^experiment *= *"\.\.\/\([a-z]*\)\.toml".*/\1/p' "$file")
  extra=()
  if [[ $tiny == 1 ]]; then mapfile -t extra < <(tiny_sets "$family"); fi
  dir=$sweeps/$e
  dest=$out/$e
  table_opts=()   # twt_depth compares post-norm with pre-norm, not normalizers
  if [[ $e == twt_depth ]]; then table_opts=(--baseline model.placement=pre); fi
  # dyt_shakespeare: each row against RMSNorm (LLaMA's norm) with the same embedding scale
  if [[ $e == dyt_shakespeare ]]; then table_opts=(--baseline model.norm=rmsnorm,model.norm_options=); fi
  stats=in_rms,in_mean_share
  if [[ $e == dyt_shakespeare ]]; then stats=in_rms,saturated_share,alpha; fi
  mkdir -p "$dest"
  start=$(date +%s)
  echo "== $e: normlab sweep -> $dir"
  # A diverged run is a result (exit 0); a failed run stops the script here.
  "$binary" sweep "$file" --out "$dir" --jobs "$jobs" "${extra[@]}" | tail -n 3
  took=$(( $(date +%s) - start ))
  command="experiments/run_paper_tables.sh --only $e"
  if [[ $tiny == 1 ]]; then command+=" --tiny"; fi
  {
    echo "<!-- normlab table $e: regenerate with \`$command\` (sweep: \`normlab sweep experiments/sweeps/$e.toml --jobs $jobs\`, then \`normlab table DIR${table_opts[*]:+ ${table_opts[*]}}\`) -->"
    "$binary" table "$dir" --format md "${table_opts[@]}"
  } > "$dest/table.md"
  "$binary" table "$dir" --format csv --out "$dest/table.csv" "${table_opts[@]}" > /dev/null
  {
    echo "% regenerate with: $command"
    "$binary" table "$dir" --format latex "${table_opts[@]}"
  } > "$dest/table.tex"
  "$binary" plot "$dir" --out "$dest" --stat "$stats" | sed 's/^/  /'
  echo "   sweep took ${took} s; table -> $dest/table.md"
  cat "$dest/table.md"
done
