"""Generates tests/Fixtures/tiny-gpt2/: a tiny random GPT-2 in the exact Hugging Face directory layout, and its logits.

Run with Debian's python3-torch (1.13, CPU):  /usr/bin/python3 tests/Fixtures/make_gpt2_checkpoint.py

Hugging Face `transformers` is not installed here, so the forward pass below re-implements
GPT2LMHeadModel's (modeling_gpt2.py) operation by operation:
  x = wte[ids] + wpe[arange(T)]
  per block:  a = ln_1(x); qkv = a @ c_attn.weight + c_attn.bias   (Conv1D: weight is [in, out])
              q, k, v split into n_head heads; w = q k^T / sqrt(d); causal mask from the `bias` buffer
              (masked_fill with the dtype's minimum), softmax, @ v; merge heads; x += c_proj(...)
              m = ln_2(x); x += mlp.c_proj(gelu_new(mlp.c_fc(m)))          gelu_new = tanh-approximated GELU
  final: ln_f, logits = h @ wte^T (lm_head tied to wte), layer_norm_epsilon = 1e-5.
The weights file is written with this script's own small safetensors writer, laid out as a real HF
GPT-2 checkpoint is: `transformer.` prefix, the `attn.bias` ([1, 1, n_pos, n_pos] lower-triangular)
and `attn.masked_bias` (scalar -1e4) buffers, and `lm_head.weight` (a copy of wte).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
VOCAB, N_POS, N_EMBD, N_LAYER, N_HEAD, EPS = 50, 16, 16, 2, 2, 1e-5
IDS = [3, 17, 42, 0, 49, 8, 8, 25, 11, 30, 1]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-gpt2")


def rand(*shape, std=0.2):
    return torch.randn(*shape) * std


# Non-trivial LayerNorm gains and biases, so that a swapped weight/bias would show in the logits.
params = {"wte.weight": rand(VOCAB, N_EMBD, std=0.5), "wpe.weight": rand(N_POS, N_EMBD, std=0.3)}
for i in range(N_LAYER):
    h = f"h.{i}."
    params[h + "ln_1.weight"] = 1 + rand(N_EMBD, std=0.1)
    params[h + "ln_1.bias"] = rand(N_EMBD, std=0.1)
    params[h + "attn.c_attn.weight"] = rand(N_EMBD, 3 * N_EMBD)
    params[h + "attn.c_attn.bias"] = rand(3 * N_EMBD, std=0.1)
    params[h + "attn.c_proj.weight"] = rand(N_EMBD, N_EMBD)
    params[h + "attn.c_proj.bias"] = rand(N_EMBD, std=0.1)
    params[h + "ln_2.weight"] = 1 + rand(N_EMBD, std=0.1)
    params[h + "ln_2.bias"] = rand(N_EMBD, std=0.1)
    params[h + "mlp.c_fc.weight"] = rand(N_EMBD, 4 * N_EMBD)
    params[h + "mlp.c_fc.bias"] = rand(4 * N_EMBD, std=0.1)
    params[h + "mlp.c_proj.weight"] = rand(4 * N_EMBD, N_EMBD)
    params[h + "mlp.c_proj.bias"] = rand(N_EMBD, std=0.1)
params["ln_f.weight"] = 1 + rand(N_EMBD, std=0.1)
params["ln_f.bias"] = rand(N_EMBD, std=0.1)

causal = torch.tril(torch.ones(N_POS, N_POS)).view(1, 1, N_POS, N_POS)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def conv1d(x, w, b):  # transformers.pytorch_utils.Conv1D: addmm(bias, x, weight) with weight [in, out]
    return torch.addmm(b, x.view(-1, x.size(-1)), w).view(*x.shape[:-1], w.size(-1))


def forward(p, ids):
    b, t = ids.shape
    d = N_EMBD // N_HEAD
    x = p["wte.weight"][ids] + p["wpe.weight"][torch.arange(t)]
    for i in range(N_LAYER):
        h = f"h.{i}."
        a = F.layer_norm(x, (N_EMBD,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], EPS)
        q, k, v = conv1d(a, p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"]).split(N_EMBD, dim=2)
        q, k, v = (z.view(b, t, N_HEAD, d).permute(0, 2, 1, 3) for z in (q, k, v))
        w = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], v.size(-1) ** 0.5)
        mask = causal[:, :, :t, :t].bool()
        w = torch.where(mask, w, torch.full([], torch.finfo(w.dtype).min))
        o = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).contiguous().view(b, t, N_EMBD)
        x = x + conv1d(o, p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"])
        m = F.layer_norm(x, (N_EMBD,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], EPS)
        x = x + conv1d(gelu_new(conv1d(m, p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"])), p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (N_EMBD,), p["ln_f.weight"], p["ln_f.bias"], EPS)
    return x @ p["wte.weight"].t()


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 little-endian header length, JSON header padded with spaces to 8 bytes, data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy().astype("<f4"))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def main():
    os.makedirs(OUT, exist_ok=True)
    ids = torch.tensor([IDS])
    with torch.no_grad():
        logits = forward(params, ids)
    tensors = {}
    for name, t in params.items():
        tensors["transformer." + name] = t
        if name.endswith("ln_1.weight"):  # buffers sit among the block's tensors, as in HF's state_dict
            layer = name.split(".")[1]
            tensors[f"transformer.h.{layer}.attn.bias"] = causal
            tensors[f"transformer.h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    tensors["lm_head.weight"] = params["wte.weight"].clone()
    write_safetensors(os.path.join(OUT, "model.safetensors"), tensors, {"format": "pt"})
    config = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "layer_norm_epsilon": EPS,
        "model_type": "gpt2",
        "n_ctx": N_POS,
        "n_embd": N_EMBD,
        "n_head": N_HEAD,
        "n_layer": N_LAYER,
        "n_positions": N_POS,
        "vocab_size": VOCAB,
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    expected = {
        "source": "tests/Fixtures/make_gpt2_checkpoint.py (torch %s, seed 1234)" % torch.__version__,
        "ids": IDS,
        "shape": list(logits.shape),
        "logits": [float(v) for v in logits.reshape(-1).tolist()],
    }
    with open(os.path.join(OUT, "expected_logits.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")
    print("wrote", OUT, "logits", tuple(logits.shape), "max |logit|", float(logits.abs().max()))


if __name__ == "__main__":
    main()
