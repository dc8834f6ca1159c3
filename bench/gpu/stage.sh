#!/usr/bin/env bash
# Stages what bench/gpu/first-run.sh runs (the CLI, the test executable and the bench, with a .NET runtime) into .gpu/,
# small enough for the device tool's 64 MiB carry. STAGE names the shared staging script (default ../shared/gpu/stage.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash "${STAGE:-../shared/gpu/stage.sh}" src/Cli tests bench
# BenchmarkDotNet's disassemblers, Roslyn and tracing payloads: `bench gpu` never loads them.
rm -rf .gpu/bench/{x86,amd64,arm64,runtimes} .gpu/bench/Microsoft.CodeAnalysis*.dll .gpu/bench/Microsoft.Diagnostics*.dll \
    .gpu/bench/Iced.dll .gpu/bench/Gee.External.Capstone.dll
du -sh .gpu | awk '{print "staged .gpu after pruning: " $1}'
