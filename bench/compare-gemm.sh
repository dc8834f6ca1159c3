#!/usr/bin/env bash
# Side-by-side SGEMM throughput: Engine (`engine bench gemm`) vs NumPy and PyTorch, float32, 2 threads.
#
#   bench/compare-gemm.sh [--trans-a] [--trans-b]      (build first: dotnet build -c Release)
#
# Prints a markdown table. Peers run twice: with the environment as it is (this machine sets
# OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE, which pin OpenBLAS to its AVX2 kernels) and with both
# unset for that command alone ("unset" columns; the ratios use these, the stronger peer numbers).
#
# Debian's python3-numpy and python3-torch link libblas.so.3, which is the netlib reference BLAS unless an
# optimised one is installed. Set OPENBLAS_DIR to a directory holding OpenBLAS's libblas.so.3 to run the
# peers on it without touching the system; with OPENBLAS_DIR=fetch the script extracts Debian's
# libopenblas0-pthread into /tmp/engine-openblas (apt-get download, no install) and uses that.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
FLAGS=("$@")
SHAPES=("512 768 768" "512 3072 768" "512 768 3072" "1024 1024 1024" "2048 2048 2048")

if [[ "${OPENBLAS_DIR:-}" == fetch ]]; then
    OPENBLAS_DIR=/tmp/engine-openblas/usr/lib/x86_64-linux-gnu/openblas-pthread
    if [[ ! -e "$OPENBLAS_DIR/libblas.so.3" ]]; then
        mkdir -p /tmp/engine-openblas
        (cd /tmp/engine-openblas && apt-get download libopenblas0-pthread >/dev/null 2>&1 && dpkg-deb -x libopenblas0-pthread_*.deb .)
    fi
fi
PEER_VARS=()
[[ -n "${OPENBLAS_DIR:-}" ]] && PEER_VARS=("LD_LIBRARY_PATH=$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

peer() {  # peer <numpy|torch> <default|unset> M N K
    local out
    if [[ $2 == unset ]]; then
        out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${PEER_VARS[@]}" "$PY" bench/peers/gemm.py "$3" "$4" "$5" "${FLAGS[@]}")
    else
        out=$(env "${PEER_VARS[@]}" "$PY" bench/peers/gemm.py "$3" "$4" "$5" "${FLAGS[@]}")
    fi
    [[ $1 == numpy ]] && echo "$out" | grep '^# threadpoolctl' | sed "s/^# /  [$2] /" >&2
    echo "$out" | sed -n "s/^$1 gflops=//p"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(date -u +%Y-%m-%d), flags: ${FLAGS[*]:-none}" >&2
echo "| M×N×K | Engine | NumPy | PyTorch | NumPy (env) | PyTorch (env) | Engine/NumPy | Engine/PyTorch |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SHAPES[@]}"; do
    set -- $s
    engine=$(dotnet run --project src/Cli -c Release --no-build -- bench gemm --m "$1" --n "$2" --k "$3" "${FLAGS[@]}" | tail -n 1 | sed -n 's/^gflops=//p')
    np_u=$(peer numpy unset "$1" "$2" "$3"); pt_u=$(peer torch unset "$1" "$2" "$3")
    np_d=$(peer numpy default "$1" "$2" "$3"); pt_d=$(peer torch default "$1" "$2" "$3")
    echo "| $1×$2×$3 | $engine | $np_u | $pt_u | $np_d | $pt_d | $(ratio "$engine" "$np_u") | $(ratio "$engine" "$pt_u") |"
done
