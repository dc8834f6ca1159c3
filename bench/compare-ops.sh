#!/usr/bin/env bash
# Element-wise, softmax and layer-norm throughput of the engine beside NumPy and PyTorch (CPU, float32,
# 2 threads), measured in one go on this machine. Prints one markdown table; ratios are
# engine throughput ÷ peer throughput (higher is better for the engine).
#   bench/compare-ops.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; fi
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dotnet build bench -c Release -v q -nologo >/dev/null
dotnet bench/bin/Release/net10.0/Engine.Bench.dll ops --runs "$runs" >"$tmp/engine.tsv"
/usr/bin/python3 bench/peers/ops.py --runs "$runs" >"$tmp/peers.tsv"
/usr/bin/python3 - "$tmp/engine.tsv" "$tmp/peers.tsv" <<'PY'
import sys
rows, ms = [], {}
for line in open(sys.argv[1]):
    op, shape, nbytes, t = line.split("\t")
    rows.append((op, shape, int(nbytes)))
    ms[("engine", op, shape)] = float(t)
for line in open(sys.argv[2]):
    peer, op, shape, nbytes, t = line.split("\t")
    ms[(peer, op, shape)] = float(t)
gbs = lambda nbytes, t: nbytes / (t * 1e-3) / 1e9
print("| op | shape | Engine ms | Engine GB/s | NumPy ms | NumPy GB/s | PyTorch ms | PyTorch GB/s | ÷ NumPy | ÷ PyTorch |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for op, shape, nbytes in rows:
    e, n, t = (ms.get((p, op, shape)) for p in ("engine", "numpy", "torch"))
    cell = lambda v: f"{v:.2f} | {gbs(nbytes, v):.1f}" if v else "– | –"
    ratio = lambda v: f"{v / e:.2f}×" if v else "–"
    print(f"| {op} | {shape} | {cell(e)} | {cell(n)} | {cell(t)} | {ratio(n)} | {ratio(t)} |")
PY
