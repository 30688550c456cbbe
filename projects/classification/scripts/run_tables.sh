#!/usr/bin/env bash
# Trains every model of the paper's Tables 2 and 3 on fashion_top15 for each seed, one run folder per
# (model, seed) under runs/classification/tables/. Resumable: a run whose metrics.json exists is skipped.
# Usage: projects/classification/scripts/run_tables.sh [seeds...]   (default seeds: 1 2)
set -euo pipefail
cd "$(dirname "$0")/../../.."
seeds=("${@:-1 2}")
# Table 3 (baselines) for every seed first, then Table 2 (ablations): the most important rows land first.
table3=(msff_ecomnet resnet50 mobilenetv3_large_100 efficientnet_b0)
table2=(msff_base msff_msp msff_iasm)
for models in "${table3[*]}" "${table2[*]}"; do
for seed in ${seeds[@]}; do
  for model in $models; do
    dir="runs/classification/tables/${model}-s${seed}"
    if [[ -f "$dir/metrics.json" ]]; then echo "skip $dir (done)"; continue; fi
    rm -rf "$dir"
    echo "== $model seed $seed -> $dir"
    .venv/bin/python -m shared train classification experiment=fashion_top15 "model=$model" "seed=$seed" \
      "hydra.run.dir=$dir" logger=csv callbacks.progress_bar=null
  done
done
done
