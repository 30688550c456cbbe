#!/usr/bin/env bash
# The issue-15 comparison on GrabCut test, all methods in one run: the shipped model (wbh_colour), the
# paper's wbh and the anchors grabcut / random_walker, for 1/3/5 simulated clicks, the foreground
# strokes of scribble sets 1 and 2, and set 2 with its background strokes too. One folder per run under
# runs/variational_seg/anchors/<row>-<model>; the folder is cleared first (RESUME=1 keeps finished runs).
# Then: python -m projects.variational_seg.report runs/variational_seg/anchors/k3-{wbh_colour,wbh,grabcut,random_walker}
# Usage: OMP_NUM_THREADS=1 projects/variational_seg/scripts/run_anchor_tables.sh [models...]
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=runs/variational_seg/anchors
models=(${@:-wbh_colour wbh grabcut random_walker})
declare -A marker_args=(
  [k1]="markers.k=1" [k3]="markers.k=3" [k5]="markers.k=5"
  [scribbles_set1]="markers.source=scribbles_set1" [scribbles_set2]="markers.source=scribbles_set2"
  [scribbles_set2_bg]="markers.source=scribbles_set2 markers.background=true")
for row in k1 k3 k5 scribbles_set1 scribbles_set2 scribbles_set2_bg; do
  for model in "${models[@]}"; do   # per row every method in turn: machine noise hits all alike
    dir="$root/${row}-${model}"
    if [[ "${RESUME:-0}" == 1 && -f "$dir/summary.json" ]]; then echo "skip $dir (done)"; continue; fi
    rm -rf "$dir"
    echo "== eval $model $row -> $dir"
    .venv/bin/python -m shared eval variational_seg data=grabcut "model=$model" ${marker_args[$row]} \
      "hydra.run.dir=$dir" logger=csv 2>&1 | grep -E "^(wbh|grabcut|random|error)" || true
  done
done
