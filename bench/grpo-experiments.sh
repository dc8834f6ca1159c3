#!/usr/bin/env bash
# The GRPO-against-λ-GRPO comparisons behind bench/RESULTS.md, each into runs/<name>/ (summary.md, CSVs, plots).
# Not part of CI. Wall times on this 2-core AMD EPYC (Zen 5), shared with other builds (load average 3–75):
# 1.5–2.5 min for the sweep, 1–2 min per tree option, 2 min for arith, 2–3 min for sums, 1 min for its unpacked run.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Cli -c Release -v quiet -nologo >/dev/null
engine() { dotnet src/Cli/bin/Release/net10.0/engine.dll "$@"; }
engine grpo tree --sweep --out runs/grpo-tree-sweep                            # 6 × 2 × 6 × 10 seeds = 720 runs
engine grpo tree --full --steps 500 --out runs/grpo-tree-500                    # long enough to converge
engine grpo tree --full --uniform-start 200 --out runs/grpo-tree-uniform       # the uniform-L/R supervised start
engine grpo tree --full --large-policy --lr 1e-4 --out runs/grpo-tree-large    # 4 blocks of width 128
engine grpo arith --out runs/grpo-arith                                        # 5 seeds, a supervised start each
engine grpo sums --out runs/grpo-sums                                          # the deep-tree task, 5 seeds
engine grpo sums --unpacked --seeds 2 --out runs/grpo-sums-unpacked            # the packed update's speed-up
