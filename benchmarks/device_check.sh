#!/usr/bin/env bash
# The JAX benchmarks (issue 16) on an accelerator: installs nothing; writes to $OUT/.
# Run from the repository root on the device machine:  bash benchmarks/device_check.sh
# About 4–6 minutes on one GPU; each part is capped so that the whole stays under 8.
set -u
OUT=${OUT:-/tmp/paralens-device-check}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
PY=${PYTHON:-python}
DEVICE=${DEVICE:-gpu}
{
  date -u
  git rev-parse HEAD 2>/dev/null || true
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
} > "$OUT/environment.txt" 2>&1
# all four MLPs and the four RNNs at T = 1,000, 15 rounds, one fresh first call each
timeout 170 "$PY" benchmarks/jax_step.py --device "$DEVICE" --only mlp --rounds 15 \
  --first-repeats 1 > "$OUT/jax_mlp.txt" 2>&1; echo "mlp exit $?" >> "$OUT/status.txt"
timeout 170 "$PY" benchmarks/jax_step.py --device "$DEVICE" --only rnn --rounds 15 \
  --first-repeats 1 > "$OUT/jax_rnn.txt" 2>&1; echo "rnn exit $?" >> "$OUT/status.txt"
# buffer donation on in both (the MLPs only: where it can matter)
timeout 100 "$PY" benchmarks/jax_step.py --device "$DEVICE" --only mlp --rounds 10 \
  --first-repeats 0 --donate > "$OUT/jax_mlp_donate.txt" 2>&1; echo "mlp donate exit $?" >> "$OUT/status.txt"
cat "$OUT"/status.txt
