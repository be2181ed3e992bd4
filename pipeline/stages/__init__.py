"""The pipeline's stages, in the order `stage=all` runs them.

Each stage module has `run(cfg, folder)`; modules are imported only when their stage runs so that
one stage never pays for another's libraries (torch, Lightning and gensim take seconds to import).
"""
from __future__ import annotations

import importlib
from typing import Callable

STAGES: dict[str, str] = {
    "prepare": "pipeline.stages.prepare",
    "validate": "pipeline.stages.validate",
    "topics": "pipeline.stages.topics",
    "train": "pipeline.stages.train",
    "sample": "pipeline.stages.sample",
    "judge": "pipeline.stages.judge",
    "report": "pipeline.stages.report",
}
# Stages run on their own only (not by `stage=all`): they answer a question about the run's model.
ON_DEMAND: dict[str, str] = {
    "classify": "pipeline.stages.classify",
    "serve": "pipeline.stages.serve",
}


def stage_names() -> list[str]:
    return [*STAGES, *ON_DEMAND, "all"]


def load(name: str) -> Callable:
    return importlib.import_module({**STAGES, **ON_DEMAND}[name]).run


def record_name(name: str, cfg) -> str:
    """The name a run of stage `name` is timed under in stages.json: the stage's, or what its module's
    `record_as(cfg)` says (a sample request is not the main job's sample stage)."""
    record_as = getattr(importlib.import_module({**STAGES, **ON_DEMAND}[name]), "record_as", None)
    return record_as(cfg) if record_as is not None else name
