"""PyTorch side of the autograd-overhead benchmark: the same 2-layer MLP (batch 256, width 512, tanh-GELU,
cross-entropy), forward + backward, median of 40 runs on 2 threads.  Run with /usr/bin/python3."""
import time
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
B, W, RUNS = 256, 512, 100
x = torch.randn(B, W)
t = torch.tensor([i * 7 % W for i in range(B)])
w1 = (torch.randn(W, W) * 0.04).requires_grad_()
b1 = torch.zeros(W, requires_grad=True)
w2 = (torch.randn(W, W) * 0.04).requires_grad_()
b2 = torch.zeros(W, requires_grad=True)


def step():
    for p in (w1, b1, w2, b2):
        p.grad = None
    h = F.gelu(x @ w1 + b1, approximate="tanh")
    F.cross_entropy(h @ w2 + b2, t).backward()


end = time.perf_counter() + 1.5
while time.perf_counter() < end:
    step()
times = []
for _ in range(RUNS):
    s = time.perf_counter()
    step()
    times.append((time.perf_counter() - s) * 1e3)
times.sort()
print(f"torch_ms={times[RUNS // 2]:.3f}")
