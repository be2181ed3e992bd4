"""Lightning pieces the train stage adds: a progress bar that shows tokens/s, a CSV logger whose
curves survive a resume."""
from __future__ import annotations

import csv
import os
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities import rank_zero_only

from pipeline.progress import LineProgress


class TokensPerSecondBar(TQDMProgressBar):
    """Lightning's bar plus `tok/s`: non-padding target tokens trained per second (since the last
    refresh). Kept out of the logged metrics, so the curves do not depend on machine load."""

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._mark: tuple[float, int] | None = None
        self._rate: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        now, seen = time.perf_counter(), getattr(pl_module, "tokens_seen", 0)
        if self._mark is not None and seen > self._mark[1] and now > self._mark[0]:
            if trainer.global_step % self.refresh_rate == 0:
                self._rate = (seen - self._mark[1]) / (now - self._mark[0])
                self._mark = (now, seen)
        else:
            self._mark = (now, seen)
        super().on_train_batch_end(trainer, pl_module, *args)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mark = None  # validation time is not training time
        super().on_validation_end(trainer, pl_module)

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        if self._rate is not None:
            items["tok/s"] = f"{self._rate:,.0f}"
        return items


class LogLineProgress(pl.Callback):
    """Training progress where stderr is a log file, not a terminal: a line every `interval` seconds
    (step, loss, tokens/s, time left) instead of a bar's redraws."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.bar: LineProgress | None = None
        self._mark: tuple[float, int] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.bar = LineProgress(total, "train", "step", self.interval, initial=trainer.global_step)
        self._mark = (time.perf_counter(), getattr(pl_module, "tokens_seen", 0))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.bar is None or self._mark is None:
            return
        self.bar.n = trainer.global_step
        if not self.bar.due():  # the loss is read (on a GPU: waited for) only for a line written
            return
        loss = trainer.callback_metrics.get("train_loss")
        took = time.perf_counter() - self._mark[0]
        rate = (getattr(pl_module, "tokens_seen", 0) - self._mark[1]) / took if took > 0 else 0.0
        self.bar.set_postfix_str((f"loss {float(loss):.3f}, " if loss is not None else "") + f"{rate:,.0f} tok/s")
        self.bar.refresh()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.n = trainer.global_step
            self.bar.close()


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger deletes an existing metrics.csv when it starts; this one keeps it. Rows
    written after the checkpoint a run resumes from (steps at or beyond the first step logged anew)
    are dropped before new rows are appended, so after a kill and a resume the file reads as if the
    run had never stopped."""

    def __init__(self, save_dir: str, name: str = "", version: str = "curves") -> None:
        super().__init__(save_dir=save_dir, name=name, version=version, flush_logs_every_n_steps=50)
        self._kept: list[dict[str, str]] | None = None
        path = os.path.join(self.log_dir, "metrics.csv")
        if os.path.isfile(path):  # read before the writer (which removes it) exists
            with open(path, newline="", encoding="utf-8") as fh:
                self._kept = list(csv.DictReader(fh))

    @rank_zero_only  # as Lightning's own: under DDP the other processes' experiment is a stand-in with no file
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self._kept is not None:
            first = step if step is not None else 0
            self._restore([r for r in self._kept if r.get("step") not in (None, "") and int(float(r["step"])) < first])
        super().log_metrics(metrics, step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._kept is not None:  # nothing new was logged (a run resumed at its last step): keep the curves
            self._restore(self._kept)
        super().finalize(status)

    def _restore(self, rows: list[dict[str, str]]) -> None:
        self._kept = None
        if rows:
            self.experiment.metrics_keys = sorted({k for r in rows for k in r if r[k] != ""})
            with open(self.experiment.metrics_file_path, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=self.experiment.metrics_keys)
                w.writeheader()
                w.writerows({k: v for k, v in r.items() if k in self.experiment.metrics_keys} for r in rows)
