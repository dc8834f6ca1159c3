"""Generates gpt_parity.json: a tiny GPT-2 written plainly in PyTorch, its logits, every parameter gradient
and its first 10 AdamW training losses, for Engine's model parity test.

Run with Debian's python3-torch (1.13, CPU):  /usr/bin/python3 tests/Fixtures/make_gpt_parity.py
Weights use GPT-2's names and Conv1D layout ([in, out]), as Engine's Gpt does.
"""
import json
import math
import torch
import torch.nn.functional as F

torch.manual_seed(0)
V, T, C, L, H, B = 32, 16, 32, 2, 4, 2
LR, WD = 3e-3, 0.01

p = {"wte.weight": torch.randn(V, C) * 0.02, "wpe.weight": torch.randn(T, C) * 0.02}
for i in range(L):
    h = f"h.{i}."
    p[h + "ln_1.weight"] = 1 + 0.1 * torch.randn(C); p[h + "ln_1.bias"] = 0.1 * torch.randn(C)
    p[h + "attn.c_attn.weight"] = torch.randn(C, 3 * C) * 0.1; p[h + "attn.c_attn.bias"] = 0.05 * torch.randn(3 * C)
    p[h + "attn.c_proj.weight"] = torch.randn(C, C) * 0.1; p[h + "attn.c_proj.bias"] = 0.05 * torch.randn(C)
    p[h + "ln_2.weight"] = 1 + 0.1 * torch.randn(C); p[h + "ln_2.bias"] = 0.1 * torch.randn(C)
    p[h + "mlp.c_fc.weight"] = torch.randn(C, 4 * C) * 0.1; p[h + "mlp.c_fc.bias"] = 0.05 * torch.randn(4 * C)
    p[h + "mlp.c_proj.weight"] = torch.randn(4 * C, C) * 0.1; p[h + "mlp.c_proj.bias"] = 0.05 * torch.randn(C)
p["ln_f.weight"] = 1 + 0.1 * torch.randn(C); p["ln_f.bias"] = 0.1 * torch.randn(C)
for t in p.values():
    t.requires_grad_()
init = {k: v.detach().clone() for k, v in p.items()}

ids = torch.randint(0, V, (B, T))
targets = torch.randint(0, V, (B, T))


def forward(ids):
    x = p["wte.weight"][ids] + p["wpe.weight"][torch.arange(T)]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for i in range(L):
        h = f"h.{i}."
        a = F.layer_norm(x, (C,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], 1e-5)
        q, k, v = (a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]).split(C, -1)
        heads = lambda t: t.reshape(B, T, H, C // H).permute(0, 2, 1, 3)
        q, k, v = heads(q), heads(k), heads(v)
        s = (q @ k.transpose(-2, -1) / math.sqrt(C // H)).masked_fill(causal, float("-inf"))
        o = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + o @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = F.layer_norm(x, (C,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], 1e-5)
        f = F.gelu(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"], approximate="tanh")
        x = x + f @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], 1e-5)
    return x @ p["wte.weight"].T


logits = forward(ids)
loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
loss.backward()
grads = {k: v.grad.detach().clone() for k, v in p.items()}
logits0 = logits.detach().clone()

for t in p.values():
    t.grad = None
opt = torch.optim.AdamW(p.values(), lr=LR, weight_decay=WD)
losses = []
for _ in range(10):
    opt.zero_grad()
    l = F.cross_entropy(forward(ids).reshape(-1, V), targets.reshape(-1))
    l.backward()
    losses.append(l.item())
    opt.step()

# float32 needs 9 significant digits to round-trip exactly
flat = lambda t: {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}
out = {"source": "tests/Fixtures/make_gpt_parity.py, torch " + torch.__version__,
       "config": {"vocab": V, "context": T, "width": C, "layers": L, "heads": H}, "lr": LR, "weight_decay": WD,
       "ids": ids.tolist(), "targets": targets.tolist(), "init": {k: flat(v) for k, v in init.items()},
       "logits": flat(logits0), "grads": {k: flat(v) for k, v in grads.items()}, "losses": losses}
with open(__file__.replace("make_gpt_parity.py", "gpt_parity.json"), "w") as f:
    json.dump(out, f)
print("loss", losses[0], "->", losses[-1])
