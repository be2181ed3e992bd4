"""judge: which is fake? A classifier two-sample test between real test equations and generated ones.

`python -m pipeline stage=judge` draws `judge.n` real equations from the test papers, generates one
counterpart for each (conditioned on its paper's θ) for every side in `judge.sides`, and measures
how often token n-grams tell them apart, with checks of the instrument (real against real, easy
fakes). Writes `judge/summary.json` and `judge/pairs.jsonl` (the report's quiz reads them).
Definitions and files: docs/judge.md.
"""
from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from pipeline.runfolder import RunFolder


def settings(cfg: DictConfig):
    """The judge's settings as plain values; the <eos> bias read from the sample stage's calibration."""
    from pipeline.atomic import read_json_or_empty
    from pipeline.errors import StageError
    from pipeline.judge.fake import JudgeSettings, Side
    from pipeline.judge.two_sample import ClassifierSettings

    j = cfg.judge
    plain = OmegaConf.to_container(j, resolve=True)
    sides = tuple(Side(**x) for x in plain["sides"])
    if j.main not in {x.name for x in sides}:
        raise StageError(f"judge.main={j.main!r} is none of judge.sides' names: {[x.name for x in sides]}")
    if str(j.eos_bias) == "sample":
        summary = read_json_or_empty(RunFolder.from_config(cfg).path("sample_summary"))
        bias = (summary.get("eos_bias") or {}).get("bias")
        if bias is None:
            raise StageError("judge.eos_bias=sample: the sample stage's calibrated <eos> bias is not in "
                             "samples/summary.json: run `python -m pipeline stage=sample` first, or give a number")
    else:
        bias = float(j.eos_bias)
    c = plain["classifier"]
    return JudgeSettings(n=int(j.n), real_vs_real_n=int(j.real_vs_real_n), unigram_fake=bool(j.unigram_fake),
                         sides=sides, easy=tuple(Side(**x) for x in plain["easy_fakes"]), main=str(j.main),
                         test=ClassifierSettings(ngram_max=int(c["ngram_max"]), min_df=int(c["min_df"]),
                                           Cs=tuple(float(x) for x in c["Cs"]), outer_folds=int(c["outer_folds"]),
                                           inner_folds=int(c["inner_folds"]), bootstrap=int(j.bootstrap),
                                           seed=int(j.seed), solver=str(c["solver"])),
                         seed=int(j.seed), max_len=int(cfg.sample.max_len),
                         end_wish_logprob=float(cfg.sample.end_wish_logprob), eos_bias=float(bias),
                         batch_size=int(j.batch_size), min_topic_items=int(j.min_topic_items),
                         # likelihoods in the precision the model trained in, as the train stage scores it
                         bf16=str(cfg.trainer.precision).startswith("bf16"))


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import torch

    from pipeline.devices import resolve_device
    from pipeline.judge.session import judge_run
    from pipeline.sampling.session import load_generator
    from pipeline.stages.sample import tex_judge

    torch.set_num_threads(int(cfg.judge.threads or os.cpu_count() or 1))
    judge = tex_judge(cfg)
    s = settings(cfg)
    device = resolve_device(str(cfg.sample.device), "sample.device")
    every = int(cfg.sample.device_check_every)
    return judge_run(folder, s, lambda: load_generator(folder, "best", judge, int(cfg.sample.grammar_depth), device, every),
                     reuse=bool(cfg.judge.reuse), device=device)
