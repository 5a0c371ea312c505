#!/usr/bin/env bash
# Full mutation score of the default regression (issue 14): 40 mutants of each of the
# default int8 configuration and the sidra_y1 crossbar, both simulators, survivors
# classified with `qmac equiv`. CPU heavy: every mutant is a fresh Verilator build plus the
# whole default regression (Icarus: 10 s per random test) until a testbench fails — about
# 2-4 minutes per mutant on a quiet 2-core machine for the 4x4 array, far more for the
# 16x16 int8 and the 64x16 crossbar. Runs nice'd, one configuration after the other, each
# with a log; outcomes.json in each directory is updated after every mutant.
#
#   bash benchmarks/mutation_score.sh [OUT_DIR] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/mutation}
count=${2:-40}
qmac=${QMAC:-.venv/bin/qmac}
mkdir -p "$out"
for cfg in constraints/int8.yaml constraints/sidra_y1.yaml benchmarks/int8_4x4.yaml; do
  name=$(basename "$cfg" .yaml)
  echo "== $cfg: $count mutants, icarus + verilator (log: $out/$name.log)"
  PYTHONUNBUFFERED=1 nice -n 10 "$qmac" mutate "$cfg" --count "$count" \
    --sim icarus,verilator --seed 1 --equiv-timeout 600 -o "$out/$name" 2>&1 | tee "$out/$name.log"
done
