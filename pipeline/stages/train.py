"""train: the topic-conditioned LSTM on prepare's token streams and topics' θ, with Lightning.

`python -m pipeline stage=train` builds everything from config (`model/`, `datamodule/`, `trainer/`,
`callbacks/`, `logger/`, `train/`), trains (resuming from `train/checkpoints/last.ckpt` when the
run's settings and data are those the checkpoint was made with), writes `train/model.pt` (the best
validation checkpoint's network, readable without Lightning) and evaluates it into
`train/metrics.json`. Files and definitions: docs/train.md.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.atomic import read_json_or_empty, write_text
from pipeline.fingerprint import file_sha256
from pipeline.runfolder import RunFolder

log = logging.getLogger(__name__)


class RefusedError(RuntimeError):
    """The run cannot go on as asked; the message says why and what to do."""


def data_record(root: Path) -> dict[str, Any]:
    """What a model was trained on, by content (never by code): the sample stage refuses a model
    whose vocabulary or topics differ from its run's."""
    # The topic model by its topic-word matrix: the pickled model also holds fitting times, which
    # differ on every refit of the very same model.
    topic_model = root / "topics" / "model" / "lda.model.expElogbeta.npy"
    return {
        "vocab_sha256": file_sha256(root / "prepared" / "vocab.json"),
        "theta_sha256": file_sha256(root / "topics" / "theta.npy"),
        "topic_model_sha256": file_sha256(topic_model) if topic_model.exists() else None,
    }


