#!/usr/bin/env bash
# GPT training and generation throughput, Engine and PyTorch side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench -c Release --nologo -v quiet >/dev/null
engine=$(dotnet run --project bench -c Release --no-build -- gpt)
torch=$(/usr/bin/python3 bench/peers/gpt.py)
echo "| measurement | Engine | PyTorch 1.13 | ratio |"
echo "|---|---|---|---|"
for key in train_tiny_tokens_per_s train_small_tokens_per_s generate_tiny_tokens_per_s; do
  e=$(grep -oP "$key=\K[0-9.]+" <<<"$engine"); p=$(grep -oP "$key=\K[0-9.]+" <<<"$torch")
  awk -v k="$key" -v e="$e" -v p="$p" 'BEGIN { printf "| %s | %.0f | %.0f | %.2f× |\n", k, e, p, e / p }'
done
