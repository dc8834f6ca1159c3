"""Generates autograd_parity.json: an MLP and a small attention block trained for 20 AdamW steps in PyTorch.

Run with Debian's python3-torch (1.13, CPU):  /usr/bin/python3 tests/Fixtures/make_autograd_parity.py
The weights are stored in Engine's layout ([in, out], y = x @ W + b), so the C# test builds the same models.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float32)
STEPS, LR, WD = 20, 1e-2, 0.01


def param(*shape, scale=0.3):
    return (torch.randn(*shape) * scale).requires_grad_()


def mlp_case():
    x = torch.randn(16, 8)
    y = torch.randint(0, 4, (16,))
    params = {"w1": param(8, 16), "b1": param(16), "w2": param(16, 4), "b2": param(4)}

    def loss_fn(p):
        h = F.gelu(x @ p["w1"] + p["b1"], approximate="tanh")
        return F.cross_entropy(h @ p["w2"] + p["b2"], y)

    return {"x": x, "targets": y}, params, loss_fn


def attention_case():
    B, T, C, H = 2, 6, 8, 2
    x = torch.randn(B, T, C)
    y = torch.randint(0, 5, (B * T,))
    params = {
        "ln_w": (1 + 0.1 * torch.randn(C)).requires_grad_(), "ln_b": param(C, scale=0.1),
        # No qkv bias: the key bias has an exactly-zero gradient (softmax is shift-invariant), and AdamW turns
        # that gradient's rounding noise into ±lr steps, which no two implementations share.
        "w_qkv": param(C, 3 * C),
        "w_proj": param(C, C), "b_proj": param(C, scale=0.1),
        "w_head": param(C, 5), "b_head": param(5, scale=0.1),
    }

    def loss_fn(p):
        h = F.layer_norm(x, (C,), p["ln_w"], p["ln_b"], eps=1e-5)
        q, k, v = (h @ p["w_qkv"]).split(C, dim=-1)
        heads = lambda t: t.reshape(B, T, H, C // H).permute(0, 2, 1, 3)
        q, k, v = heads(q), heads(k), heads(v)
        s = q @ k.transpose(-2, -1) / (C // H) ** 0.5
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        o = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        r = x + o @ p["w_proj"] + p["b_proj"]
        return F.cross_entropy((r @ p["w_head"] + p["b_head"]).reshape(B * T, 5), y)

    return {"x": x, "targets": y}, params, loss_fn


def run(case):
    data, params, loss_fn = case()
    init = {k: v.detach().clone() for k, v in params.items()}
    opt = torch.optim.AdamW(params.values(), lr=LR, weight_decay=WD)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    flat = lambda t: {"shape": list(t.shape), "data": t.reshape(-1).tolist()}
    return {
        "inputs": {k: flat(v) for k, v in data.items()},
        "init": {k: flat(v) for k, v in init.items()},
        "losses": losses,
        "final": {k: flat(v.detach()) for k, v in params.items()},
    }


out = {"source": "tests/Fixtures/make_autograd_parity.py, torch " + torch.__version__, "lr": LR, "weight_decay": WD,
       "mlp": run(mlp_case), "attention": run(attention_case)}
with open(__file__.replace("make_autograd_parity.py", "autograd_parity.json"), "w") as f:
    json.dump(out, f)
print("losses mlp", out["mlp"]["losses"][0], "->", out["mlp"]["losses"][-1])
print("losses attention", out["attention"]["losses"][0], "->", out["attention"]["losses"][-1])