def _training_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings a checkpoint depends on: what, if changed, makes resuming it a different run."""
    def plain(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True)

    trainer = {k: v for k, v in plain(cfg.trainer).items() if k not in ("max_time", "enable_progress_bar")}
    out = {"model": plain(cfg.model), "datamodule": plain(cfg.datamodule), "seed": int(cfg.seed), "trainer": trainer}
    for k in ("prepared_dir", "topics_dir", "num_workers", "eval_batch_size"):
        out["datamodule"].pop(k, None)  # where the files are is not what they hold (the hashes are)
    return out


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import torch

    t = cfg.train
    threads = int(t.threads or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    root, out = folder.root, folder.for_output().root / "train"
    out.mkdir(parents=True, exist_ok=True)
    try:
        _check_inputs(root)
        return _run(cfg, root, out)
    except RefusedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


# What the stage reads, and the stage that writes it.
INPUTS = {"prepared/vocab.json": "prepare", "prepared/tokens/meta.json": "prepare",
          "prepared/equations.jsonl": "prepare", "topics/theta.npy": "topics", "topics/theta_ids.json": "topics"}


def _check_inputs(root: Path) -> None:
    for rel, stage in INPUTS.items():
        if not (root / rel).exists():
            raise RefusedError(f"{root / rel} does not exist: run `python -m pipeline stage={stage}` first "
                               f"(for this run folder: run={root.name})")


def _run(cfg: DictConfig, root: Path, out: Path) -> dict:
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from pipeline.model.network import TopicLSTM, load_model, save_model

    t = cfg.train
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    dm = instantiate(cfg.datamodule)
    record = data_record(root)
    settings = _training_settings(cfg)
    net_cfg = instantiate(cfg.model.net)(vocab_size=len(dm.vocab), num_topics=dm.num_topics, pad_id=dm.vocab.pad_id)
    model_file = out / "model.pt"

    done = read_json_or_empty(out / "metrics.json")
    if (t.resume and not t.ablation and not t.evaluate_only and not t.init_from and not cfg.trainer.fast_dev_run
            and model_file.exists() and done.get("settings") == settings and done.get("data") == record
            and done.get("evaluation") == _evaluation_settings(cfg)):
        log.info("train: reused %s and metrics.json (trained and evaluated with these settings and data; "
                 "train.resume=false trains again)", model_file)
        return {**done, "reused": True}

    if t.evaluate_only:
        net, data = load_model(model_file)
        check_model_matches(data, record, model_file)
        return _evaluate_and_write(cfg, dm, net, out, settings, record, extra=read_json_or_empty(out / "metrics.json"))

    if t.ablation:
        if not (model_file.exists() and done.get("settings") == settings and done.get("data") == record):
            # the ablation trains for as many steps as the main model did and is compared with it
            # paper by paper: without that model (or with one of other settings) it trains it first
            log.info("train: no model trained with these settings yet: training it first, then the ablation")
            _run(OmegaConf.merge(cfg, {"train": {"ablation": False}}), root, out)
        return _ablation(cfg, dm, net_cfg, root, out, settings, record)

    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    run_file = out / "run.json"
    resume_from = None
    if last.exists():
        before = read_json_or_empty(run_file)
        same = before.get("settings") == settings and before.get("data") == record
        if t.resume and same:
            resume_from = last
            log.info("train: resuming from %s (same settings and data)", last)
        elif t.resume:
            changes = _diff(before.get("settings"), settings) + _diff(before.get("data"), record)
            raise RefusedError(
                f"{last} was made with other settings or data, so it is not resumed:\n  "
                + "\n  ".join(changes[:20] or ["(no record of its settings)"])
                + "\nRun with train.resume=false to start fresh (the old checkpoints are removed), or use "
                  "run=NAME for a separate run.")
        else:
            log.info("train: train.resume=false: starting fresh, removing %s", ckpt_dir)
    if resume_from is None:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        for stale in ("curves", "model.pt", "metrics.json"):
            p = out / stale
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    write_text(run_file, json.dumps({"settings": settings, "data": record}, indent=1))

    net = TopicLSTM(net_cfg)
    if t.init_from and resume_from is None:
        src, data = load_model(Path(t.init_from))
        if data.get("vocab_sha256") != record["vocab_sha256"] or src.cfg != net.cfg:
            raise RefusedError(f"train.init_from={t.init_from}: its vocabulary or network settings differ from "
                               "this run's; fine-tuning needs the same vocabulary, topics count and network size")
        net.load_state_dict(src.state_dict())
        log.info("train: initialised from %s", t.init_from)
    module, trainer = _build(cfg, net, dm, out)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - t0
    stopped = None if cfg.trainer.fast_dev_run else _warn_if_stopped_early(trainer, int(cfg.trainer.max_steps))
    if cfg.trainer.fast_dev_run:
        log.info("train: fast_dev_run: one training and one validation batch ran; nothing saved")
        return {"fast_dev_run": True, "steps": int(trainer.global_step)}
    best = _best_checkpoint(trainer, last)
    _load_weights(net, best)
    save_model(model_file, net, record | {"vocab": dm.vocab.itos, "global_step": int(trainer.global_step),
                                          "checkpoint": best.name})
    log.info("train: %d steps in %.0f s; model (best validation checkpoint %s) -> %s", trainer.global_step,
             seconds, best.name, model_file)
    extra = {"steps": int(trainer.global_step), "max_steps": int(cfg.trainer.max_steps),
             "stopped_early": stopped, "train_seconds_this_call": round(seconds, 1),
             "parameters": net.num_parameters(), "best_checkpoint": best.name}
    return _evaluate_and_write(cfg, dm, net, out, settings, record, extra=extra)


def _warn_if_stopped_early(trainer, max_steps: int) -> str | None:
    """Say so (and return why) when training ended before max_steps: its figures then depend on why
    (early stopping on validation loss is a result; the max_time cap is machine load)."""
    if max_steps <= 0 or trainer.global_step >= max_steps:
        return None
    # Lightning's Timer callback (added for max_time) knows whether the cap ended the run.
    timed_out = any(type(c).__name__ == "Timer" and (c.time_remaining() or 0) <= 0 for c in trainer.callbacks)
    early = not timed_out and any(getattr(c, "stopped_epoch", 0) for c in trainer.callbacks
                                  if type(c).__name__ == "EarlyStopping")
    why = ("early stopping: validation loss stopped improving" if early else
           "the trainer.max_time safety cap was reached (a slow or busy machine; raise it or free the machine, "
           "then run again: training resumes from the last checkpoint)" if timed_out else "the trainer stopped")
    log.warning("train: stopped at step %d of %d: %s", trainer.global_step, max_steps, why)
    return "early stopping" if early else "max_time" if timed_out else "unknown"


def _build(cfg: DictConfig, net, dm, out: Path):
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from pipeline.latex.tokenizer import detokenize
    from pipeline.progress import is_terminal
    from pipeline.train.callbacks import LogLineProgress
    from pipeline.train.module import EquationLM

    module = EquationLM(net, instantiate(cfg.model.optimizer), instantiate(cfg.model.scheduler),
                        seed=int(cfg.seed), sample_every_validation=int(cfg.train.samples_at_validation))
    vocab = dm.vocab
    module.decode = lambda ids: " ".join(vocab.itos[ids[0]:ids[0] + 1]) + " " + detokenize(vocab.decode(ids[1:])) \
        if ids else "(empty)"
    val = dm.split("val")
    if len(val):
        module.sample_thetas = __import__("torch").from_numpy(val.theta[val.theta_rows[:: max(1, len(val) // 5)]])
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    bars = bool(cfg.trainer.enable_progress_bar)
    if bars and not is_terminal():  # a log file: a line a minute instead of a bar's redraws
        bars = False
        callbacks.append(LogLineProgress())
    if not bars:  # Lightning refuses a bar callback when bars are off
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    loggers = [instantiate(lg) for lg in (cfg.logger or {}).values()]
    # Lightning's advice for machines with many cores and GPUs does not fit a 2-core CPU run.
    # On a resume the folders hold the run's own checkpoints and curves, which are kept (callbacks.py).
    for pattern in (".*does not have many workers.*", ".*litlogger.*", ".*_pytree.*", ".*LeafSpec.*",
                    ".*exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=pattern)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                      default_root_dir=str(out), enable_progress_bar=bars)
    return module, trainer


def _best_checkpoint(trainer, last: Path) -> Path:
    for cb in trainer.callbacks:
        best = getattr(cb, "best_model_path", "")
        if best and Path(best).exists():
            return Path(best)
    return last


def _load_weights(net, ckpt: Path) -> None:
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})


def check_model_matches(data: dict, record: dict, model_file: Path) -> None:
    """Refuse a model trained on another vocabulary or other topics than the run's."""
    wrong = [k for k in ("vocab_sha256", "theta_sha256") if data.get(k) != record.get(k)]
    if wrong:
        what = " and ".join({"vocab_sha256": "vocabulary (prepared/vocab.json)",
                             "theta_sha256": "topics (topics/theta.npy)"}[k] for k in wrong)
        raise RefusedError(f"{model_file} was trained with another {what} than this run has; "
                           "train again (python -m pipeline stage=train) or point to the run it belongs to")



