#!/usr/bin/env bash
# Engine against its peers at every SIMD level this x86 machine can run, side by side in one run.
#
#   bench/compare-levels.sh [avx512] [avx2] [sse]        (default: every level the processor has; about 5 min a level)
#
# Each level pins both sides to the same instruction set:
#   avx512  Engine as it starts;                                  OpenBLAS and PyTorch with OPENBLAS_CORETYPE and
#                                                                 OPENBLAS_L2_SIZE unset (OpenBLAS picks its own kernel)
#   avx2    Engine with DOTNET_EnableAVX512=0 (and the older DOTNET_EnableAVX512F=0);  OPENBLAS_CORETYPE=Haswell
#   sse     Engine with DOTNET_EnableAVX2=0 too (128-bit, no FMA);                     OPENBLAS_CORETYPE=Nehalem
# PyTorch's own kernels get ATEN_CPU_CAPABILITY=avx512|avx2|default to match. threadpoolctl's report of the
# OpenBLAS kernel is printed for each level. Needs Debian's python3-numpy, python3-torch, python3-threadpoolctl and
# libopenblas0-pthread (without it NumPy and PyTorch link the netlib reference BLAS). Prints markdown tables.
# GPT-2 124M runs on random weights in a Hugging Face directory that bench/peers/gpt2_124m.py makes once (GPT2_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
SHAPES=("512 768 768" "512 3072 768" "512 768 3072" "1024 1024 1024" "2048 2048 2048")
LEVELS=("$@")
if [[ ${#LEVELS[@]} -eq 0 ]]; then
    grep -qw avx512f /proc/cpuinfo && LEVELS+=(avx512)
    grep -qw avx2 /proc/cpuinfo && LEVELS+=(avx2)
    LEVELS+=(sse)
fi
dotnet build src/Cli -c Release --nologo -v quiet >/dev/null
dotnet build bench -c Release --nologo -v quiet >/dev/null
ENGINE=src/Cli/bin/Release/net10.0/engine
GPT2=${GPT2_DIR:-/tmp/engine-gpt2-124m}
[[ -e $GPT2/model.safetensors ]] || "$PY" bench/peers/gpt2_124m.py make "$GPT2"

engine_env() {
    case $1 in
        avx512) echo "ENGINE_LEVEL=avx512" ;;
        avx2) echo "DOTNET_EnableAVX512=0 DOTNET_EnableAVX512F=0" ;;
        sse) echo "DOTNET_EnableAVX512=0 DOTNET_EnableAVX512F=0 DOTNET_EnableAVX2=0" ;;
    esac
}
peer_env() {
    case $1 in
        avx512) echo "ATEN_CPU_CAPABILITY=avx512" ;;
        avx2) echo "OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2" ;;
        sse) echo "OPENBLAS_CORETYPE=Nehalem ATEN_CPU_CAPABILITY=default" ;;
    esac
}
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(peer_env "$LEVEL") "$PY" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
value() { sed -n "s/^$1=//p" | tail -n 1; }

echo "# $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) cores, $(date -u +%Y-%m-%d)"
for LEVEL in "${LEVELS[@]}"; do
    eenv=$(engine_env "$LEVEL")
    echo
    echo "## level $LEVEL: Engine at $(env $eenv $ENGINE bench gemm --m 8 --n 8 --k 8 --runs 1 | head -n 1 | sed 's/.*threads, //')"
    peer bench/peers/gemm.py 64 64 64 --runs 1 | grep '^# threadpoolctl' | sed 's/^# /peers: /'
    echo
    echo "| SGEMM M×N×K | op | Engine GFLOP/s | OpenBLAS (NumPy) | PyTorch | Engine/OpenBLAS | Engine/PyTorch |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for s in "${SHAPES[@]}"; do
        set -- $s
        for flag in "" --trans-a --trans-b; do
            e=$(env $eenv $ENGINE bench gemm --m "$1" --n "$2" --k "$3" $flag --runs 7 | value gflops)
            out=$(peer bench/peers/gemm.py "$1" "$2" "$3" $flag --runs 7)
            np=$(value "numpy gflops" <<<"$out"); pt=$(value "torch gflops" <<<"$out")
            op=${flag:-plain}; op=${op#--}
            echo "| $1×$2×$3 | $op | $e | $np | $pt | $(ratio "$e" "$np") | $(ratio "$e" "$pt") |"
        done
    done
    echo
    echo "| GPT | Engine | PyTorch 1.13 | ratio |"
    echo "|---|---:|---:|---:|"
    torch=$(peer bench/peers/gpt.py)
    for config in tiny small; do
        e=$(env $eenv $ENGINE bench train --config "$config" | value tokens_per_s)
        p=$(value "train_${config}_tokens_per_s" <<<"$torch")
        echo "| train $config (tokens/s) | $e | $p | $(ratio "$e" "$p") |"
    done
    e=$(env $eenv dotnet run --project bench -c Release --no-build -- gpt | value generate_tiny_tokens_per_s)
    p=$(value generate_tiny_tokens_per_s <<<"$torch")
    echo "| generate tiny, KV cache (tokens/s) | $e | $p | $(ratio "$e" "$p") |"
    echo
    echo "| GPT-2 124M, 4×256 tokens (s) | Engine | PyTorch 1.13 | PyTorch time / Engine time |"
    echo "|---|---:|---:|---:|"
    e=$(env $eenv $ENGINE bench model --model "$GPT2")
    p=$(peer bench/peers/gpt2_124m.py time "$GPT2")
    for key in load_s forward_s train_step_s; do
        a=$(value $key <<<"$e"); b=$(value $key <<<"$p")
        echo "| $key | $a | $b | $(ratio "$b" "$a") |"
    done
done
