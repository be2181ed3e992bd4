"""The train stage's decisions around `Trainer.fit`: reuse a finished model, resume a killed run,
refuse a checkpoint of other settings, fine-tune from a model, evaluate, and the no-θ ablation.

The stage builds the objects from config and hands them over as a `TrainJob`; this module knows no
config system. What is decided where is written down in docs/train.md.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from pipeline.atomic import read_json_or_empty, write_text
from pipeline.errors import StageError
from pipeline.model.network import NetworkConfig, TopicLSTM, load_lightning_weights, load_model, save_model
from pipeline.model.provenance import check_model_matches, data_record
from pipeline.runfolder import RunFolder, TrainFolder
from pipeline.train.evaluate import evaluate_splits, network_gain

log = logging.getLogger(__name__)

# (network, the training's folder for checkpoints and curves, max_steps override or None) -> (module, trainer)
Builder = Callable[[TopicLSTM, TrainFolder, "int | None"], "tuple[pl.LightningModule, pl.Trainer]"]


@dataclass(frozen=True)
class TrainJob:
    run: RunFolder               # reads the run's data; writes under run.output("train")
    net_cfg: NetworkConfig
    settings: dict[str, Any]     # what a checkpoint depends on (resuming with others is another run)
    evaluation: dict[str, Any]   # {"evaluate_test": bool, "bootstrap": int}
    build: Builder
    seed: int
    max_steps: int
    eval_batch_size: int
    resume: bool = True
    evaluate_only: bool = False
    ablation: bool = False
    init_from: Path | None = None
    fast_dev_run: bool = False
    autocast_dtype: torch.dtype | None = None  # evaluation runs in the precision training ran in
    eval_device: str = "cpu"     # where the held-out scores are computed
    rank: int = 0                # a DDP process other than the first: trains, and writes nothing


def settings_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """`key: old -> new` for every leaf that differs between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += settings_diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def train(job: TrainJob, dm: Any) -> dict:
    """Train (or reuse, resume, evaluate only, ablate) and write model.pt and metrics.json."""
    if job.rank != 0:
        return _join(job, dm)
    out = job.run.train_output()
    out.dir.mkdir(parents=True, exist_ok=True)
    record = data_record(job.run)
    model_file = out.model
    done = read_json_or_empty(out.metrics)
    same_model = done.get("settings") == job.settings and done.get("data") == record
    # A run the time cap cut short is not finished: it resumes from its last checkpoint instead.
    if (job.resume and not job.ablation and not job.evaluate_only and not job.init_from and not job.fast_dev_run
            and model_file.exists() and same_model and done.get("evaluation") == job.evaluation
            and done.get("stopped_early") != "max_time"):
        log.info("train: reused %s and metrics.json (trained and evaluated with these settings and data; "
                 "train.resume=false trains again)", model_file)
        return {**done, "reused": True}
    if job.evaluate_only:
        net, data = load_model(model_file)
        check_model_matches(data, job.run, model_file)
        return evaluate_and_write(job, dm, net, out, record, extra=done)
    if job.ablation:
        if not (model_file.exists() and same_model):
            # the ablation trains for as many steps as the main model did and is compared with it
            # paper by paper: without that model (or with one of other settings) it trains it first
            log.info("train: no model trained with these settings yet: training it first, then the ablation")
            train(replace(job, ablation=False), dm)
        return ablation(job, dm, record)
    return _fit(job, dm, out, record)


