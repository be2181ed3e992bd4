"""A standard word-level LSTM language model on the same token streams, for as long as the train
stage trained, against the run's topic-conditioned model: test perplexity side by side.

    .venv/bin/python bench/wordlm_baseline.py [--run default] [--seconds SECONDS] [--bptt 64] [--batch 64]

The baseline is the classic recipe (PyTorch's word_language_model): the split's equations
concatenated in file order (`env body <eos>` each, as prepare wrote them) into one stream, cut into
`--batch` columns, truncated back-propagation through `--bptt` tokens with the hidden state carried
across, the same size as the default network (embedding 512 tied to the output, 2×512 LSTM,
dropout 0.25), AdamW with a cosine schedule, clipping 1.0, bf16 autocast like the train stage. It
trains for `--seconds` (default: the run's own training seconds from train/metrics.json) and is
scored twice on the test split: as a stream (10 columns, state carried; every token predicted but
the first), where it sees the equations before each one, often of the same paper; and one equation
at a time (state reset, `<eos>` as the first input), the way the run's model, which sees one
equation and its paper's θ, is scored. Printed: the perplexities and the ratios.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.config import compose
from pipeline.dataset.streams import read_split


class WordLM(nn.Module):
    def __init__(self, vocab: int, size: int = 512, layers: int = 2, dropout: float = 0.25) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, size)
        self.lstm = nn.LSTM(size, size, layers, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(size, vocab)
        self.out.weight = self.emb.weight

    def forward(self, x: torch.Tensor, state=None):
        h, state = self.lstm(self.drop(self.emb(x)), state)
        return self.out(self.drop(h)), state


def columns(stream: np.ndarray, n: int) -> torch.Tensor:
    length = len(stream) // n
    return torch.from_numpy(np.asarray(stream[: length * n], dtype=np.int64)).view(n, length)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="default")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    a = ap.parse_args()
    cfg = compose([f"run={a.run}"])
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(int(cfg.seed))
    root = Path(cfg.paths.run_dir)
    metrics = json.loads((root / "train" / "metrics.json").read_text())
    seconds = a.seconds or float(metrics.get("train_seconds_this_call") or 600)
    vocab = len(json.loads((root / "prepared" / "vocab.json").read_text())["tokens"])
    train = columns(read_split(root / "prepared" / "tokens", "train")[0], a.batch)
    test = columns(read_split(root / "prepared" / "tokens", "test")[0], 10)
    net = WordLM(vocab)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, betas=(0.9, 0.99), weight_decay=0.01)
    # the schedule is set for the number of steps the time allows, estimated after 20 steps
    steps_per_epoch = train.shape[1] // a.bptt
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    step, state, total = 0, None, None
    while True:
        i = (step % steps_per_epoch) * a.bptt
        if i == 0:
            state = None
        x, y = train[:, i : i + a.bptt], train[:, i + 1 : i + 1 + a.bptt]
        if y.shape[1] < x.shape[1]:
            x = x[:, : y.shape[1]]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, state = net(x, state)
            loss = loss_fn(logits.float().reshape(-1, vocab), y.reshape(-1))
        state = tuple(s.detach() for s in state)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        step += 1
        took = time.perf_counter() - t0
        if step == 20:
            total = int(seconds / (took / 20))
        lr_scale = min(1.0, step / 100) if total is None else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        for g in opt.param_groups:
            g["lr"] = a.lr * lr_scale
        opt.step()
        if step % 200 == 0:
            print(f"step {step}, {took:.0f} s, loss {loss.item():.3f}", flush=True)
        if took >= seconds:
            break
    net.eval()
    nll, count, state = 0.0, 0, None
    with torch.no_grad():
        for i in range(0, test.shape[1] - 1, a.bptt):
            x, y = test[:, i : i + a.bptt], test[:, i + 1 : i + 1 + a.bptt]
            x = x[:, : y.shape[1]]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits, state = net(x, state)
            nll += float(nn.functional.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1), reduction="sum"))
            count += y.numel()
    base = math.exp(nll / count)
    alone = _one_at_a_time(net, root, vocab)
    ours = metrics["test"]["true"]["perplexity"]
    none = (metrics.get("none") or {}).get("test", {}).get("perplexity")
    print(f"baseline word-level LSTM: {step} steps in {took:.0f} s ({step / steps_per_epoch:.2f} epochs)")
    print(f"  test perplexity, the stream with its state carried (it sees the equations before): {base:.3f} "
          f"over {count:,} tokens")
    print(f"  test perplexity, one equation at a time (state reset, as the run's model is scored): {alone:.3f}")
    print(f"run {a.run}: test perplexity {ours:.3f} (true θ, one equation at a time)"
          + (f"; its no-topic network {none:.3f}" if none else ""))
    print(f"ratio run / baseline: {ours / base:.3f} against the stream, {ours / alone:.3f} one equation at a time")


@torch.no_grad()
def _one_at_a_time(net: WordLM, root: Path, vocab: int) -> float:
    """Each test equation alone: zero state, <eos> as the first input (the stream's separator), every
    token of `env body <eos>` predicted: the tokens the run's model is scored on."""
    ids, off = read_split(root / "prepared" / "tokens", "test")
    eos = int(np.asarray(ids[off[1] - 1]))  # every row ends with <eos>
    rows = sorted((np.asarray(ids[off[r]:off[r + 1]], dtype=np.int64) for r in range(len(off) - 1)), key=len)
    nll, count = 0.0, 0
    for i in range(0, len(rows), 128):
        part = rows[i : i + 128]
        n = max(map(len, part))
        x = torch.zeros(len(part), n, dtype=torch.long)
        y = torch.full((len(part), n), -100, dtype=torch.long)
        for j, r in enumerate(part):
            x[j, 0], x[j, 1 : len(r)] = eos, torch.from_numpy(r[:-1])
            y[j, : len(r)] = torch.from_numpy(r)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, _ = net(x)
        nll += float(nn.functional.cross_entropy(logits.float().reshape(-1, vocab), y.reshape(-1), reduction="sum",
                                                 ignore_index=-100))
        count += int((y != -100).sum())
    return math.exp(nll / count)


if __name__ == "__main__":
    main()
