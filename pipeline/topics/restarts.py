"""Several fits from different seeds, one kept: the one chosen on the validation records.

Why: the seed moves how well topics stand for fields by a few points (docs/topics.md). `restarts: N`
fits seeds seed, seed+1, ..., seed+N-1 on the same training corpus, names each fit's topics from the
training records (names.py), scores it on the validation records only (evaluation.choice_key) and keeps
the best. Test records are never read here. Each fit is bit-reproducible, so the choice is too.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

from gensim.corpora import Dictionary

from pipeline.topics.corpus import TextNormaliser
from pipeline.topics.fit import FitSettings, WorkFiles, fit, read_docs
from pipeline.topics.model import TopicModel

RESTARTS_DIR = "restarts"


def dominated(model: TopicModel, work: WorkFiles, titles: int = 0) -> tuple[list[list[tuple]], list[list[str]]]:
    """For each topic, (group, archive, category) of the labelled training records it is the top topic of,
    and the titles of up to `titles` of them, those with the largest share of the topic first."""
    import heapq

    from pipeline.topics.evaluation import top_topics

    out: list[list] = [[] for _ in range(model.num_topics)]
    best: list[list] = [[] for _ in range(model.num_topics)]
    for n, (d, k, th) in enumerate(top_topics(model, (d for d in read_docs(work.train) if d.get("group")))):
        out[k].append((d["group"], d.get("archive"), d.get("category")))
        title = " ".join(str(d.get("title") or "").split())
        if titles and _looks_like_a_title(title):
            # metadata titles first: a body's title is the converter's guess (its first long line)
            item = (d.get("kind") != "body", float(th[k]), -n, title[:200])
            (heapq.heappush if len(best[k]) < titles else heapq.heappushpop)(best[k], item)
    return out, [[t for *_, t in sorted(b, reverse=True)] for b in best]


def _looks_like_a_title(title: str) -> bool:
    words = title.split()
    letters = sum(c.isalpha() or c == " " for c in title)
    return len(words) >= 3 and letters >= 0.85 * len(title) and not title.startswith("=")


def label_topics(model: TopicModel, work: WorkFiles, rule, titles: int = 0) -> tuple[list, list[list[str]]]:
    """Names (names.py) of a fit's topics from the training records, and example titles per topic."""
    from pipeline.topics.names import name_topics

    recs, best = dominated(model, work, titles)
    return name_topics(recs, lambda k: model.distinctive_words(k, 20), rule), best


def score(model: TopicModel, work: WorkFiles, rule, train_counts: dict[str, int], min_group_records: int,
          min_eval_records: int) -> dict:
    """The choice rule's figures of one fit: training records name the topics, validation records score them."""
    from pipeline.topics.evaluation import accuracy_file, choice_key, owned

    names, _ = label_topics(model, work, rule)
    groups = [t.group for t in names]
    val = accuracy_file(model, groups, work.held_out("val"), min_eval_records)
    own = owned(groups, train_counts, min_group_records)
    return {"key": list(choice_key(val, own)), "val_accuracy": val.get("accuracy"),
            "val_balanced_accuracy": val.get("balanced_accuracy"), "groups_without_a_topic": own["without_a_topic"]}


def _fit_one(work: WorkFiles, dictionary: Dictionary, norm: TextNormaliser, s: FitSettings, i: int, rule,
             train_counts: dict, min_eval_records: int, out: Path, bar_position: int = 0) -> dict:
    si = replace(s, seed=s.seed + i, restarts=1)
    model = fit(work, dictionary, norm, si, bar_label=f"restart {i + 1}/{s.restarts} (seed {si.seed}): ",
                bar_position=bar_position)
    model.save(out)
    return {"restart": i, "seed": si.seed, "fit": model.meta.get("fit", {}),
            **score(model, work, rule, train_counts, s.min_group_records, min_eval_records)}


def fit_with_restarts(work: WorkFiles, dictionary: Dictionary, norm: TextNormaliser, s: FitSettings, rule,
                      train_counts: dict, min_eval_records: int, model_dir: Path) -> TopicModel:
    """Fit s.restarts models (s.restart_workers at a time) and return the chosen one; every fit's figures go
    into its meta["restarts"]. One restart is a plain fit."""
    model_dir = Path(model_dir)
    runs = model_dir / RESTARTS_DIR
    shutil.rmtree(runs, ignore_errors=True)  # a crashed earlier run's leftovers
    n = max(1, s.restarts)
    workers = max(1, min(n, s.restart_workers or os.cpu_count() or 1))
    jobs = [(work, dictionary, norm, s, i, rule, train_counts, min_eval_records, runs / str(i), i % workers)
            for i in range(n)]
    try:
        results = _run(jobs, workers, s)
        best = max(results, key=lambda r: (tuple(r["key"]), -r["restart"]))
        model = TopicModel.load(runs / str(best["restart"]))
        model.meta = {**model.meta, "restarts": results, "chosen_restart": best["restart"]}
        return model
    finally:
        shutil.rmtree(runs, ignore_errors=True)


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
                raise RuntimeError(f"topics: restart {j[4]} (seed {s.seed + j[4]}) failed: {exc!r}; "
                                   "if a worker was killed (memory), retry with topics.restart_workers=1") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results