def _evaluate_and_write(cfg: DictConfig, dm, net, out: Path, settings: dict, record: dict,
                        extra: dict | None = None) -> dict:
    from pipeline.train.evaluate import evaluate_splits

    t = cfg.train
    metrics = evaluate_splits(net, dm, splits=("val", "test") if t.evaluate_test else ("val",),
                              bootstrap=int(t.bootstrap), seed=int(cfg.seed), batch_size=int(cfg.datamodule.eval_batch_size),
                              autocast_dtype=_autocast_dtype(cfg))
    keep = {k: v for k, v in (extra or {}).items() if k not in ("val", "test", "settings", "data", "reused")}
    metrics = {**keep, **metrics, "settings": settings, "data": {k: v for k, v in record.items()},
               "evaluation": _evaluation_settings(cfg)}
    write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    _print_summary(metrics)
    return metrics


def _evaluation_settings(cfg: DictConfig) -> dict:
    return {"evaluate_test": bool(cfg.train.evaluate_test), "bootstrap": int(cfg.train.bootstrap)}


def _autocast_dtype(cfg: DictConfig):
    """Evaluation runs in the precision training ran in (bf16 autocast for `bf16-mixed`)."""
    import torch

    return torch.bfloat16 if str(cfg.trainer.precision).startswith("bf16") else None


