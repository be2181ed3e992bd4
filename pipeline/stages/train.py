"""train: the topic-conditioned LSTM on prepare's token streams and topics' θ, with Lightning.

`python -m pipeline stage=train` builds everything from config (`model/`, `datamodule/`, `trainer/`,
`callbacks/`, `logger/`, `train/`) and hands it to pipeline/train/job.py, which trains (resuming
from `train/checkpoints/last.ckpt` when the run's settings and data are those the checkpoint was
made with), writes `train/model.pt` (the best validation checkpoint's network, readable without
Lightning) and evaluates it into `train/metrics.json`. A job of a `-m` sweep writes all of it under
its own sweep folder. Files and definitions: docs/train.md.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder, TrainFolder

# What the stage reads (pipeline/runfolder.py names each file and the stage that writes it).
INPUTS = ("vocab", "tokens_meta", "equations", "theta", "theta_ids")


def training_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings a checkpoint depends on: what, if changed, makes resuming it a different run."""
    def plain(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True)

    trainer = {k: v for k, v in plain(cfg.trainer).items() if k not in ("max_time", "enable_progress_bar")}
    out = {"model": plain(cfg.model), "datamodule": plain(cfg.datamodule), "seed": int(cfg.seed), "trainer": trainer}
    for k in ("run_dir", "prepared_dir", "topics_dir", "num_workers", "eval_batch_size"):
        out["datamodule"].pop(k, None)  # where the files are is not what they hold (the hashes are)
    return out


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate

    from pipeline.devices import launched_rank, resolve_device
    from pipeline.train.evaluate import INTERVALS
    from pipeline.train.job import TrainJob, train

    t = cfg.train
    local = _count(cfg.trainer.get("devices")) if cfg.trainer.get("strategy") else 1  # processes on this machine
    if local * _count(cfg.trainer.get("num_nodes")) > 1 and (t.ablation or t.evaluate_only):
        raise StageError(f"train.{'ablation' if t.ablation else 'evaluate_only'}=true runs in one process: "
                         "leave out trainer=ddp (or set trainer.devices=1) for it")
    # the processes of one machine share its cores
    torch.set_num_threads(max(1, int(t.threads or os.cpu_count() or 1) // local))
    folder.require(*INPUTS)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    dm = instantiate(cfg.datamodule)
    net_cfg = instantiate(cfg.model.net)(vocab_size=len(dm.vocab), num_topics=dm.num_topics, pad_id=dm.vocab.pad_id)
    job = TrainJob(run=folder, net_cfg=net_cfg, settings=training_settings(cfg),
                   evaluation={"evaluate_test": bool(t.evaluate_test), "bootstrap": int(t.bootstrap),
                               "intervals": INTERVALS},
                   build=lambda net, out, max_steps: build_trainer(cfg, net, dm, out, max_steps),
                   seed=int(cfg.seed), max_steps=int(cfg.trainer.max_steps),
                   eval_batch_size=int(cfg.datamodule.eval_batch_size), resume=bool(t.resume),
                   evaluate_only=bool(t.evaluate_only), ablation=bool(t.ablation),
                   init_from=Path(t.init_from) if t.init_from else None, fast_dev_run=bool(cfg.trainer.fast_dev_run),
                   # evaluation runs in the precision training ran in (bf16 autocast for `bf16-mixed`)
                   autocast_dtype=torch.bfloat16 if str(cfg.trainer.precision).startswith("bf16") else None,
                   eval_device=resolve_device(str(t.eval_device), "train.eval_device"), rank=launched_rank())
    return train(job, dm)


def _count(value: Any) -> int:
    """devices / num_nodes as a number of processes ("auto", a list of device ids, or a number)."""
    if isinstance(value, int):
        return max(1, value)
    if isinstance(value, str) and value.strip().isdigit():
        return max(1, int(value))
    try:
        return max(1, len(value))  # a list of device ids
    except TypeError:
        return 1


def build_trainer(cfg: DictConfig, net, dm, out: TrainFolder, max_steps: int | None = None):
    """The module and Trainer of config, writing checkpoints and curves into `out` (the run's
    train/, its ablation/, or a sweep job's own train/); `max_steps` given: that many steps and no
    time cap (the ablation compares at an equal number of steps, whatever the machine's load)."""
    from hydra.utils import instantiate

    from pipeline.train.build import equation_text, make_trainer, validation_thetas
    from pipeline.train.module import EquationLM

    over: dict[str, Any] = {}
    if (cfg.callbacks or {}).get("model_checkpoint") is not None:
        over["callbacks"] = {"model_checkpoint": {"dirpath": str(out.checkpoints)}}
    if (cfg.logger or {}).get("csv") is not None:
        over["logger"] = {"csv": {"save_dir": str(out.dir)}}
    if max_steps is not None:
        over["trainer"] = {"max_steps": int(max_steps), "max_time": None}
    cfg = OmegaConf.merge(cfg, over)
    module = EquationLM(net, instantiate(cfg.model.optimizer), instantiate(cfg.model.scheduler), seed=int(cfg.seed),
                        sample_every_validation=int(cfg.train.samples_at_validation),
                        sample_max_len=int(cfg.train.sample_max_len), decode=equation_text(dm.vocab),
                        sample_thetas=validation_thetas(dm), bos_id=dm.vocab.bos_id, eos_id=dm.vocab.eos_id)
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    loggers = [instantiate(lg) for lg in (cfg.logger or {}).values() if lg is not None]
    trainer = make_trainer(instantiate(cfg.trainer, _partial_=True), callbacks, loggers, out.dir,
                           progress_bar=bool(cfg.trainer.enable_progress_bar))
    return module, trainer
