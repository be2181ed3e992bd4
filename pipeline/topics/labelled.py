"""Labelled LDA on gensim: topics set aside for each arXiv archive group, learned from labelled records.

Why: fitted without labels, LDA spends its topics where the words are (three-quarters of the equation
corpus is one field) and fields with fewer papers share a few generic topics; on the multi-field prose
corpus a plain fit still gives nuclear physics, relativity and nonlinear science no topic of their own
(docs/topics.md). Here each archive group with enough labelled training records is given a share of the
topics (`allocate`), and while fitting, a labelled record may only use its own group's topics (Labeled
LDA, Ramage et al. 2009): its words then teach those topics and no other. Records without a label may
use every topic. Inference is plain LDA over all topics: θ of a new text comes from its words alone.

The restriction is done by masking: for a chunk of records of one group, gensim's own variational
E-step runs with the other topics' expElogbeta set to zero, so those topics get neither θ mass (beyond
the prior) nor sufficient statistics from the chunk. Everything else is gensim's LdaModel.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
from gensim.models import LdaModel, LdaMulticore


class LabelledBow(list):
    """A bag of words [(word id, count), ...] that carries its record's group (None: unlabelled)."""

    __slots__ = ("label",)

    def __init__(self, bow, label: str | None = None) -> None:
        super().__init__(bow)
        self.label = label


class _Labelled:
    """The E-step that keeps each labelled record on its group's topics (module docstring), over gensim's
    LdaModel or LdaMulticore (whose worker processes run this same `inference`). `owners[k]` is the group
    topic k is set aside for (None: any record may use it)."""

    def __init__(self, *args, owners: Sequence[str | None] = (), **kwargs) -> None:
        self.owners = list(owners)
        self.masks = {g: np.array([o is None or o == g for o in self.owners], dtype=np.float64)
                      for g in {o for o in self.owners if o is not None}}
        super().__init__(*args, **kwargs)

    def inference(self, chunk, collect_sstats: bool = False):
        chunk = list(chunk)
        by: dict[str | None, list[int]] = defaultdict(list)
        for i, doc in enumerate(chunk):
            label = getattr(doc, "label", None)
            by[label if label in self.masks else None].append(i)
        if list(by) == [None]:
            return super().inference(chunk, collect_sstats)
        gamma = np.empty((len(chunk), self.num_topics), dtype=self.dtype)
        sstats = np.zeros_like(self.expElogbeta) if collect_sstats else None
        full = self.expElogbeta
        for label, idx in by.items():
            if label is not None:
                self.expElogbeta = (full * self.masks[label][:, None]).astype(self.dtype, copy=False)
            try:
                g, s = super().inference([chunk[i] for i in idx], collect_sstats)
            finally:
                self.expElogbeta = full
            gamma[idx] = g
            if collect_sstats:
                sstats += s
        return gamma, sstats


class LabelledLda(_Labelled, LdaModel):
    """Labelled LDA on gensim's LdaModel: one process, bit-reproducible from its seed."""


class LabelledLdaMulticore(_Labelled, LdaMulticore):
    """Labelled LDA on gensim's LdaMulticore: E-steps in `workers` processes (faster with many cores; the
    order in which workers' statistics arrive makes it not bit-reproducible)."""


def allocate(counts: Mapping[str, int], num_topics: int, min_records: int, general: int = 0) -> list[str | None]:
    """Owner group of each topic: every group with at least `min_records` labelled training records gets
    one topic, the rest go by the square root of the counts (a big group gets more topics, not
    proportionally more: its sub-fields differ less than fields do), then `general` topics owned by no
    group. Deterministic: ties by group name."""
    groups = sorted((g for g, n in counts.items() if n >= min_records), key=lambda g: (-counts[g], g))
    if not groups:
        return [None] * num_topics
    room = num_topics - general
    if room < len(groups):
        raise ValueError(f"topics.num_topics={num_topics} leaves {room} topics for {len(groups)} archive groups with "
                         f">= {min_records} labelled training records ({', '.join(groups)}): raise topics.num_topics "
                         "or topics.labels.min_records")
    alloc = {g: 1 for g in groups}
    for _ in range(room - len(groups)):
        g = max(groups, key=lambda g: (math.sqrt(counts[g]) / alloc[g], -groups.index(g)))
        alloc[g] += 1
    return [g for g in groups for _ in range(alloc[g])] + [None] * general
