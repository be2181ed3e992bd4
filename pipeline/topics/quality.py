"""Topic quality besides field separation (evaluation.py): coherence, perplexity bound, the topics table.

Coherence (reported, not chosen by): the mean over topics of gensim's c_npmi of each topic's top 10
words, with gensim's default sliding window for c_npmi (10 tokens), counted on a reference corpus = the
validation records' words passed through the model's own text normaliser (the tokens the model sees;
words outside the dictionary stay in the text, so windows are not narrowed by vocabulary filtering). A topic whose
score is not finite (some top word never occurs in the reference texts) is counted in
`undefined_topics` and left out of the mean, never averaged in as NaN or infinity.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from gensim.models import CoherenceModel

from pipeline.topics.corpus import cap_tokens
from pipeline.topics.model import TopicModel


def reference_texts(model: TopicModel, docs: Path, max_words: int) -> list[list[str]]:
    """Held-out records (a work file of fit.py) as model tokens, each at most max_words (held in memory:
    coherence reads them several times)."""
    from pipeline.topics.fit import read_docs

    return [model.normaliser(cap_tokens(d["tokens"], max_words)) for d in read_docs(docs)] if docs.exists() else []


def coherence(model: TopicModel, texts: Sequence[Sequence[str]], measure: str = "c_npmi",
              topn: int = 10) -> dict:
    topics = [model.top_words(k, topn) for k in range(model.num_topics)]
    if not texts:
        return {"measure": measure, "mean": None, "per_topic": [None] * len(topics),
                "undefined_topics": len(topics), "texts": 0}
    cm = CoherenceModel(topics=topics, texts=[list(t) for t in texts], dictionary=model.dictionary,
                        coherence=measure, topn=topn, processes=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # unseen words: handled just below
        per = [float(x) for x in cm.get_coherence_per_topic()]
    finite = [x for x in per if math.isfinite(x)]
    return {"measure": measure, "topn": topn, "window": cm.window_size,
            "mean": float(np.mean(finite)) if finite else None,
            "per_topic": [x if math.isfinite(x) else None for x in per],
            "undefined_topics": len(per) - len(finite), "texts": len(texts)}


def log_perplexity(model: TopicModel, texts: Sequence[Sequence[str]]) -> dict:
    """gensim's per-word likelihood bound on held-out texts (higher is better); perplexity = 2^-bound."""
    bows = [b for b in (model.dictionary.doc2bow(t) for t in texts) if b]
    if not bows:
        return {"per_word_bound": None, "perplexity": None}
    model.lda.random_state = np.random.RandomState(model.seed)
    bound = float(model.lda.log_perplexity(bows))
    return {"per_word_bound": bound, "perplexity": float(2 ** (-bound))}


def topics_markdown(model: TopicModel, infos: Sequence[dict], sizes: Sequence[float], coh: Sequence[float | None],
                    n_words: int = 8) -> str:
    lines = ["# Topics", "", "| topic | name | archive (confidence, records) | top words | share of papers' prose | "
             "c_npmi (val) |", "|---:|---|---|---|---:|---:|"]
    for k in range(model.num_topics):
        c, t = coh[k], infos[k]
        arch = f"{t['archive']} ({100 * t['confidence']:.0f}%, {t['records']})" if t.get("archive") else \
            f"none ({t['records']})"
        lines.append(f"| {k} | {model.label(k)} | {arch} | {', '.join(model.top_words(k, n_words))} | "
                     f"{100 * sizes[k]:.1f}% | {'n/a' if c is None else f'{c:.3f}'} |")
    return "\n".join(lines) + "\n"