def _fit(job: TrainJob, dm: Any, out: TrainFolder, record: dict) -> dict:
    model_file, ckpt_dir, last, run_file = out.model, out.checkpoints, out.last_checkpoint, out.run_record
    resume_from = None
    if last.exists():
        before = read_json_or_empty(run_file)
        if job.resume and before.get("settings") == job.settings and before.get("data") == record:
            resume_from = last
            log.info("train: resuming from %s (same settings and data)", last)
        elif job.resume:
            changes = settings_diff(before.get("settings"), job.settings) + settings_diff(before.get("data"), record)
            raise StageError(
                f"{last} was made with other settings or data, so it is not resumed:\n  "
                + "\n  ".join(changes[:20] or ["(no record of its settings)"])
                + "\nRun with train.resume=false to start fresh (the old checkpoints are removed), or use "
                  "run=NAME for a separate run.")
        else:
            log.info("train: train.resume=false: starting fresh, removing %s", ckpt_dir)
    if resume_from is None:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        shutil.rmtree(out.curves, ignore_errors=True)
        out.model.unlink(missing_ok=True)
        out.metrics.unlink(missing_ok=True)
    write_text(run_file, json.dumps({"settings": job.settings, "data": record}, indent=1))

    net = TopicLSTM(job.net_cfg)
    if job.init_from and resume_from is None:
        src, data = load_model(Path(job.init_from))
        if data.get("vocab_sha256") != record["vocab_sha256"] or src.cfg != net.cfg:
            raise StageError(f"train.init_from={job.init_from}: its vocabulary or network settings differ from "
                             "this run's; fine-tuning needs the same vocabulary, topics count and network size")
        net.load_state_dict(src.state_dict())
        log.info("train: initialised from %s", job.init_from)
    module, trainer = job.build(net, out, None)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - t0
    if job.fast_dev_run:
        log.info("train: fast_dev_run: one training and one validation batch ran; nothing saved")
        return {"fast_dev_run": True, "steps": int(trainer.global_step)}
    stopped = stopped_early(trainer, job.max_steps)
    best = best_checkpoint(trainer, last)
    load_lightning_weights(net, best)
    save_model(model_file, net, record | {"vocab": dm.vocab.itos, "global_step": int(trainer.global_step),
                                          "checkpoint": best.name})
    log.info("train: %d steps in %.0f s; model (best validation checkpoint %s) -> %s", trainer.global_step,
             seconds, best.name, model_file)
    extra = {"steps": int(trainer.global_step), "max_steps": job.max_steps, "stopped_early": stopped,
             "train_seconds_this_call": round(seconds, 1), "parameters": net.num_parameters(),
             "best_checkpoint": best.name}
    return evaluate_and_write(job, dm, net, out, record, extra=extra)


def _join(job: TrainJob, dm: Any) -> dict:
    """A DDP process beside the first: the same fit, from the checkpoint the first one resumes from.
    Lightning starts these processes from inside the first one's `fit` (or SLURM starts all at once),
    after it has decided what to resume and removed what a fresh start removes; nothing is written here."""
    out = job.run.train_output()
    before = read_json_or_empty(out.run_record)
    resume = (job.resume and out.last_checkpoint.exists() and before.get("settings") == job.settings
              and before.get("data") == data_record(job.run))
    module, trainer = job.build(TopicLSTM(job.net_cfg), out, None)
    trainer.fit(module, datamodule=dm, ckpt_path=str(out.last_checkpoint) if resume else None)
    return {"rank": job.rank, "steps": int(trainer.global_step)}


def stopped_early(trainer: pl.Trainer, max_steps: int) -> str | None:
    """Say so (and return why) when training ended before max_steps: its figures then depend on why
    (early stopping on validation loss is a result; the max_time cap is machine load)."""
    if max_steps <= 0 or trainer.global_step >= max_steps:
        return None
    timer = next((c for c in trainer.callbacks if isinstance(c, pl.callbacks.Timer)), None)
    timed_out = timer is not None and (timer.time_remaining() or 0) <= 0
    stopper = trainer.early_stopping_callback
    early = not timed_out and stopper is not None and bool(stopper.stopped_epoch)
    why = ("early stopping: validation loss stopped improving" if early else
           "the trainer.max_time safety cap was reached (a slow or busy machine): raise trainer.max_time (the "
           "time already spent counts) and run again; training resumes from the last checkpoint" if timed_out
           else "the trainer stopped")
    log.warning("train: stopped at step %d of %d: %s", trainer.global_step, max_steps, why)
    return "early stopping" if early else "max_time" if timed_out else "unknown"


def best_checkpoint(trainer: pl.Trainer, last: Path) -> Path:
    """The best validation checkpoint, or `last` when there is none (no validation ran)."""
    cb = trainer.checkpoint_callback
    best = getattr(cb, "best_model_path", "") if cb is not None else ""
    return Path(best) if best and Path(best).exists() else last


