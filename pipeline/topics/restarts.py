"""Several LDA fits from different seeds, one kept: the one chosen on the validation papers.

Why: on this corpus the fields a model separates change from one seed to the next (docs/topics.md,
third round: 0 to 6 of 14 fields owning a topic for one setting). `restarts: N` fits seeds seed,
seed+1, ..., seed+N-1 (training papers only, as `fit.fit` always does), scores each with the one
rule of separation.py (validation hits, then fields owning a topic and NMI on train+val, then
validation coherence) and keeps the best. Test papers are never read here. Each fit is itself
bit-reproducible, so the choice is too.
"""
from __future__ import annotations

import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from pipeline.topics import quality as Q
from pipeline.topics.corpus import iter_papers
from pipeline.topics.fit import FitSettings, fit
from pipeline.topics.model import TopicModel
from pipeline.topics.separation import FieldSettings, choice_key

RESTARTS_DIR = "restarts"
CHOICE_SPLITS = ("train", "val")  # what choosing may read; never "test"


def validation_score(model: TopicModel, papers: Path, fs: FieldSettings) -> dict:
    """The rule's figures of one fit, from training and validation papers only."""
    c = Q.coherence(model, Q.reference_texts(model, papers, "val"))["mean"]
    fields, splits, tops = [], [], []
    for p in iter_papers(papers, CHOICE_SPLITS):
        fields.append(p.get("field"))
        splits.append(p["split"])
        tops.append(int(np.argmax(model.theta_of_tokens(p.get("prose") or []))))
    key = choice_key(fields, splits, tops, fs, c)
    return {"val_hits": key[0], "fields_owned_train_val": key[1], "nmi_train_val": key[2], "c_npmi_val": c,
            "key": [k if k != -math.inf else None for k in key]}


def _fit_one(papers: Path, work_dir: Path, s: FitSettings, i: int, bar_position: int = 0) -> dict:
    si = replace(s, seed=s.seed + i, restarts=1)
    # One pass bar per running restart, each on its own terminal line.
    model, stats = fit(papers, work_dir, si, bar_label=f"restart {i + 1}/{s.restarts} (seed {si.seed}): ",
                       bar_position=bar_position)
    model.save(work_dir)
    return {"restart": i, "seed": si.seed, **validation_score(model, papers, s.fields), "fit": stats}


def choose_restart(results: list[dict]) -> dict:
    """The best fit by the rule (separation.choice_key); ties: the lowest restart number. An
    undefined coherence ranks last."""
    def key(r: dict) -> tuple:
        return tuple(-math.inf if k is None else k for k in r["key"]) + (-r["restart"],)
    return max(results, key=key)


def fit_with_restarts(papers: Path, model_dir: Path, s: FitSettings) -> TopicModel:
    """Fit s.restarts models (s.restart_workers at a time) and return the chosen one; every fit's
    scores go into its meta["restarts"]. A single restart is a plain fit."""
    model_dir = Path(model_dir)
    work = model_dir / RESTARTS_DIR
    shutil.rmtree(work, ignore_errors=True)  # a crashed earlier run's leftovers
    if s.restarts <= 1:
        model, _ = fit(papers, model_dir, s)
        return model
    workers = max(1, min(s.restarts, s.restart_workers or os.cpu_count() or 1))
    jobs = [(papers, work / str(i), s, i, i % workers) for i in range(s.restarts)]
    try:
        results = _run(jobs, workers, s)
        best = choose_restart(results)
        model = TopicModel.load(work / str(best["restart"]))
        model.meta = {**model.meta, "restarts": results, "chosen_restart": best["restart"]}
        # The chosen model is saved into model_dir by the caller; its corpus is kept, the rest is not.
        for f in (work / str(best["restart"])).glob("train_corpus.mm*"):
            shutil.move(str(f), model_dir / f.name)
        return model
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(jobs: list[tuple], workers: int, s: FitSettings) -> list[dict]:
    if workers == 1:
        return [_fit_one(*j) for j in jobs]
    # forkserver: the workers do not inherit the threads of earlier stages run in this process.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))
    futures = [pool.submit(_fit_one, *j) for j in jobs]
    results = []
    try:
        for j, f in zip(jobs, futures):
            try:
                results.append(f.result())
            except Exception as exc:
                raise RuntimeError(f"topics: restart {j[3]} (seed {s.seed + j[3]}) failed: {exc!r}; "
                                   "if a worker was killed (memory), retry with topics.restart_workers=1") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results
