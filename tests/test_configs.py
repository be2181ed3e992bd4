"""Every config group composes, and every stage builds its settings from it (as lightning-hydra-
template's tests/test_configs.py does): a typo in conf/ fails here, not an hour into a run."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR
from tests.conftest import default_config

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _build_all(cfg) -> None:
    from pipeline.stages import prepare, report, sample, topics
    from pipeline.texcheck.preamble import Preamble

    prepare.ingest_settings(cfg)
    prepare.dataset_settings(cfg)
    topics.settings(cfg.topics)
    topics._names(cfg.topics)
    Preamble.from_settings(cfg.tex.preamble_file, cfg.tex.documentclass, cfg.tex.packages)
    opts, judge = sample.options(cfg)
    assert opts.decode().max_len == cfg.sample.max_len and judge.timeout_s > 0
    assert report.settings(cfg).fidelity.max_train == cfg.report.fidelity.max_train
    _instantiate_training(cfg)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


def _instantiate_training(cfg) -> None:
    """Every `_target_` of the train stage, built as the stage builds it (lightning-hydra-template's
    test_train_config): the network, optimizer and scheduler, each callback and logger, the Trainer;
    the datamodule's target with its arguments (building it needs a prepared run)."""
    import inspect

    import pytorch_lightning as pl
    import torch
    from hydra.utils import get_class, instantiate

    from pipeline.model.network import TopicLSTM

    net = TopicLSTM(instantiate(cfg.model.net)(vocab_size=50, num_topics=4, pad_id=0))
    opt = instantiate(cfg.model.optimizer)(params=net.parameters())
    assert isinstance(opt, torch.optim.Optimizer)
    if cfg.model.scheduler is not None:
        sched = instantiate(cfg.model.scheduler)(optimizer=opt)
        assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c is not None]
    assert callbacks and all(isinstance(c, pl.Callback) for c in callbacks)
    loggers = [instantiate(lg) for lg in (cfg.logger or {}).values() if lg is not None]
    assert all(isinstance(lg, pl.loggers.Logger) for lg in loggers)
    trainer = instantiate(cfg.trainer, _partial_=True)(callbacks=[], logger=False, enable_progress_bar=False)
    assert isinstance(trainer, pl.Trainer) and trainer.max_steps == cfg.trainer.max_steps
    dm = OmegaConf.to_container(cfg.datamodule, resolve=True)
    cls = get_class(dm.pop("_target_"))
    inspect.signature(cls).bind(**dm)  # every key is an argument, none is missing


def test_the_default_config_composes_and_builds_every_stage():
    cfg = default_config()
    assert cfg.stage == "all" and cfg.run == "default"
    _build_all(cfg)


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes(group, option):
    cfg = default_config(f"{group}={option}")
    _build_all(cfg)


def test_topic_names_option_composes():
    cfg = default_config("+topics/names=example")
    from pipeline.stages.topics import _names

    assert all(isinstance(k, int) for k in _names(cfg.topics))


def test_a_wrong_key_is_refused():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        default_config("prepare.no_such_setting=1")


def test_every_stage_is_registered_once_and_importable():
    import importlib

    from pipeline.stages import STAGES, stage_names

    assert stage_names()[-1] == "all" and len(set(stage_names())) == len(stage_names())
    for name, module in STAGES.items():
        assert callable(importlib.import_module(module).run), name
    assert Path(CONF_DIR / "config.yaml").exists()
