#!/usr/bin/env bash
# The first run of Engine on a GPU machine, as one script with a time limit per part; everything goes to $OUT.
#
#   here:        bench/gpu/stage.sh      (publishes the CLI, tests and bench into .gpu/, with a .NET runtime)
#   rehearse:    OUT=/tmp/gpu-run bash bench/gpu/first-run.sh --device ilgpu-cpu
#   on the GPU:  the device tool, carry [".gpu"], command: bash bench/gpu/first-run.sh   (timeout_s 400)
#
# Parts: the card and driver; the CUDA tests (conformance, kernel tests, GPT training and packed GRPO against the
# CPU); bench/compare-gpu.sh (GEMM fp32 / tf32 / bf16, bandwidth, flash and tree attention, against PyTorch on the
# same card); `engine bench train` and `engine grpo arith --quick` on the device. Filling the card until an allocation
# fails, with a clear error, is one of the CUDA tests, so they run one at a time. On ilgpu-cpu every part runs at small
# sizes and the CUDA tests skip: a rehearsal of the script, not a measurement. summary.txt has one line per part: its
# exit status and seconds.
set -uo pipefail
cd "$(dirname "$0")/../.."
device=cuda
[ "${1:-}" = "--device" ] && device=${2:?--device needs cuda or ilgpu-cpu}
OUT=${OUT:-/tmp/engine-gpu-run}
mkdir -p "$OUT"
rm -f "$OUT/summary.txt"
[ -x .gpu/run.sh ] || { echo "first-run: no .gpu/run.sh; stage first: bench/gpu/stage.sh" >&2; exit 2; }
NET=(bash .gpu/run.sh)

part() {
    local name=$1 limit=$2 start rc
    shift 2
    echo "== $name (at most ${limit} s)"
    start=$(date +%s)
    timeout -k 5 "$limit" "$@" >"$OUT/$name.txt" 2>&1
    rc=$?
    printf '%-12s rc=%-3s %4s s\n' "$name" "$rc" "$(($(date +%s) - start))" | tee -a "$OUT/summary.txt"
    tail -n 4 "$OUT/$name.txt"
}

small=()
[ "$device" = ilgpu-cpu ] && small=(--small)
part card 10 bash -c 'nvidia-smi || echo "no nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true'
# -longRunning names a test that hangs, before the time limit kills the run; tests.xml has every result.
part tests 120 "${NET[@]}" tests/Engine.Tests.dll -noColor -parallel none -reporter verbose -longRunning 30 -jUnit "$OUT/tests.xml" \
    -filter "/*/*/CudaConformance/*" -filter "/*/*/*/Cuda*"
# The Engine side's numbers reach bench.txt as they come, so a time-out in the PyTorch side loses none of them.
part compare 120 env ENGINE_BENCH="bash .gpu/run.sh bench/Engine.Bench.dll" ENGINE_LOG="$OUT/bench.txt" \
    bash bench/compare-gpu.sh --device "$device" "${small[@]}"
if [ "$device" = cuda ]; then
    part train 40 "${NET[@]}" Cli/engine.dll bench train --config small --device cuda
    part grpo 60 "${NET[@]}" Cli/engine.dll grpo arith --quick --device cuda --out "$OUT/grpo-arith"
else
    part train 120 "${NET[@]}" Cli/engine.dll bench train --config tiny --device ilgpu-cpu --steps 1 --warmup 0
fi
cat "$OUT/summary.txt"
