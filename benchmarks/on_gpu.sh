#!/usr/bin/env bash
# Every check for a lent NVIDIA machine (../shared/GPU.md) as one command, within a deadline:
#   bash .gpu/on_device.sh bash benchmarks/on_gpu.sh [SECONDS]    (default 400)
# writes under $OUT: devices.txt; lane.txt (tests/cross_device.py: the device lane's cases on
# the GPU against PyTorch and, for the test models, against PoCL within 1e-5); gpu.md
# (benchmarks/gpu.py against torch CUDA); pytest.txt (the suite on the GPU in the time left,
# the model and op suites first ($SUITE overrides the list);
# SIGINT at the deadline makes pytest print its summary of what ran; 6 workers: with 14, every
# worker died at start on the H200 machine, "node down: Not properly terminated").
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
timeout -s INT $(( $(left) - 15 )) python3 -m pytest -n 6 -p no:cacheprovider -rfE \
    -q --durations=10 ${SUITE:-tests/test_ops.py tests/test_layers.py tests/test_functional.py \
    tests/test_losses.py tests/test_attention.py tests/test_rnn.py tests/test_norm_layers.py \
    tests/test_pooling.py tests/test_conv_nd.py tests/test_embedding.py tests/test_optim.py \
    tests/test_half.py tests/test_index_ops.py tests/test_kernels_scatter.py tests/test_sort.py \
    tests/test_lenet.py tests/test_compile_step.py tests/test_regressions.py tests} \
    --ignore=tests/test_oclgrind.py --ignore=tests/test_distributed.py \
    --ignore=tests/test_packaging.py --ignore=tests/test_dump_html.py --ignore=tests/test_long_run.py \
    > "$out/pytest.txt" 2>&1
echo "pytest: rc $? at ${SECONDS} s"; grep -E '^(FAILED|ERROR)' "$out/pytest.txt" | head -40
tail -3 "$out/pytest.txt"
