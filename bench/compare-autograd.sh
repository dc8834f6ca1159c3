#!/usr/bin/env bash
# Autograd overhead, side by side: Engine with and without the tape, and PyTorch, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench -c Release --nologo -v quiet >/dev/null
engine=$(dotnet run --project bench -c Release --no-build -- autograd)
torch=$(/usr/bin/python3 bench/peers/autograd.py)
echo "$engine"; echo "$torch"
tape=$(grep -oP 'engine_tape_ms=\K[0-9.]+' <<<"$engine"); raw=$(grep -oP 'engine_raw_ms=\K[0-9.]+' <<<"$engine")
pt=$(grep -oP 'torch_ms=\K[0-9.]+' <<<"$torch")
echo
echo "| MLP fwd+bwd (256×512, 2 layers) | ms | vs PyTorch |"
echo "|---|---|---|"
awk -v t="$tape" -v r="$raw" -v p="$pt" 'BEGIN {
  printf "| Engine, autograd tape | %.2f | %.2f× |\n", t, p / t;
  printf "| Engine, raw ops (no tape) | %.2f | %.2f× |\n", r, p / r;
  printf "| PyTorch 1.13 | %.2f | 1.00× |\n", p;
  printf "\ntape overhead: %.1f%%\n", (t / r - 1) * 100 }'
