#!/usr/bin/env bash
# The one prepared device script (≤ 6 min on one H200): everything it measures goes under $OUT.
#   run from the repository root on the device:  OUT=/some/folder bash benchmarks/gpu/run.sh
# The device's Python has torch and Triton; python-flint and the lab itself come as carried wheels
# (benchmarks/gpu/wheels/, see docs/scaling.md). Record every figure in benchmarks/RESULTS.md.
set -uo pipefail
OUT=${OUT:?set OUT to the folder for the results}
PY=${PY:-python}
mkdir -p "$OUT"
if [ -d benchmarks/gpu/wheels ]; then $PY -m pip install -q --no-index --find-links benchmarks/gpu/wheels -e . ; fi
$PY - <<'PY' > "$OUT/device.txt"
import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name(0))
PY
step() { local name=$1 limit=$2; shift 2; echo "== $name (≤ ${limit}s)"; local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; echo "   rc=$? $((SECONDS - t0)) s"; }
# 1. what only a GPU can check, and the kernels against the float64 reference on CUDA
step tests 120 $PY -m pytest -q -m "cuda or triton" tests/test_cuda.py tests/approx/test_triton_kernels.py
# 2. the kernels: every impl, time and saved memory
step kernels 90 $PY -m experiments bench kernels --json "$OUT/kernels.json"
# 3. the rates engine on CUDA: the quick preset (what make demo runs), to time against its CPU run
step rates 90 $PY -m experiments rates experiments/configs/quick.toml --out "$OUT/rates" --device cuda
# 4. a short LM run on the GPU: tokens/s and peak memory per variant
step lm 60 $PY -m experiments lm tiny --out "$OUT/lm" --device cuda
tail -n 3 "$OUT"/*.log
