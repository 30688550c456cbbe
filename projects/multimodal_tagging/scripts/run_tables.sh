#!/usr/bin/env bash
# Trains every README row on fashion_tags for each seed: runs/multimodal_tagging/tables/<row>-s<seed>/.
# Resumable: a run whose metrics.json exists is skipped. Most important rows first (the full model and
# the ablations at 10% precise labels), then the precise-fraction curve (5%, 25%, 100%).
# Usage: projects/multimodal_tagging/scripts/run_tables.sh [seeds...]   (default seeds: 1 2)
# ROWS="full concat" restricts to some rows.
set -euo pipefail
cd "$(dirname "$0")/../../.."
seeds=("${@:-1 2}")
read -r -a seeds <<< "${seeds[*]}"
declare -A args=(
  [full]="model=dual_attention"
  [no_industry]="model=no_industry"
  [concat]="model=concat"
  [no_knn]="experiment=fashion_tags_no_knn"
  [image_only]="model=image_only"
  [text_only]="model=text_only"
  [frac0.05]="weak.precise_fraction=0.05"
  [frac0.25]="weak.precise_fraction=0.25"
  [frac1.0]="weak.precise_fraction=1.0"
)
order=(full no_industry concat no_knn image_only text_only frac0.05 frac0.25 frac1.0)
read -r -a rows <<< "${ROWS:-${order[*]}}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline
for row in "${rows[@]}"; do
  for seed in "${seeds[@]}"; do
    out="runs/multimodal_tagging/tables/${row}-s${seed}"
    if [[ -f "$out/metrics.json" ]]; then echo "skip $out (done)"; continue; fi
    rm -rf "$out"
    extra=${args[$row]}
    [[ $extra == experiment=* ]] || extra="experiment=fashion_tags $extra"
    echo "[$(date +%H:%M:%S)] $row seed $seed: $extra"
    nice -n 10 .venv/bin/python -m shared train multimodal_tagging $extra seed=$seed logger=csv \
      callbacks.progress_bar=null paths.output_dir="$out" > "$out.log" 2>&1 || echo "FAILED $row s$seed (see $out.log)"
  done
done
