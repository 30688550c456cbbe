#!/usr/bin/env bash
# Every GrabCut run of the README tables, one folder each under runs/variational_seg/tables/:
# <model>-<markers> for wbh, rci, tv, unet x {k1, k3, k5, k10, scribbles_set1, scribbles_set2}, plus the
# U-Net training run (unet-train). Resumable: a folder with summary.json (or the U-Net's last.ckpt) is kept.
# Then: python -m projects.variational_seg.report runs/variational_seg/tables/{wbh,rci,tv,unet}-k3
# Usage: projects/variational_seg/scripts/run_tables.sh [models...]   (default: wbh rci tv unet;
#        the README's ablation rows: run_tables.sh tv_tv2 wbh_nogeo)
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=runs/variational_seg/tables
models=("${@:-wbh rci tv unet}")
declare -A marker_args=(
  [k1]="markers.k=1" [k3]="markers.k=3" [k5]="markers.k=5" [k10]="markers.k=10"
  [scribbles_set1]="markers.source=scribbles_set1" [scribbles_set2]="markers.source=scribbles_set2")
ckpt="$root/unet-train/checkpoints/last.ckpt"
for model in ${models[@]}; do
  if [[ "$model" == unet && ! -f "$ckpt" ]]; then
    echo "== train unet -> $root/unet-train"
    .venv/bin/python -m shared train variational_seg model=unet "hydra.run.dir=$root/unet-train" logger=csv \
      callbacks.progress_bar=null
  fi
  for markers in k1 k3 k5 k10 scribbles_set1 scribbles_set2; do
    dir="$root/${model}-${markers}"
    if [[ -f "$dir/summary.json" ]]; then echo "skip $dir (done)"; continue; fi
    rm -rf "$dir"
    echo "== eval $model $markers -> $dir"
    extra=()
    [[ "$model" == unet ]] && extra=("ckpt_path=$PWD/$ckpt")
    .venv/bin/python -m shared eval variational_seg data=grabcut "model=$model" ${marker_args[$markers]} \
      "hydra.run.dir=$dir" logger=csv "${extra[@]}"
  done
done
