"""How well topics stand for arXiv's fields, measured on labelled records.

Definitions (docs/topics.md):
- a record's top topic is the argmax of its θ, inferred from its words (as for any unseen text);
- a topic's group is the archive group most common among the labelled TRAINING records it is the top
  topic of (names.py; none when fewer than `min_records` or no group has more than half of them);
- a held-out record is a hit when its top topic's group is its own (hep-th/hep-ph/hep-lat/hep-ex count
  as one group, nucl-th with nucl-ex, math-ph with mathematics); accuracy per kind (bodies, abstracts,
  papers); balanced accuracy = the mean recall over groups with at least `min_group_records` records;
- a group owns a topic when some topic's group is it.

The choice among restarts and settings reads validation records only (`choice_key`); test records are
read for the final figures.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pipeline.topics.model import TopicModel


def top_topics(model: TopicModel, docs: Iterable[dict]) -> Iterable[tuple[dict, int, np.ndarray]]:
    for d in docs:
        th = model.theta_of_tokens(d["tokens"])
        yield d, int(np.argmax(th)), th


def accuracy(model: TopicModel, groups: Sequence[str | None], docs: Iterable[dict], min_group_records: int = 10) -> dict:
    """Hits of the top topic's group against each record's own group (module docstring)."""
    hits: dict[str, list[bool]] = defaultdict(list)
    per_group: dict[str, list[bool]] = defaultdict(list)
    confusion: Counter = Counter()
    for d, k, _ in top_topics(model, docs):
        if not d.get("group"):
            continue
        hit = groups[k] == d["group"]
        hits[d["kind"]].append(hit)
        per_group[d["group"]].append(hit)
        if not hit:
            confusion[f"{d['group']} -> {groups[k] or 'general'}"] += 1
    recall = {g: float(np.mean(v)) for g, v in sorted(per_group.items())}
    counted = {g: recall[g] for g, v in per_group.items() if len(v) >= min_group_records}
    return {
        "by_kind": {k: {"records": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(hits.items())},
        "records": sum(len(v) for v in hits.values()),
        "accuracy": float(np.mean([h for v in hits.values() for h in v])) if hits else None,
        "balanced_accuracy": float(np.mean(list(counted.values()))) if counted else None,
        "balanced_over": sorted(counted),
        "per_group": {g: {"records": len(per_group[g]), "recall": recall[g]} for g in recall},
        "confusions": dict(confusion.most_common(12)),
    }


def accuracy_file(model: TopicModel, groups: Sequence[str | None], path: Path, min_group_records: int = 10) -> dict:
    from pipeline.topics.fit import read_docs

    return accuracy(model, groups, read_docs(path), min_group_records) if path.exists() else {"records": 0}


def owned(groups: Sequence[str | None], train_counts: dict[str, int], min_records: int) -> dict:
    """Groups with at least min_records labelled training records, and those of them that own no topic."""
    need = sorted(g for g, n in train_counts.items() if n >= min_records)
    have = set(g for g in groups if g)
    return {"groups": need, "owning_a_topic": [g for g in need if g in have],
            "without_a_topic": [g for g in need if g not in have], "min_records": min_records}


def choice_key(val: dict, own: dict) -> tuple:
    """Restarts and settings are ranked by: groups owning a topic, then validation balanced accuracy,
    then validation accuracy (every record counted once). Validation figures only."""
    return (len(own["owning_a_topic"]), val.get("balanced_accuracy") or 0.0, val.get("accuracy") or 0.0)
