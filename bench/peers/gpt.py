"""PyTorch side of the GPT throughput benchmark: the same GPT-2 written plainly (as in
tests/Fixtures/make_gpt_parity.py), 2 threads.  Run with /usr/bin/python3 (Debian's torch 1.13)."""
import math
import time
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def make(V, T, C, L, H):
    p = {"wte": torch.randn(V, C) * 0.02, "wpe": torch.randn(T, C) * 0.02}
    for i in range(L):
        for n, s in [("ln1w", (C,)), ("ln1b", (C,)), ("attn_w", (C, 3 * C)), ("attn_b", (3 * C,)), ("proj_w", (C, C)),
                     ("proj_b", (C,)), ("ln2w", (C,)), ("ln2b", (C,)), ("fc_w", (C, 4 * C)), ("fc_b", (4 * C,)),
                     ("fc2_w", (4 * C, C)), ("fc2_b", (C,))]:
            p[f"{i}.{n}"] = torch.randn(*s) * 0.02 + (1.0 if n in ("ln1w", "ln2w") else 0.0)
    p["lnfw"], p["lnfb"] = torch.ones(C), torch.zeros(C)
    for t in p.values():
        t.requires_grad_()
    return p


def forward(p, ids, V, C, L, H, cache=None):
    B, T = ids.shape
    start = 0 if cache is None else cache["len"]
    x = p["wte"][ids] + p["wpe"][torch.arange(start, start + T)]
    for i in range(L):
        a = F.layer_norm(x, (C,), p[f"{i}.ln1w"], p[f"{i}.ln1b"], 1e-5)
        q, k, v = (a @ p[f"{i}.attn_w"] + p[f"{i}.attn_b"]).split(C, -1)
        heads = lambda t: t.reshape(B, T, H, C // H).permute(0, 2, 1, 3)
        q, k, v = heads(q), heads(k), heads(v)
        if cache is not None:
            if i in cache:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
        S = k.shape[2]
        s = q @ k.transpose(-2, -1) / math.sqrt(C // H)
        mask = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
        o = (s.masked_fill(mask, float("-inf")).softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + o @ p[f"{i}.proj_w"] + p[f"{i}.proj_b"]
        m = F.layer_norm(x, (C,), p[f"{i}.ln2w"], p[f"{i}.ln2b"], 1e-5)
        x = x + F.gelu(m @ p[f"{i}.fc_w"] + p[f"{i}.fc_b"], approximate="tanh") @ p[f"{i}.fc2_w"] + p[f"{i}.fc2_b"]
    if cache is not None:
        cache["len"] = start + T
    return F.layer_norm(x, (C,), p["lnfw"], p["lnfb"], 1e-5) @ p["wte"].T


def train(name, V, T, C, L, H, B, steps):
    p = make(V, T, C, L, H)
    opt = torch.optim.AdamW(p.values(), lr=1e-4)
    ids = torch.tensor([i * 7919 % V for i in range(B * T)]).reshape(B, T)
    y = (ids + 1) % V

    def step():
        opt.zero_grad()
        F.cross_entropy(forward(p, ids, V, C, L, H).reshape(-1, V), y.reshape(-1)).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        s = time.perf_counter()
        step()
        times.append(time.perf_counter() - s)
    times.sort()
    print(f"train_{name}_tokens_per_s={B * T / times[steps // 2]:.0f}")


def generate():
    V, T, C, L, H = 64, 64, 128, 4, 4
    p = make(V, T, C, L, H)

    def run():
        with torch.no_grad():
            cache = {"len": 0}
            ids = torch.arange(16).reshape(16, 1) % V
            for _ in range(64):
                logits = forward(p, ids, V, C, L, H, cache)[:, -1]
                ids = torch.multinomial(logits.softmax(-1), 1)

    run()
    times = []
    for _ in range(5):
        s = time.perf_counter()
        run()
        times.append(time.perf_counter() - s)
    times.sort()
    print(f"generate_tiny_tokens_per_s={16 * 64 / times[2]:.0f}")


train("tiny", 64, 64, 128, 4, 4, 32, 20)
train("small", 512, 256, 384, 6, 6, 8, 6)
generate()
