"""PyTorch-on-CUDA peers of `bench -- gpu` (bench/GpuTiming.cs): cuBLAS GEMM in float32 (TF32 off), TF32 and
bf16; device-to-device copy and element-wise bandwidth; scaled_dot_product_attention forward and
forward+backward. Prints `key=value` lines with the same keys as the Engine side; compare-gpu.sh joins them.

    python3 bench/gpu/peers.py [--small]

Each measurement: warm-up, then the median over 5 repetitions of a timed loop bracketed by
torch.cuda.synchronize()."""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

if not torch.cuda.is_available():
    print("# no CUDA device: PyTorch peers skipped")
    sys.exit(2)

SMALL = "--small" in sys.argv
dev = torch.device("cuda")
print(f"# device={torch.cuda.get_device_name(0)} torch={torch.__version__}")


def timed(fn, iters):
    """Median seconds per call of fn over 5 repetitions of `iters` calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    reps = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
        reps.append((time.perf_counter() - start) / iters)
    return statistics.median(reps)


GEMM_SHAPES = [(256, 256, 256)] if SMALL else [(4096, 4096, 4096), (512, 768, 768), (512, 3072, 768), (512, 768, 3072)]
for m, n, k in GEMM_SHAPES:
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True), ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(m, k, device=dev).to(dtype)
        b = torch.randn(k, n, device=dev).to(dtype)
        c = torch.empty(m, n, device=dev, dtype=dtype)
        sec = timed(lambda: torch.matmul(a, b, out=c), 20 if m * n * k >= 1 << 30 else 200)
        print(f"gemm_{name}_{m}x{n}x{k}_tflops={2 * m * n * k / sec / 1e12:.3f}")
torch.backends.cuda.matmul.allow_tf32 = False

elems = (1 << 20) if SMALL else (1 << 28)  # 1 GiB of float32
x = torch.randn(elems, device=dev)
y = torch.empty_like(x)
sec = timed(lambda: y.copy_(x), 20)
print(f"copy_{elems}_gbps={2 * 4 * elems / sec / 1e9:.1f}")
sec = timed(lambda: torch.mul(x, 2.0, out=y), 20)
print(f"scale_{elems}_gbps={2 * 4 * elems / sec / 1e9:.1f}")

ATTN = [(2, 64, 32)] if SMALL else [(48, 256, 64), (48, 1024, 64)]
for bh, t, d in ATTN:
    q, k, v = (torch.randn(1, bh, t, d, device=dev, requires_grad=True) for _ in range(3))
    g = torch.randn(1, bh, t, d, device=dev)
    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    def fwd_bwd():
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        o.backward(g)
    print(f"attention_fwd_bh{bh}_t{t}_d{d}_ms={timed(fwd, 50) * 1e3:.4f}")
    print(f"attention_fwdbwd_bh{bh}_t{t}_d{d}_ms={timed(fwd_bwd, 20) * 1e3:.4f}")
