#!/usr/bin/env bash
# The README's first small CCP run: supervised / UniMatch V2 / MvpMatch at one label ratio, CPU-sized
# (experiment=ccp_small). One run folder per method under runs/semiseg/ccp_small/; resumable: a run
# whose metrics.json exists is skipped.
# Usage: projects/semiseg/scripts/run_ccp_small.sh [ratio] [seed]     (default: 1_4 0)
set -euo pipefail
cd "$(dirname "$0")/../../.."
ratio="${1:-1_4}"; seed="${2:-0}"
for method in supervised unimatch_v2 mvpmatch; do
  dir="runs/semiseg/ccp_small/${ratio}-${method}-s${seed}"
  if [[ -f "$dir/metrics.json" ]]; then echo "skip $dir (done)"; continue; fi
  rm -rf "$dir"
  echo "== $method ratio $ratio seed $seed -> $dir"
  .venv/bin/python -m shared train semiseg experiment=ccp_small "method=$method" "data.options.ratio='$ratio'" \
    "seed=$seed" "hydra.run.dir=$dir" logger=csv callbacks.progress_bar=null
done
