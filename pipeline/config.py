"""The app's configuration outside a Hydra run: for tests, benchmarks and notebooks.

`compose(["stage=train", "run=x"])` gives the same DictConfig `python -m pipeline stage=train run=x`
would run with (conf/ is the one source of settings and defaults).
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def register_resolvers() -> None:
    """`${stages:}`: the registered stages, for `--help` and error messages."""
    from pipeline.stages import stage_names

    OmegaConf.register_new_resolver("stages", lambda: ", ".join(stage_names()), replace=True)


def compose(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return hydra_compose(config_name="config", overrides=list(overrides))
