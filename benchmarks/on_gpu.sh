#!/usr/bin/env bash
# Every check for a lent NVIDIA machine (../shared/GPU.md) as one command, within a deadline:
#   bash .gpu/on_device.sh bash benchmarks/on_gpu.sh [SECONDS]    (default 400)
# writes under $OUT: devices.txt; lane.txt (tests/cross_device.py: the device lane's cases on
# the GPU against PyTorch and, for the test models, against PoCL within 1e-5); gpu.md
# (benchmarks/gpu.py against torch CUDA); pytest/FILE.txt (test files on the GPU in the time
# left, the model and op suites first; $SUITE names others; SIGINT at the deadline makes
# pytest print its summary of what ran).
set -u
deadline=$((SECONDS + ${1:-400}))
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
export GRAPHNN_DEVICE=${GRAPHNN_DEVICE:-nvidia} PYTHONDONTWRITEBYTECODE=1
left() { echo $((deadline - SECONDS)); }
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -m graphnn devices;
  python3 -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)';
  nproc; } > "$out/devices.txt" 2>&1
cat "$out/devices.txt"
timeout -s INT $(( $(left) / 4 )) python3 -m tests.cross_device "$out/lane" nvidia pocl \
    > "$out/lane.txt" 2>&1
echo "lane: rc $? at ${SECONDS} s"; grep -c '^ok' "$out/lane.txt"; grep '^BAD' "$out/lane.txt"
timeout -s INT $(( $(left) / 3 )) python3 benchmarks/gpu.py --rounds 3 > "$out/gpu.md" 2>"$out/gpu.err"
echo "gpu.py: rc $? at ${SECONDS} s"; cat "$out/gpu.md"; tail -3 "$out/gpu.err"
# the suite: one pytest process per file, SHARDS at a time, without pytest-xdist (on the H200
# machine its workers died at start whenever the whole tests/ directory was collected)
files=${SUITE:-"test_ops test_layers test_functional test_losses test_attention test_rnn
  test_norm_layers test_pooling test_conv_nd test_embedding test_optim test_half test_index_ops
  test_kernels_scatter test_sort test_lenet test_compile_step test_regressions test_activations
  test_autograd test_bmm test_cat test_composites test_dropout test_inplace test_math
  test_state_dict test_kernels_gemm test_kernels_conv test_kernels_reduce test_kernels_vepi"}
mkdir -p "$out/pytest"
for f in $files; do
  while (( $(jobs -rp | wc -l) >= ${SHARDS:-6} )); do sleep 1; done
  (( $(left) > 20 )) || break
  timeout -s INT $(( $(left) - 10 )) python3 -m pytest -p no:xdist -p no:cacheprovider -q -rfE \
      "tests/$f.py" > "$out/pytest/$f.txt" 2>&1 &
done
wait
echo "pytest at ${SECONDS} s:"
for f in "$out"/pytest/*.txt; do
  echo "$(basename "$f" .txt): $(grep -E '[0-9]+ (passed|failed)' "$f" | tail -1)"
  grep -E '^(FAILED|ERROR)' "$f" | head -10
done
