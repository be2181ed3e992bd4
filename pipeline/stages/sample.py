"""sample: equations from the trained model, by topic, mixture, context words or paper.

`python -m pipeline stage=sample` writes outputs/<run>/samples/ (a sweep job: its own folder):
`samples.jsonl` (the requested samples, compile-checked), `grid.jsonl` (a grid of temperatures ×
syntax-aware/plain, for the report), `context.jsonl` (context words -> topics -> equations),
`summary.json` (compile rates, novelty, lengths, distinct n-grams). The session itself is
pipeline/sampling/session.py; definitions and every field: docs/sample.md.

With a topic, mixture, context words or a paper it is a request (pipeline/sampling/request.py): the
equations are printed and written to `requests/`, in seconds, and `samples/` is left alone:

    python -m pipeline stage=sample sample.topic=astrophysics sample.n=10
    python -m pipeline stage=sample 'sample.words="star gravity einstein mass galaxies"' sample.n=5
    python -m pipeline stage=sample 'sample.mixture={3: 0.6, 5: 0.4}' sample.temperature=0.7
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline.runfolder import RunFolder


def tex_judge(cfg: DictConfig):
    """The TeX set-up of config that judges samples (and whose known commands the syntax rules read)."""
    from pipeline.sampling.options import TexJudge
    from pipeline.texcheck.preamble import Preamble

    tex = cfg.tex
    return TexJudge(preamble=Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages),
                    cache_dir=Path(tex.cache_dir) if tex.cache_dir else None,
                    timeout_s=float(cfg.validate.timeout_s), settings=OmegaConf.to_container(tex, resolve=True))


def options(cfg: DictConfig):
    """The sample settings as plain values, and the TeX set-up that judges samples."""
    from pipeline.sampling.options import SampleOptions

    return SampleOptions(**OmegaConf.to_container(cfg.sample, resolve=True)), tex_judge(cfg)


def record_as(cfg: DictConfig) -> str:
    """A request is timed as "sample request" in stages.json: the main job's sample stage keeps its figures."""
    from pipeline.sampling.options import SampleOptions

    return "sample request" if SampleOptions(**OmegaConf.to_container(cfg.sample, resolve=True)).is_request() \
        else "sample"


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import torch

    from pipeline.sampling.request import request_run
    from pipeline.sampling.session import sample_run

    torch.set_num_threads(int(cfg.sample.threads or os.cpu_count() or 1))
    opts, judge = options(cfg)
    return (request_run if opts.is_request() else sample_run)(folder, opts, judge)
