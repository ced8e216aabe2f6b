#!/usr/bin/env bash
# Every benchmark at the paper scale on one CUDA GPU, each table written to bench/results/<gpu>-<date>/.
#   bash bench/gpu_suite.sh            # after `make .venv` (or with the pinned packages installed)
# The fast path is measured as configured by default ('auto': bf16 autocast + channels-last on CUDA), against the
# reference behaviour (fp32, contiguous, anomaly detection), and with torch.compile and CUDA graphs, so the README can
# say which flags help on this GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'bench/gpu_suite.sh needs a CUDA GPU (torch.cuda.is_available() is False).')"
gpu=$($PY -c "import torch; print(torch.cuda.get_device_name().replace(' ', '_'))")
out=bench/results/${gpu}-$(date +%Y-%m-%d); mkdir -p "$out"
export PYTHONPATH=bench${PYTHONPATH:+:$PYTHONPATH}
run() { local name=$1; shift; echo "== $name: $*"; "$PY" "$@" | tee "$out/$name.md"; }
run stages-paper bench/augkd_stages.py --preset paper --device cuda --iters 8 --compare-reference --train-images 2000
run stages-paper-compile bench/augkd_stages.py --preset paper --device cuda --iters 8 --compile default
run stages-paper-cudagraphs bench/augkd_stages.py --preset paper --device cuda --iters 8 --compile reduce-overhead
run stages-paper-fp32 bench/augkd_stages.py --preset paper --device cuda --iters 8 --amp off --channels-last off
run dfkd-paper bench/dfkd_methods.py --preset paper --device cuda --kd-steps 40
run fourds-paper bench/fourds.py --preset paper --device cuda --steps 40
run teacher bench/teacher_throughput.py --device cuda
echo "tables in $out"
