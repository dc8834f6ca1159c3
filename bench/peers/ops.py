"""NumPy and PyTorch (CPU, float32, 2 threads) timings of the cases in bench/OpsTiming.cs.

Prints tab-separated rows `peer, op, shape, bytes moved, median ms`, one per case and peer, timed the
same way as the engine's `ops` mode: the output is allocated by the call, at least 40 calls and 0.5 s
of warm-up, then the median of --runs timed calls. Run with the system Python that has numpy and torch:
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/ops.py [--runs N]
"""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # threadpoolctl only pins BLAS pools; element-wise NumPy is single-threaded anyway
    threadpool_limits = None

THREADS = 2
N = 1 << 24


def median_ms(fn, runs):
    t0, k = time.perf_counter(), 0
    while k < 40 or time.perf_counter() - t0 < 0.5:  # the same warm-up as the engine's (its JIT needs it)
        fn()
        k += 1
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = fn()
        times.append((time.perf_counter() - t0) * 1e3)
        del y
    times.sort()
    mid = runs // 2
    return times[mid] if runs % 2 else (times[mid - 1] + times[mid]) / 2


def np_gelu(x):
    # tanh form, as in the engine: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    return 0.5 * x * (1 + np.tanh(np.float32(0.7978845608028654) * (x + np.float32(0.044715) * x * x * x)))


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_layernorm(x, w, b, eps=1e-5):
    m = x.mean(axis=-1, keepdims=True)
    d = x - m
    v = (d * d).mean(axis=-1, keepdims=True)
    return d / np.sqrt(v + np.float32(eps)) * w + b


def cases(lib):
    rng = np.random.default_rng(0)
    f32 = np.float32

    def arr(*shape, normal=False):
        a = (rng.standard_normal(shape) if normal else rng.random(shape)).astype(f32)
        return torch.from_numpy(a) if lib == "torch" else a

    a, b = arr(N), arr(N)
    m, row = arr(8192, 2048), arr(2048)
    s1, s2 = arr(8192, 768, normal=True), arr(512, 3072, normal=True)
    w768, b768, w3072, b3072 = arr(768), arr(768), arr(3072), arr(3072)
    f = 4
    if lib == "torch":
        gelu = lambda: F.gelu(a, approximate="tanh")
        softmax = lambda x: (lambda: torch.softmax(x, dim=-1))
        layernorm = lambda x, w, bb: (lambda: F.layer_norm(x, (x.shape[-1],), w, bb, 1e-5))
        exp, total = (lambda: torch.exp(a)), (lambda: a.sum())
    else:
        gelu = lambda: np_gelu(a)
        softmax = lambda x: (lambda: np_softmax(x))
        layernorm = lambda x, w, bb: (lambda: np_layernorm(x, w, bb))
        exp, total = (lambda: np.exp(a)), (lambda: a.sum())
    return [
        ("add", "16M", 3 * f * N, lambda: a + b),
        ("mul", "16M", 3 * f * N, lambda: a * b),
        ("add_row", "8192x2048+2048", 2 * f * m.size if lib == "numpy" else 2 * f * m.numel(), lambda: m + row),
        ("exp", "16M", 2 * f * N, exp),
        ("gelu", "16M", 2 * f * N, gelu),
        ("sum", "16M", f * N, total),
        ("softmax", "8192x768", 2 * f * 8192 * 768, softmax(s1)),
        ("softmax", "512x3072", 2 * f * 512 * 3072, softmax(s2)),
        ("layernorm", "8192x768", 2 * f * 8192 * 768, layernorm(s1, w768, b768)),
        ("layernorm", "512x3072", 2 * f * 512 * 3072, layernorm(s2, w3072, b3072)),
    ]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--peer", choices=["numpy", "torch", "both"], default="both")
    args = p.parse_args()
    torch.set_num_threads(THREADS)
    limits = threadpool_limits(limits=THREADS) if threadpool_limits else None
    peers = ["numpy", "torch"] if args.peer == "both" else [args.peer]
    with torch.no_grad():
        for lib in peers:
            for op, shape, nbytes, fn in cases(lib):
                print(f"{lib}\t{op}\t{shape}\t{nbytes}\t{median_ms(fn, args.runs):.3f}", flush=True)
    if limits is not None:
        limits.unregister() if hasattr(limits, "unregister") else None


if __name__ == "__main__":
    main()
