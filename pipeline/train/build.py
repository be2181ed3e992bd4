"""The Trainer and module the train stage runs, from objects the stage built from config: bars or
log lines by where stderr goes, Lightning's warnings that do not fit a 2-core CPU run quietened,
the validation-time samples' text and θ."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from pipeline.latex.tokenizer import Vocabulary, detokenize
from pipeline.progress import is_terminal
from pipeline.train.callbacks import LogLineProgress


def make_trainer(trainer: Callable[..., pl.Trainer], callbacks: list[pl.Callback], loggers: list[Any], out: Path,
                 progress_bar: bool) -> pl.Trainer:
    """`trainer` (a partial of pl.Trainer) completed with callbacks, loggers and the root folder."""
    callbacks = list(callbacks)
    if progress_bar and not is_terminal():  # a log file: a line a minute instead of a bar's redraws
        progress_bar = False
        callbacks.append(LogLineProgress())
    if not progress_bar:  # Lightning refuses a bar callback when bars are off
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    # Lightning's advice for machines with many cores and GPUs does not fit a 2-core CPU run.
    # On a resume the folders hold the run's own checkpoints and curves, which are kept (callbacks.py).
    for pattern in (".*does not have many workers.*", ".*litlogger.*", ".*_pytree.*", ".*LeafSpec.*",
                    ".*exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=pattern)
    return trainer(callbacks=callbacks, logger=loggers or False, default_root_dir=str(out),
                   enable_progress_bar=progress_bar)


def equation_text(vocab: Vocabulary) -> Callable[[list[int]], str]:
    """Token ids of a sampled equation -> its environment token and LaTeX, for the training log."""
    def text(ids: list[int]) -> str:
        if not ids:
            return "(empty)"
        return " ".join(vocab.itos[ids[0]:ids[0] + 1]) + " " + detokenize(vocab.decode(ids[1:]))
    return text


def validation_thetas(dm: Any, n: int = 5) -> torch.Tensor | None:
    """θ of about `n` validation papers spread over the split: what the training log samples from."""
    val = dm.split("val")
    if not len(val):
        return None
    return torch.from_numpy(val.theta[val.theta_rows[:: max(1, len(val) // n)]])
