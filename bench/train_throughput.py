"""Training throughput of the train stage against a bare PyTorch loop, side by side in one run.

    .venv/bin/python bench/train_throughput.py [--run default] [--steps 60] [--warmup 10] [--rounds 2]
        [overrides ...]   # e.g. trainer.precision=32-true datamodule.batch_size=128

Both train the same network (the run's config), on the same batches (the datamodule's first
training batches, in order), with the same precision, optimizer and clipping; the bare loop has no
Lightning and no data loading in the timed part (its batches are built beforehand). Printed:
non-padding target tokens per second of each, and their ratio (stage / bare). Rounds alternate
(bare, stage, bare, stage...) so machine load hits both alike; the best round of each is compared.
Needs a prepared run with topics (python -m pipeline stage=topics).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.config import compose
from pipeline.model.network import TopicLSTM
from pipeline.runfolder import TrainFolder
from pipeline.stages.train import build_trainer


class _Timer:
    """Lightning callback: tokens and seconds from step `warmup` to the end."""

    def __init__(self, warmup: int) -> None:
        import pytorch_lightning as pl

        class CB(pl.Callback):
            def on_train_batch_start(cb, trainer, module, batch, idx):  # noqa: N805
                if trainer.global_step == warmup:
                    self.t0, self.tok0 = time.perf_counter(), module.tokens_seen

            def on_train_end(cb, trainer, module):  # noqa: N805
                self.seconds = time.perf_counter() - self.t0
                self.tokens = module.tokens_seen - self.tok0

        self.cb = CB()


def bare_loop(cfg, dm, batches, warmup: int) -> float:
    """The same network, optimizer, clipping and precision in a plain loop over ready batches."""
    torch.manual_seed(0)
    net = TopicLSTM(instantiate(cfg.model.net)(vocab_size=len(dm.vocab), num_topics=dm.num_topics, pad_id=dm.vocab.pad_id))
    opt = instantiate(cfg.model.optimizer)(params=net.parameters())
    bf16 = str(cfg.trainer.precision).startswith("bf16")
    net.train()
    tokens, t0 = 0, None
    for i, b in enumerate(batches):
        if i == warmup:
            t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            _, loss = net(b["inputs"], b["theta"], b["targets"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), float(cfg.trainer.gradient_clip_val))
        opt.step()
        if i >= warmup:
            tokens += int((b["targets"] != dm.vocab.pad_id).sum())
    return tokens / (time.perf_counter() - t0)


def stage_loop(cfg, dm, steps: int, warmup: int) -> float:
    """The train stage's own Trainer and module (pipeline.stages.train.build_trainer), no validation."""
    with tempfile.TemporaryDirectory() as tmp:
        c = OmegaConf.merge(cfg, {"trainer": {"max_steps": steps, "enable_progress_bar": False},
                                  "callbacks": {"model_checkpoint": {"dirpath": tmp}},
                                  "logger": {"csv": {"save_dir": tmp}}, "train": {"samples_at_validation": 0}})
        torch.manual_seed(0)
        net = TopicLSTM(instantiate(c.model.net)(vocab_size=len(dm.vocab), num_topics=dm.num_topics,
                                                 pad_id=dm.vocab.pad_id))
        module, trainer = build_trainer(c, net, dm, TrainFolder(Path(tmp)))
        timer = _Timer(warmup)
        trainer.callbacks.append(timer.cb)
        trainer.fit(module, datamodule=dm)
    return timer.tokens / timer.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="default")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    cfg = compose([f"run={a.run}", *a.overrides])
    torch.set_num_threads(int(cfg.train.threads or os.cpu_count()))
    dm = instantiate(cfg.datamodule)
    loader = dm.train_dataloader()
    it = iter(loader)
    batches = [next(it) for _ in range(a.steps)]
    bare, stage = [], []
    for r in range(a.rounds):
        bare.append(bare_loop(cfg, dm, batches, a.warmup))
        stage.append(stage_loop(cfg, dm, a.steps, a.warmup))
        print(f"round {r + 1}: bare {bare[-1]:,.0f} tok/s, stage {stage[-1]:,.0f} tok/s", flush=True)
    print(f"precision {cfg.trainer.precision}, batch {cfg.datamodule.batch_size}, network "
          f"{cfg.model.net.layers}x{cfg.model.net.hidden}, {a.steps - a.warmup} timed steps")
    print(f"best: bare loop {max(bare):,.0f} tok/s | train stage {max(stage):,.0f} tok/s | "
          f"ratio stage/bare {max(stage) / max(bare):.3f}")


if __name__ == "__main__":
    main()
