#!/usr/bin/env bash
# Fetches NVIDIA's PTX assembler (ptxas, with cuobjdump and nvdisasm) from Debian 13's non-free package
# nvidia-cuda-toolkit into a cache folder, without touching the system's apt state, and prints its path.
# The tests assemble every CUDA kernel with it (tests/Tensor/IlgpuKernels/PtxasTests.cs). Exit status 1, with a
# message on stderr, when the package cannot be had (no network, no Debian mirror): the tests then skip.
set -uo pipefail
cache="${ENGINE_CUDA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engine/cuda-12.4}"
ptxas="$cache/usr/bin/ptxas"
if [ -x "$ptxas" ]; then echo "$ptxas"; exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "fetch-ptxas: apt-get and dpkg-deb are needed (a Debian-like system)" >&2; exit 1
fi
# The machine's own Debian mirror, from its apt sources (deb822 or one-line form).
mirror=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1)
[ -z "$mirror" ] && mirror=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+' /etc/apt/sources.list 2>/dev/null \
  | awk '{print $NF}' | grep -v security | head -n 1)
if [ -z "$mirror" ]; then echo "fetch-ptxas: no Debian mirror in /etc/apt sources" >&2; exit 1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb $mirror trixie non-free" > "$work/sources.list"
opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists"
      -o Dir::Cache::Archives="$work/archives" -o APT::Sandbox::User=root -o Acquire::Retries=3)
start=$(date +%s)
for attempt in 1 2 3; do
  if apt-get "${opts[@]}" -qq update >/dev/null 2>"$work/err" \
     && (cd "$work" && apt-get "${opts[@]}" -qq download nvidia-cuda-toolkit >/dev/null 2>>"$work/err"); then
    break
  fi
  if [ "$attempt" = 3 ]; then
    echo "fetch-ptxas: could not download nvidia-cuda-toolkit from $mirror (trixie non-free) after 3 tries:" >&2
    tail -n 3 "$work/err" >&2; exit 1
  fi
  sleep $((attempt * 5))
done
mkdir -p "$cache"
dpkg-deb -x "$work"/nvidia-cuda-toolkit_*.deb "$cache" || { echo "fetch-ptxas: could not unpack the package" >&2; exit 1; }
echo "fetch-ptxas: nvidia-cuda-toolkit unpacked into $cache in $(( $(date +%s) - start )) s" >&2
echo "$ptxas"
