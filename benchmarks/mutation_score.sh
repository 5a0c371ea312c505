#!/usr/bin/env bash
# Mutation score of the default regression (issue 14): COUNT mutants of each of the default
# int8 configuration and the sidra_y1 crossbar, both simulators, survivors classified with
# `qmac equiv`. Mutant schemata: every mutant is planted in ONE copy of the generated
# Verilog behind `+qmac_mutant=K`, so each simulator builds once per configuration (a
# 16x16 Verilator build is ~3 minutes under load) and a mutant costs only its test runs —
# the default regression, testbench after testbench, until one fails (a survivor runs
# them all). Runs nice'd, each configuration with a log; outcomes.json in each directory
# is updated after every mutant, and `CPU` lines report user+sys time (children included).
#
#   bash benchmarks/mutation_score.sh [OUT_DIR] [COUNT] [SEED]
#   QMAC_MUTATE_PARALLEL=1 ...   both configurations at once (Verilator builds take turns)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/mutation}
count=${2:-40}
seed=${3:-1}
qmac=${QMAC:-.venv/bin/qmac}
mkdir -p "$out"
one() {
  local cfg=$1 name
  name=$(basename "$cfg" .yaml)
  echo "== $cfg: $count mutants (seed $seed), icarus + verilator (log: $out/$name.log)"
  PYTHONUNBUFFERED=1 /usr/bin/time -f "CPU $name: user %U s, sys %S s, wall %e s" \
    nice -n 10 "$qmac" mutate "$cfg" --count "$count" --sim icarus,verilator \
    --seed "$seed" --equiv-timeout 120 -o "$out/$name" > "$out/$name.log" 2>&1 || true
  tail -n 40 "$out/$name.log"
}
uptime
if [ "${QMAC_MUTATE_PARALLEL:-0}" = 1 ]; then
  one constraints/int8.yaml & one constraints/sidra_y1.yaml & wait
else
  one constraints/int8.yaml
  one constraints/sidra_y1.yaml
fi
uptime
