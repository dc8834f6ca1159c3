#!/usr/bin/env bash
# Side-by-side GPU throughput: Engine's ILGPU kernels (`bench -- gpu`) vs PyTorch on CUDA (bench/gpu/peers.py).
#
#   bench/compare-gpu.sh [--small] [--device cuda|ilgpu-cpu]     (build first: dotnet build -c Release)
#
# ENGINE_BENCH replaces `dotnet run -c Release --no-build --project bench --` where there is no SDK, e.g. on a GPU
# machine with the staged bench: ENGINE_BENCH="bash .gpu/run.sh bench/Engine.Bench.dll" (bench/gpu/first-run.sh).
#
# Both sides print key=value lines with the same keys; the table shows each value and engine/peer as a
# speed ratio (> 1: Engine faster): value ratio for _tflops and _gbps keys, peer/engine for _ms keys.
# Without a CUDA device each side says so and the table lists whatever one side measured. ENGINE_LOG, if set, receives
# the Engine side's output as it runs. The exit status is the Engine side's (3: a kernel gave wrong results).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
ENGINE_ARGS=(gpu "$@")
PEER_ARGS=()
[[ " $* " == *" --small "* ]] && PEER_ARGS=(--small)

read -r -a BENCH <<<"${ENGINE_BENCH:-dotnet run -c Release --no-build --project bench --}"
engine=$("${BENCH[@]}" "${ENGINE_ARGS[@]}" 2>&1 | tee "${ENGINE_LOG:-/dev/null}"; exit "${PIPESTATUS[0]}")
engine_status=$?
peer=$("$PY" bench/gpu/peers.py "${PEER_ARGS[@]}" 2>&1)
echo "$peer" | grep -E "^(Traceback|[A-Za-z]*Error)" >&2 || true
echo "$engine" | grep '^#' || true
echo "$peer" | grep '^#' || true

declare -A E P
while IFS='=' read -r k v; do [[ -n $k && $k != \#* ]] && E[$k]=$v; done < <(echo "$engine" | grep -E '^[a-z0-9_]+=')
while IFS='=' read -r k v; do [[ -n $k && $k != \#* ]] && P[$k]=$v; done < <(echo "$peer" | grep -E '^[a-z0-9_]+=')

printf '| %-40s | %12s | %12s | %12s |\n' key engine pytorch "engine/peer"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})"
for k in $(printf '%s\n' "${!E[@]}" "${!P[@]}" | sort -u); do
    e=${E[$k]:-}; p=${P[$k]:-}; r=""
    if [[ -n $e && -n $p ]]; then
        if [[ $k == *_ms ]]; then r=$(awk -v e="$e" -v p="$p" 'BEGIN { printf "%.2f", p / e }')
        else r=$(awk -v e="$e" -v p="$p" 'BEGIN { printf "%.2f", e / p }'); fi
    fi
    printf '| %-40s | %12s | %12s | %12s |\n' "$k" "${e:--}" "${p:--}" "${r:--}"
done
exit "$engine_status"
