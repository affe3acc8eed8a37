#!/usr/bin/env bash
# The GPU path's check, prepared for a lent GPU machine (under 5 minutes there): the environment, the model
# on the GPU against the CPU (same probabilities), the inference benchmark, and a daemon smoke run.
#
#   benchmarks/gpu_check.sh            # on a GPU machine; exit 0 when every step passed
#   benchmarks/gpu_check.sh --cpu      # the same steps with the GPU hidden (CUDA_VISIBLE_DEVICES=""): the
#                                      # script's own check, so that it is not broken when a GPU is lent
#
# Needs a Python with this project's dependencies and TensorFlow with CUDA (`pip install -e .` and
# `pip install tensorflow[and-cuda]`); it uses .venv/bin/python when present, else $PYTHON, else python3.
# Writes everything under $OUT (default benchmarks/results/gpu-check-<date>/): env.json, model.json,
# inference.json, demo.log, summary.txt. Each step has its own time limit, cut to what is left of the whole
# script's budget (BUDGET_S, default 290 s: under 5 minutes however slow a step is); a failed step is reported and
# the next one runs; a step the budget no longer allows fails as skipped. docs/benchmarks.md "GPU" says what was
# run where.
set -u
cd "$(dirname "$0")/.."
MODE=gpu
if [ "${1:-}" = "--cpu" ]; then
    MODE=cpu
    export CUDA_VISIBLE_DEVICES=""
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
OUT=${OUT:-benchmarks/results/gpu-check-$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
STATUS=0
BUDGET_S=${BUDGET_S:-290}
step() {  # step NAME LIMIT_S COMMAND...: run with a time limit (cut to the budget left), log, keep going
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET_S - SECONDS))
    if [ "$left" -lt 10 ]; then
        echo "FAIL $name (skipped: ${left} s left of the ${BUDGET_S} s budget)" | tee -a "$OUT/summary.txt"
        STATUS=1
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0=$SECONDS
    if timeout "$limit" "$@" >"$OUT/$name.log" 2>&1; then
        echo "PASS $name ($((SECONDS - t0)) s)" | tee -a "$OUT/summary.txt"
    else
        echo "FAIL $name (exit $?, $((SECONDS - t0)) s): tail of $OUT/$name.log" | tee -a "$OUT/summary.txt"
        tail -n 15 "$OUT/$name.log"
        STATUS=1
    fi
}
: >"$OUT/summary.txt"
echo "mode $MODE, python $PY, out $OUT" | tee -a "$OUT/summary.txt"
command -v nvidia-smi >/dev/null && nvidia-smi -L >"$OUT/nvidia-smi.txt" 2>&1

# 1. environment: TensorFlow sees the GPU (in --cpu mode: sees none)
step env 120 "$PY" - "$MODE" "$OUT/env.json" <<'EOF'
import json, sys
import tensorflow as tf
mode, out = sys.argv[1], sys.argv[2]
gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
info = {"tensorflow": tf.__version__, "built_with_cuda": tf.test.is_built_with_cuda(), "gpus": gpus,
        "build": {k: str(v) for k, v in tf.sysconfig.get_build_info().items()}}
open(out, "w").write(json.dumps(info, indent=2))
print(json.dumps(info))
if mode == "gpu" and not gpus:
    sys.exit("TensorFlow sees no GPU (built_with_cuda=%s)" % info["built_with_cuda"])
if mode == "cpu" and gpus:
    sys.exit("CUDA_VISIBLE_DEVICES='' but TensorFlow sees %s" % gpus)
EOF

# 2. the shipped model on the GPU ("auto": the GPU when one is seen) against the CPU, batch 1, 7, 64
step model 180 "$PY" - "$MODE" "$OUT/model.json" <<'EOF'
import json, sys, time
import numpy as np
from realtime.model import load_detector
mode, out = sys.argv[1], sys.argv[2]
x = np.random.default_rng(0).normal(0, 50, (64, 1024)).astype(np.float32)
x[::3] *= 4
cpu = load_detector(None, backend="tensorflow", device="cpu")
dev = load_detector(None, backend="tensorflow", device="gpu" if mode == "gpu" else "auto")
ref = cpu.predict(x)
res = {"device": dev.device, "cpu_device": cpu.device, "max_abs_diff": {}, "ms_per_window": {}}
for b in (1, 7, 64):
    p = np.concatenate([dev.predict(x[i:i + b]) for i in range(0, 64, b)])
    res["max_abs_diff"][b] = float(np.abs(p - ref).max())
    t = time.perf_counter()
    for _ in range(5):
        dev.predict(x[:b])
    res["ms_per_window"][b] = (time.perf_counter() - t) / 5 / b * 1e3
open(out, "w").write(json.dumps(res, indent=2))
print(json.dumps(res))
expected = "GPU:0" if mode == "gpu" else "CPU"
assert dev.device == expected, f"the model runs on {dev.device}, expected {expected}"
worst = max(res["max_abs_diff"].values())
assert worst <= 1e-5, f"GPU and CPU probabilities differ by {worst} (> 1e-5)"
# model.precision "bfloat16" on the same device, against float32 on the CPU: within bfloat16's rounding, on the
# CHB-MIT excerpts' windows (the random ones above score near 0, where every arithmetic agrees)
from experiments.reexport import CHBMIT, chbmit_windows
w = chbmit_windows(CHBMIT, cpu.window_samples, cpu.sample_rate_hz).astype(np.float32)
bf = load_detector(None, backend="tensorflow", device="gpu" if mode == "gpu" else "auto", precision="bfloat16")
res["bfloat16"] = {"device": bf.device, "windows": len(w), "max_abs_diff": float(np.abs(bf.predict(w) - cpu.predict(w)).max())}
open(out, "w").write(json.dumps(res, indent=2))
print(json.dumps(res["bfloat16"]))
assert res["bfloat16"]["max_abs_diff"] <= 0.02, f"bfloat16 differs from float32 by {res['bfloat16']}"
EOF

# 3. the inference benchmark (TensorFlow on the GPU in gpu mode; LiteRT and ONNX Runtime stay on the CPU)
step inference 240 "$PY" benchmarks/inference.py --quick --device auto --out "$OUT" --name inference.json

# 4. a daemon smoke run: realtime-demo (daemon + LSL replay of the CHB-MIT seizure excerpt + alert
#    subscriber) at 4x; exit 0 when the seizure alarmed; the daemon's log must say where the model ran
step demo 200 "$PY" -m realtime demo --speed 4 --backend tensorflow --verbose
expected=$([ "$MODE" = gpu ] && echo "on GPU:0" || echo "on CPU")
if grep -qs "backend tensorflow $expected" "$OUT/demo.log"; then
    echo "PASS demo ran the model $expected" | tee -a "$OUT/summary.txt"
else
    echo "FAIL demo: no 'backend tensorflow $expected' in $OUT/demo.log" | tee -a "$OUT/summary.txt"
    STATUS=1
fi
echo "gpu_check $MODE: $([ $STATUS = 0 ] && echo PASS || echo FAIL)" | tee -a "$OUT/summary.txt"
exit $STATUS