def evaluate_and_write(job: TrainJob, dm: Any, net: TopicLSTM, out: TrainFolder, record: dict,
                       extra: dict | None = None) -> dict:
    metrics = evaluate_splits(net, dm, splits=_splits(job), bootstrap=int(job.evaluation["bootstrap"]),
                              seed=job.seed, batch_size=job.eval_batch_size, device=job.eval_device,
                              autocast_dtype=job.autocast_dtype)
    keep = {k: v for k, v in (extra or {}).items() if k not in ("val", "test", "settings", "data", "reused")}
    metrics = {**keep, **metrics, "settings": job.settings, "data": dict(record), "evaluation": job.evaluation}
    write_text(out.metrics, json.dumps(metrics, indent=1))
    _log_summary(metrics)
    return metrics


def _splits(job: TrainJob) -> tuple[str, ...]:
    return ("val", "test") if job.evaluation["evaluate_test"] else ("val",)


def _log_summary(m: dict) -> None:
    for split in ("val", "test"):
        for variant, f in (m.get(split) or {}).items():
            if not isinstance(f, dict) or "perplexity" not in f:
                continue
            ci = f.get("perplexity_ci95")
            ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            log.info("%s, θ %s: perplexity %.3f%s, bits/char %.4f, cross-entropy %.4f", split, variant,
                     f["perplexity"], ci_s, f["bits_per_character"], f["cross_entropy"])


def ablation(job: TrainJob, dm: Any, record: dict) -> dict:
    """The same network without θ (`topic_input=none`, `topic_output=none`), trained for as many steps
    as the main model, in train/ablation/; its figures join metrics.json as `none`."""
    out = job.run.train_output()
    main = read_json_or_empty(out.metrics)
    sub = out.ablation
    sub.dir.mkdir(exist_ok=True)
    steps = int(main.get("steps") or job.max_steps)
    # A killed ablation continues like the main run does, but only from checkpoints of the same
    # settings, data and step count; anything else starts it afresh (an experiment: no refusal).
    # The no-topic network does not depend on where or how θ would enter: a run that changes only
    # those keeps its ablation.
    model = job.settings["model"]
    net_settings = {**model["net"], "topic_input": "none", "topic_output": "none", "topic_scale": None,
                    "topic_log_floor": None}
    wanted = {"settings": {**job.settings, "model": {**model, "net": net_settings}}, "data": record, "steps": steps}
    last = sub.last_checkpoint
    same = read_json_or_empty(sub.run_record) == wanted
    resume_from = last if job.resume and last.exists() and same else None
    if resume_from is None:
        shutil.rmtree(sub.checkpoints, ignore_errors=True)
        shutil.rmtree(sub.curves, ignore_errors=True)
    else:
        log.info("train: ablation resuming from %s (same settings, data and steps)", last)
    write_text(sub.run_record, json.dumps(wanted, indent=1))
    net = TopicLSTM(replace(job.net_cfg, topic_input="none", topic_output="none"))
    # No time cap here: the comparison is at an equal number of steps, whatever the machine's load.
    module, trainer = job.build(net, sub, steps)
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    stopped_early(trainer, steps)
    load_lightning_weights(net, best_checkpoint(trainer, last))
    save_model(sub.model, net, record | {"vocab": dm.vocab.itos, "global_step": int(trainer.global_step)})
    bootstrap = int(job.evaluation["bootstrap"])
    none = evaluate_splits(net, dm, splits=_splits(job), bootstrap=bootstrap, seed=job.seed,
                           batch_size=job.eval_batch_size, variants=("true",), device=job.eval_device,
                           autocast_dtype=job.autocast_dtype)
    main["none"] = {"steps": int(trainer.global_step), **{s: v["true"] for s, v in none.items()}}
    # paired over papers, like true vs shuffled θ: the two networks' losses on the same equations
    topical, _ = load_model(out.model)
    for split in none:
        if isinstance(main.get(split), dict) and "true" in main[split]:
            main[split]["true_vs_none"] = network_gain(topical, net, dm, split, bootstrap=bootstrap, seed=job.seed,
                                                       batch_size=job.eval_batch_size, device=job.eval_device,
                                                       autocast_dtype=job.autocast_dtype)
    write_text(out.metrics, json.dumps(main, indent=1))
    log.info("ablation (no θ, %d steps): %s", trainer.global_step,
             {s: round(v["perplexity"], 3) for s, v in main["none"].items() if isinstance(v, dict)})
    return main
