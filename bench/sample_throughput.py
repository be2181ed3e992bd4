"""Sampling throughput, side by side in one run: equations/s of syntax-aware batched decoding,
plain batched decoding, a bare batched loop over the same network, and one equation at a time.

    .venv/bin/python bench/sample_throughput.py [--run default] [--n 1024] [--batch 512] [--device cpu]

All four sample from the run's trained model (train/model.pt) with θ cycling over the topics, at
temperature 1, up to `--max-len` tokens. The bare loop is what a minimal sampler does: one LSTM step
for the batch, softmax, multinomial, finished rows dropped; no syntax rules, no refilling, no records.
Printed: equations/s and tokens/s of each, and the ratio syntax-aware / bare (the target is >= 0.87).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipeline.config import compose
from pipeline.model.conditioning import Topics
from pipeline.model.decoder import DecodeSettings
from pipeline.model.generation import Generator


@torch.no_grad()
def bare_loop(net, thetas: torch.Tensor, batch: int, max_len: int, bos: int, eos: int, device: str) -> int:
    """Plain batched multinomial sampling; returns the tokens generated."""
    g = torch.Generator(device=device).manual_seed(0)
    tokens = 0
    for s in range(0, len(thetas), batch):
        th = thetas[s : s + batch].to(device)
        ids = torch.full((len(th),), bos, dtype=torch.long, device=device)
        state = None
        for _ in range(max_len):
            logits, state = net.step(ids, th, state)
            ids = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=g).squeeze(1)
            tokens += len(ids)
            # finished sequences stop costing work, as in the stage's sampler
            keep = ids != eos
            if not keep.any():
                break
            if not keep.all():
                ids, th, state = ids[keep], th[keep], (state[0][:, keep], state[1][:, keep])
    return tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="default")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--max-len", type=int, default=200)
    ap.add_argument("--one-at-a-time", type=int, default=32, help="equations sampled one by one")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    cfg = compose([f"run={a.run}"])
    torch.set_num_threads(int(cfg.sample.threads or __import__("os").cpu_count()))
    root = __import__("pathlib").Path(cfg.paths.run_dir)
    gen = Generator.from_run(root, device=a.device)
    topics = Topics.load(root)
    th = np.stack([topics.topic_theta(k % topics.num_topics) for k in range(a.n)]).astype(np.float32)
    thetas = torch.from_numpy(th)
    rows = []
    for name, syntax in (("syntax-aware batched", True), ("plain batched", False)):
        s = DecodeSettings(1.0, 0, 1.0, a.max_len, syntax, 1, -9.0)
        t0 = time.perf_counter()
        recs = gen.generate(thetas, s, a.batch)
        dt = time.perf_counter() - t0
        rows.append((name, len(recs) / dt, sum(len(r.tokens) + 1 for r in recs) / dt))
    t0 = time.perf_counter()
    tok = bare_loop(gen.net, thetas, a.batch, a.max_len, gen.vocab.bos_id, gen.vocab.eos_id, a.device)
    dt = time.perf_counter() - t0
    rows.append(("bare batched loop", a.n / dt, tok / dt))
    s = DecodeSettings(1.0, 0, 1.0, a.max_len, True, 1, -9.0)
    t0 = time.perf_counter()
    recs = gen.generate(thetas[: a.one_at_a_time], s, 1)
    dt = time.perf_counter() - t0
    rows.append(("one at a time (syntax-aware)", len(recs) / dt, sum(len(r.tokens) + 1 for r in recs) / dt))
    print(f"device {a.device}, batch {a.batch}, {a.n} equations, max_len {a.max_len}")
    for name, eqs, toks in rows:
        print(f"{name:30s} {eqs:8.1f} equations/s {toks:10.0f} tokens/s")
    print(f"ratio syntax-aware / bare loop (equations/s): {rows[0][1] / rows[2][1]:.3f}")


if __name__ == "__main__":
    main()
