#!/usr/bin/env bash
# Regenerate docs/results/ (and the planner's defect calibration) from the campaign commands the README
# quotes. Simulated parts only. Seed 5150 is the tuning seed (the calibration is fitted on it, the press
# budget was chosen on it); seed 424242 is only ever reported on. Rerun whenever a model or the method
# changes: `make results` (about an hour on 2 shared cores; `WORKERS=2 make results` runs two parts at a
# time). Work files (per-part records, plots) stay in runs/results/; only the summaries, their tables and
# the recall-vs-presses plot are copied.
set -euo pipefail
cd "$(dirname "$0")/.."
inspection=${INSPECTION:-.venv/bin/inspection}
work=runs/results
out=docs/results
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$work" "$out"

# Every campaign runs its parts in WORKERS local worker processes (default 1; the figures do not depend on it).
campaign() { "$inspection" eval campaign --workers "${WORKERS:-1}" "$@"; }

# Tuning seed: which Stage I confidences held a defect, and what each press budget buys.
campaign --parts 8 --seed 5150 --json "$work/tune5150.json" --ablation low-confidence
"$inspection" train doubt --campaign "$work/tune5150.json" --out models/defect_calibration.json
campaign --parts 8 --seed 5150 --json "$work/tune5150.json" --ablation shipped,paper,low-confidence,budgeted

# Reported seed: the shipped pipeline (config/pipeline.yaml, the headline) beside the paper's method, the
# budgeted planner's curve and, on 4 parts, full coverage.
campaign --parts 20 --seed 424242 --json "$work/seed424242.json" \
  --ablation shipped,vision-only,paper,low-confidence,budgeted
campaign --parts 4 --seed 424242 --json "$work/seed424242-all.json" --ablation all

for name in tune5150 seed424242 seed424242-all; do
  cp "$work/$name.json" "$work/$name.md" "$out/"
done
cp "$work/seed424242_presses_vs_recall.png" "$work/seed424242-all_presses_vs_recall.png" "$out/"
echo "results: $(ls "$out" | tr '\n' ' ')"
