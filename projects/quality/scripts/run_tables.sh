#!/usr/bin/env bash
# The README table runs on the constructed benchmark, one run folder per (model, seed) under
# runs/quality/tables/. Resumable: a run whose metrics.json exists is skipped.
# Usage: projects/quality/scripts/run_tables.sh [seeds...]   (default seeds: 1 2)
#        MODELS="timm_iqa" projects/quality/scripts/run_tables.sh 1 2   (only these learned families)
set -euo pipefail
cd "$(dirname "$0")/../../.."
seeds=("${@:-1 2}")
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
dir="runs/quality/tables/classical"   # no weights, deterministic: one run
if [[ ! -f "$dir/metrics.json" ]]; then
  rm -rf "$dir"
  .venv/bin/python -m shared eval quality experiment=bench_classical "hydra.run.dir=$dir" logger=csv \
    callbacks.progress_bar=null
fi
for seed in ${seeds[@]}; do
  for model in ${MODELS:-seed_cnn timm_iqa}; do
    dir="runs/quality/tables/${model}-s${seed}"
    if [[ -f "$dir/metrics.json" ]]; then echo "skip $dir (done)"; continue; fi
    rm -rf "$dir"
    echo "== $model seed $seed -> $dir"
    .venv/bin/python -m shared train quality "experiment=bench_${model}" "seed=$seed" "hydra.run.dir=$dir" \
      logger=csv callbacks.progress_bar=null
  done
done
