#!/usr/bin/env bash
# Runs the CPU test classes (GEMM, element-wise, reductions, NN ops, tree attention, gradients, vector math,
# CPU backend conformance) as linux-arm64 code under qemu-user emulation on this x86-64 machine, so the
# AdvSimd/Vector128 paths get exercised without arm64 hardware.
#   bench/arm64-tests.sh [extra xunit runner args, e.g. -method '*Gemm*']
# Steps: publish tests/Engine.Tests.csproj self-contained for linux-arm64 (the xunit v3 test project is an
# executable, so the published Engine.Tests is the runner itself); install qemu-user-static if missing;
# build a private arm64 glibc sysroot from Debian packages (apt-get download + dpkg-deb -x, without adding
# arm64 to dpkg's architectures); run the classes under qemu-aarch64-static -L <sysroot>.
# Build outputs go to /tmp (--artifacts-path), so the in-tree bin/ and obj/ are left alone. Needs root (or sudo)
# only if qemu-user-static has to be installed, and access to NuGet and the machine's Debian mirror on the first run.
# Takes about 1-1.5 min on a 2-core x86-64 machine: publish 20-40 s (plus the ~100 MB linux-arm64 runtime packs
# from NuGet the first time), sysroot ~10 s the first time (cached in /tmp afterwards), tests ~25 s under
# emulation (~7x the native run). Not part of CI because it is slow and needs qemu, apt and network access; run
# it by hand after touching the Arm64/AdvSimd code paths (e.g. the 8x12 GEMM kernel). Exits with the runner's
# exit code. QEMU_CPU=<model> (e.g. neoverse-n1, cortex-a72) picks the emulated CPU; qemu's default is "max".
set -euo pipefail
cd "$(dirname "$0")/.."

out=/tmp/engine-arm64-tests
artifacts=/tmp/engine-arm64-artifacts
sysroot=/tmp/engine-arm64-sysroot
apt_dir=/tmp/engine-arm64-apt
classes=(GemmTests ElementwiseTests ReductionTests NeuralNetOpTests TreeAttentionTests GradientTests VectorMathTests
         Backends.CpuConformance)

phase() { echo "== $(date +%T) $*" >&2; }
t0=$SECONDS

phase "publish tests/Engine.Tests.csproj for linux-arm64 -> $out"
rm -rf "$out"
dotnet publish tests/Engine.Tests.csproj -c Release -r linux-arm64 --self-contained -o "$out" \
  --artifacts-path "$artifacts" -nologo -v q
echo "publish: $((SECONDS - t0)) s" >&2

t1=$SECONDS
if ! command -v qemu-aarch64-static >/dev/null; then
  phase "install qemu-user-static"
  sudo=""; [[ $EUID -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static
fi

# Private arm64 sysroot: libc6 (loader + glibc), libgcc-s1, libstdc++6 (the .NET host and runtime), libssl3 (xunit
# hashes test IDs with SHA-256, which .NET takes from OpenSSL on Linux) and zlib1g.
# ICU is not needed: the projects set InvariantGlobalization. The system's dpkg is not touched.
if [[ ! -e "$sysroot/usr/lib/aarch64-linux-gnu/libssl.so.3" ]]; then
  phase "build arm64 sysroot in $sysroot"
  rm -rf "$apt_dir" "$sysroot"
  mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$apt_dir/parts" "$sysroot"
  # The machine's own Debian sources, asked for arm64 packages instead.
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -e $f ]] && sed '/^Types:/a Architectures: arm64' "$f" >"$apt_dir/parts/$(basename "$f")"
  done
  { grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
    | sed -E 's/^deb (\[([^]]*)\] )?/deb [arch=arm64 \2] /' >"$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
            -o "Dir::State=$apt_dir/state" -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null
            -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download libc6 libgcc-s1 libstdc++6 zlib1g libssl3)
  for deb in "$apt_dir/debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  rm -rf "$apt_dir"
fi
echo "setup: $((SECONDS - t1)) s" >&2

t2=$SECONDS
phase "run ${#classes[@]} test classes under qemu-aarch64-static"
args=()
for c in "${classes[@]}"; do args+=(-class "Engine.Tests.$c"); done
# W^X must be off under qemu-user: the runtime writes JIT code and stubs through a second, writable mapping of
# the same memory, which qemu does not see as self-modifying code, so it keeps running stale translations. With
# W^X on, runs die once GCs start patching code (Illegal instruction, SIGSEGV, NullReferenceExceptions, or
# tests silently missing from the totals).
export DOTNET_EnableWriteXorExecute=0
log=$(mktemp /tmp/engine-arm64-tests.XXXXXX.log)
rc=0
qemu-aarch64-static -L "$sysroot" "$out/Engine.Tests" "${args[@]}" -noColor "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
echo "tests: $((SECONDS - t2)) s, total: $((SECONDS - t0)) s, log: $log" >&2
grep -E 'Total: [0-9]+' "$log" >&2 || echo "no xunit summary line (runner exit code $rc)" >&2
exit "$rc"
