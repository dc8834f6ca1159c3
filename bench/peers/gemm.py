"""SGEMM throughput of the peers (NumPy/OpenBLAS and PyTorch CPU), float32, 2 threads.

Usage: python3 bench/peers/gemm.py M N K [--trans-a] [--trans-b] [--runs R]
Prints one line per peer: `numpy gflops=<x>` and `torch gflops=<x>` (median of R timed runs after warm-up),
preceded by a comment line naming the BLAS kernel threadpoolctl reports.
"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

THREADS = 2


def median_gflops(fn, flops, runs):
    t0 = time.perf_counter()
    while True:  # warm up: at least 3 calls and 0.5 s
        fn()
        if time.perf_counter() - t0 > 0.5:
            break
    fn(); fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return flops / statistics.median(times) / 1e9


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    m, n, k = (int(x) for x in args[:3])
    trans_a, trans_b = "--trans-a" in sys.argv, "--trans-b" in sys.argv
    runs = 10
    if "--runs" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--runs") + 1])
    flops = 2.0 * m * n * k
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
    opa = a.T if trans_a else a  # views: BLAS sees the transpose flag, nothing is copied
    opb = b.T if trans_b else b

    try:
        import threadpoolctl
        info = threadpoolctl.threadpool_info()
        blas = [f"{d.get('internal_api')}:{d.get('architecture')}:threads={d.get('num_threads')}" for d in info]
        print("# threadpoolctl: " + "; ".join(blas) + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
        limiter = threadpoolctl.threadpool_limits(THREADS)
    except ImportError:
        print("# threadpoolctl not installed")
        limiter = None

    out = np.empty((m, n), dtype=np.float32)
    print(f"numpy gflops={median_gflops(lambda: np.matmul(opa, opb, out=out), flops, runs):.1f}")
    if limiter is not None:
        limiter.restore_original_limits()

    import torch
    torch.set_num_threads(THREADS)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    ta = ta.t() if trans_a else ta
    tb = tb.t() if trans_b else tb
    tout = torch.empty((m, n), dtype=torch.float32)
    with torch.no_grad():
        print(f"torch gflops={median_gflops(lambda: torch.matmul(ta, tb, out=tout), flops, runs):.1f}")


if __name__ == "__main__":
    main()
