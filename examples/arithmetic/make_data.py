"""Writes the arithmetic example's data: train.txt (supervised warm-up text), prompts.jsonl and eval.jsonl.

Problems are two-digit additions and subtractions in a fixed-width format: "^47-19=" is answered by "+028" and
the stop mark ";". The 200 evaluation problems appear neither in the prompts nor in the warm-up text.
Run: python3 make_data.py (from this folder). The outputs are checked in; this script documents how they were made.
"""
import json
import random

rng = random.Random(20261201)
problems = [(x, op, y) for x in range(100) for y in range(100) for op in "+-"]
rng.shuffle(problems)


def text(p):
    x, op, y = p
    r = x + y if op == "+" else x - y
    return f"^{x:02d}{op}{y:02d}=", f"{'-' if r < 0 else '+'}{abs(r):03d}"


evaluation, prompts, warmup = problems[:200], problems[200:2200], problems[2200:]
with open("eval.jsonl", "w") as f:
    for p in evaluation:
        q, a = text(p)
        f.write(json.dumps({"prompt": q, "answer": a}) + "\n")
with open("prompts.jsonl", "w") as f:
    for p in prompts:
        q, a = text(p)
        f.write(json.dumps({"prompt": q, "answer": a}) + "\n")
with open("train.txt", "w") as f:
    f.write("".join(q + a + ";" for q, a in map(text, warmup[:12000])))
