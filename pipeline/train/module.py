"""The training logic around `TopicLSTM`: loss, optimizer and schedule, logging, reproducible dropout.

Holds nothing but training logic (lightning-hydra-template's pattern): the network arrives built,
the optimizer and scheduler as partials from the config (`optimizer(params=...)`,
`scheduler(optimizer=...)`).

Dropout masks are drawn from the global RNG, seeded at every step from (seed, global step): a run
resumed from a checkpoint draws the same masks as one that was never interrupted, without saving
RNG states.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch

from pipeline.model.network import TopicLSTM

log = logging.getLogger(__name__)


class EquationLM(pl.LightningModule):
    def __init__(self, net: TopicLSTM, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None, seed: int, sample_every_validation: int = 0,
                 sample_max_len: int = 120, decode: Callable[[list[int]], str] | None = None,
                 sample_thetas: torch.Tensor | None = None, bos_id: int = 2, eos_id: int = 3) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.seed = int(seed)
        self.sample_every_validation = int(sample_every_validation)
        self.sample_max_len = int(sample_max_len)
        self.decode = decode  # ids -> LaTeX, for the equations logged at each validation
        self.sample_thetas = sample_thetas  # θ rows to sample from at validation
        self.bos_id, self.eos_id = int(bos_id), int(eos_id)
        self.tokens_seen = 0  # non-padding target tokens, for the tokens/s bar

    def forward(self, inputs: torch.Tensor, theta: torch.Tensor, targets: torch.Tensor | None = None):
        return self.net(inputs, theta, targets)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # DDP processes draw masks of their own (rank 0 draws what one process would)
        torch.manual_seed(self.seed * 1_000_003 + self.global_step + 7_919 * self.global_rank)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        _, loss = self.net(batch["inputs"], batch["theta"], batch["targets"])
        n = int(batch["n_tokens"])  # counted by collate on the host: no sync with a GPU here
        self.tokens_seen += n
        self.log("train_loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=n)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, loss = self.net(batch["inputs"], batch["theta"], batch["targets"])
        n = int(batch["n_tokens"])
        # token-weighted over the whole validation set (batch_size = tokens in the batch); under DDP
        # every process scores the whole set, so the mean over processes is the same figure
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n,
                 sync_dist=self.trainer.world_size > 1)

    def on_validation_epoch_end(self) -> None:
        if (self.sample_every_validation <= 0 or self.decode is None or self.sample_thetas is None
                or self.trainer.sanity_checking or self.global_rank != 0):
            return
        g = torch.Generator().manual_seed(self.seed)  # its own RNG: training's stays untouched
        theta = self.sample_thetas[: self.sample_every_validation].to(self.device)
        vocab_ids = self.net.generate(theta, bos_id=self.bos_id, eos_id=self.eos_id, max_len=self.sample_max_len, generator=g)
        for ids in vocab_ids:
            log.info("sample at step %d: %s", self.global_step, self.decode(ids))

    def configure_optimizers(self) -> Any:
        decay, no_decay = [], []
        for name, p in self.net.named_parameters():
            (no_decay if p.ndim < 2 or "embed" in name else decay).append(p)
        opt = self.optimizer_factory(params=[{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        if self.scheduler_factory is None:
            return opt
        sched = self.scheduler_factory(optimizer=opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
