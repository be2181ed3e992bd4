"""Entry point: `python -m pipeline stage=<name>`; parses the config and runs the named stage."""
from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from pipeline.config import register_resolvers
from pipeline.devices import launched_rank, slurm_tasks
from pipeline.errors import StageError
from pipeline.runfolder import RunFolder
from pipeline.stagelog import timed_stage
from pipeline.stages import STAGES, load, record_name, stage_names

log = logging.getLogger("pipeline")


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.stage not in stage_names():
        # One line, no traceback: this is a typo, not a crash.
        print(f"error: unknown stage '{cfg.stage}'; stages: {', '.join(stage_names())}", file=sys.stderr)
        sys.exit(2)
    folder = RunFolder.from_config(cfg)
    if slurm_tasks() > 1 and cfg.stage != "train":
        print(f"error: this SLURM job step has {slurm_tasks()} tasks, which is for data-parallel training only: "
              f"run stage={cfg.stage} as a one-task job (prepare's shards: a job array through hydra/launcher=slurm; "
              "docs/scale.md), and stage=train with trainer=ddp here", file=sys.stderr)
        sys.exit(2)
    if launched_rank() != 0:
        # A process a DDP launch started beside the user's: it joins the training and nothing else
        # (with stage=all the user's process runs the other stages); it writes no file.
        if cfg.stage in ("train", "all"):
            load("train")(cfg, folder)
        return
    names = list(STAGES) if cfg.stage == "all" else [cfg.stage]
    for name in names:
        log.info("stage %s: run folder %s", name, folder.root)
        try:
            _, line = timed_stage(record_name(name, cfg), lambda name=name: load(name)(cfg, folder),
                                  folder.output("stages"))
        except StageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        log.info(line)


if __name__ == "__main__":
    register_resolvers()  # `--help` names the stages from the one registry
    main()