def _print_summary(m: dict) -> None:
    for split in ("val", "test"):
        if split not in m:
            continue
        for variant, f in m[split].items():
            if not isinstance(f, dict) or "perplexity" not in f:
                continue
            ci = f.get("perplexity_ci95")
            ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
            log.info("%s, θ %s: perplexity %.3f%s, bits/char %.4f, cross-entropy %.4f", split, variant,
                     f["perplexity"], ci_s, f["bits_per_character"], f["cross_entropy"])


def _ablation(cfg: DictConfig, dm, net_cfg, root: Path, out: Path, settings: dict, record: dict) -> dict:
    """The same network without θ (`topic_input=none`, `topic_output=none`), trained for as many steps as the main model
    (train.ablation=true), in train/ablation/; its figures join metrics.json as `none`."""
    from dataclasses import replace

    from pipeline.model.network import TopicLSTM, load_model, save_model
    from pipeline.train.evaluate import evaluate_splits, network_gain

    main = read_json_or_empty(out / "metrics.json")
    sub = out / "ablation"
    sub.mkdir(exist_ok=True)
    steps = int(main.get("steps") or cfg.trainer.max_steps)
    # A killed ablation continues like the main run does, but only from checkpoints of the same settings,
    # data and step count; anything else starts it afresh (it is an experiment, so no refusal is needed).
    # the no-topic network does not depend on where or how θ would enter: a run that changes only
    # those can keep its ablation
    net_settings = {**settings["model"]["net"], "topic_input": "none", "topic_output": "none", "topic_scale": None,
                    "topic_log_floor": None}
    wanted = {"settings": {**settings, "model": {**settings["model"], "net": net_settings}}, "data": record,
              "steps": steps}
    last = sub / "checkpoints" / "last.ckpt"
    same = read_json_or_empty(sub / "run.json") == wanted
    resume_from = last if cfg.train.resume and last.exists() and same else None
    if resume_from is None:
        shutil.rmtree(sub / "checkpoints", ignore_errors=True)
        shutil.rmtree(sub / "curves", ignore_errors=True)
    else:
        log.info("train: ablation resuming from %s (same settings, data and steps)", last)
    write_text(sub / "run.json", json.dumps(wanted, indent=1))
    net = TopicLSTM(replace(net_cfg, topic_input="none", topic_output="none"))
    # No time cap here: the comparison is at an equal number of steps, whatever the machine's load.
    ablation_cfg = OmegaConf.merge(cfg, {"trainer": {"max_steps": steps, "max_time": None},
                                         "callbacks": {"model_checkpoint": {"dirpath": str(sub / "checkpoints")}},
                                         "logger": {"csv": {"save_dir": str(sub)}}})
    module, trainer = _build(ablation_cfg, net, dm, sub)
    trainer.fit(module, datamodule=dm, ckpt_path=str(resume_from) if resume_from else None)
    _warn_if_stopped_early(trainer, steps)
    _load_weights(net, _best_checkpoint(trainer, sub / "checkpoints" / "last.ckpt"))
    save_model(sub / "model.pt", net, record | {"vocab": dm.vocab.itos, "global_step": int(trainer.global_step)})
    t = cfg.train
    none = evaluate_splits(net, dm, splits=("val", "test") if t.evaluate_test else ("val",), bootstrap=int(t.bootstrap),
                           seed=int(cfg.seed), batch_size=int(cfg.datamodule.eval_batch_size), variants=("true",),
                           autocast_dtype=_autocast_dtype(cfg))
    main["none"] = {"steps": int(trainer.global_step), **{s: v["true"] for s, v in none.items()}}
    # paired over papers, like true vs shuffled θ: the two networks' losses on the same equations
    topical, _ = load_model(out / "model.pt")
    for split in none:
        if isinstance(main.get(split), dict) and "true" in main[split]:
            main[split]["true_vs_none"] = network_gain(topical, net, dm, split, bootstrap=int(t.bootstrap),
                                                       seed=int(cfg.seed), batch_size=int(cfg.datamodule.eval_batch_size),
                                                       autocast_dtype=_autocast_dtype(cfg))
    write_text(out / "metrics.json", json.dumps(main, indent=1))
    log.info("ablation (no θ, %d steps): %s", trainer.global_step,
             {s: round(v["perplexity"], 3) for s, v in main["none"].items() if isinstance(v, dict)})
    return main
