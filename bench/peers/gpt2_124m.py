"""GPT-2 124M at full size (vocab 50257, width 768, 12 layers, 12 heads, context 1024) with random weights.

  /usr/bin/python3 bench/peers/gpt2_124m.py make DIR     writes a Hugging Face GPT-2 directory (config.json,
                                                        model.safetensors with HF's names and buffers; 0.5 GB)
  /usr/bin/python3 bench/peers/gpt2_124m.py time DIR     PyTorch 1.13, 2 threads: load, an evaluation forward of
                                                        4×256 tokens (no grad) and one AdamW training step

The model is too big to commit, so bench/compare-gpt2.sh makes it at run time. `time` prints load_s=, forward_s= and
train_step_s= (medians of 3 runs after one untimed call), the keys `engine bench model` prints. The forward is
transformers' GPT2LMHeadModel written out (Conv1D weights [in, out], tanh GELU, tied lm_head), as in
tests/Fixtures/make_gpt2_checkpoint.py.
"""
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

V, T, C, L, H, EPS = 50257, 1024, 768, 12, 12, 1e-5
BATCH, TOKENS, RUNS = 4, 256, 3
torch.set_num_threads(2)


def make(out):
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(124)
    r = lambda *s, std=0.02: torch.randn(*s, generator=g) * std  # noqa: E731
    tensors = {"transformer.wte.weight": r(V, C), "transformer.wpe.weight": r(T, C, std=0.01)}
    causal = torch.tril(torch.ones(T, T)).view(1, 1, T, T)
    for i in range(L):
        h = f"transformer.h.{i}."
        tensors[h + "ln_1.weight"], tensors[h + "ln_1.bias"] = torch.ones(C), torch.zeros(C)
        tensors[h + "attn.bias"], tensors[h + "attn.masked_bias"] = causal, torch.tensor(-1e4)
        tensors[h + "attn.c_attn.weight"], tensors[h + "attn.c_attn.bias"] = r(C, 3 * C), torch.zeros(3 * C)
        tensors[h + "attn.c_proj.weight"], tensors[h + "attn.c_proj.bias"] = r(C, C), torch.zeros(C)
        tensors[h + "ln_2.weight"], tensors[h + "ln_2.bias"] = torch.ones(C), torch.zeros(C)
        tensors[h + "mlp.c_fc.weight"], tensors[h + "mlp.c_fc.bias"] = r(C, 4 * C), torch.zeros(4 * C)
        tensors[h + "mlp.c_proj.weight"], tensors[h + "mlp.c_proj.bias"] = r(4 * C, C), torch.zeros(C)
    tensors["transformer.ln_f.weight"], tensors["transformer.ln_f.bias"] = torch.ones(C), torch.zeros(C)
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"]
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors.items():
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for t in tensors.values():
            f.write(t.contiguous().numpy().astype("<f4").tobytes())
    config = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": EPS,
              "model_type": "gpt2", "n_ctx": T, "n_embd": C, "n_head": H, "n_layer": L, "n_positions": T, "vocab_size": V}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def load(directory):
    with open(os.path.join(directory, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    p = {}
    for name, info in header.items():
        if name == "__metadata__" or name.endswith((".attn.bias", ".attn.masked_bias")) or name == "lm_head.weight":
            continue
        a, b = info["data_offsets"]
        p[name.removeprefix("transformer.")] = torch.from_numpy(np.frombuffer(data, "<f4", (b - a) // 4, a).reshape(info["shape"]).copy())
    for t in p.values():
        t.requires_grad_()
    return p


def forward(p, ids):
    b, t = ids.shape
    d = C // H
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    x = p["wte.weight"][ids] + p["wpe.weight"][:t]
    for i in range(L):
        h = f"h.{i}."
        a = F.layer_norm(x, (C,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], EPS)
        q, k, v = torch.addmm(p[h + "attn.c_attn.bias"], a.view(-1, C), p[h + "attn.c_attn.weight"]).view(b, t, 3 * C).split(C, 2)
        q, k, v = (z.view(b, t, H, d).permute(0, 2, 1, 3) for z in (q, k, v))
        s = (q @ k.transpose(-1, -2) / math.sqrt(d)).masked_fill(mask, float("-inf"))
        o = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b * t, C)
        x = x + torch.addmm(p[h + "attn.c_proj.bias"], o, p[h + "attn.c_proj.weight"]).view(b, t, C)
        m = F.layer_norm(x, (C,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], EPS).view(-1, C)
        f = F.gelu(torch.addmm(p[h + "mlp.c_fc.bias"], m, p[h + "mlp.c_fc.weight"]), approximate="tanh")
        x = x + torch.addmm(p[h + "mlp.c_proj.bias"], f, p[h + "mlp.c_proj.weight"]).view(b, t, C)
    return F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], EPS) @ p["wte.weight"].t()


def report(name, fn):
    fn()
    times = []
    for _ in range(RUNS):
        s = time.perf_counter()
        fn()
        times.append(time.perf_counter() - s)
    print(f"{name}={statistics.median(times):.4f}")


def main():
    verb, directory = sys.argv[1], sys.argv[2]
    if verb == "make":
        make(directory)
        return
    s = time.perf_counter()
    p = load(directory)
    print(f"load_s={time.perf_counter() - s:.3f}")
    g = torch.Generator().manual_seed(7)
    x, y = (torch.randint(0, V, (BATCH, TOKENS), generator=g) for _ in range(2))
    opt = torch.optim.AdamW(p.values(), lr=1e-5)

    def eval_forward():
        with torch.no_grad():
            F.cross_entropy(forward(p, x).view(-1, V), y.view(-1)).item()

    def train_step():
        opt.zero_grad()
        F.cross_entropy(forward(p, x).view(-1, V), y.view(-1)).backward()
        opt.step()

    report("forward_s", eval_forward)
    report("train_step_s", train_step)


if __name__ == "__main__":
    main()
