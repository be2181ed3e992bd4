"""Topic quality besides field separation (evaluation.py): coherence, perplexity bound, the topics table.

Coherence (reported, not chosen by): the mean over topics of gensim's c_npmi of each topic's top 10
words, with gensim's default sliding window for c_npmi (10 tokens), counted on a reference corpus = the
validation records' words passed through the model's own text normaliser (the tokens the model sees; streamed
from the work file, one text in memory at a time;
words outside the dictionary stay in the text, so windows are not narrowed by vocabulary filtering). A topic whose
score is not finite (some top word never occurs in the reference texts) is counted in
`undefined_topics` and left out of the mean, never averaged in as NaN or infinity.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from gensim.models import CoherenceModel

from pipeline.topics.corpus import cap_tokens
from pipeline.topics.model import TopicModel


class ReferenceTexts:
    """Held-out records (a work file of fit.py) as model tokens, each at most max_words, read from the file
    at each pass: memory holds one text at a time, however many records there are."""

    def __init__(self, model: TopicModel, docs: Path, max_words: int) -> None:
        self.model, self.docs, self.max_words = model, docs, max_words
        self._len: int | None = None

    def __iter__(self) -> Iterator[list[str]]:
        from pipeline.topics.fit import read_docs

        if not self.docs.exists():
            return
        n = 0
        for d in read_docs(self.docs):
            n += 1
            yield self.model.normaliser(cap_tokens(d["tokens"], self.max_words))
        self._len = n

    def __len__(self) -> int:
        if self._len is None:  # one record a line: counted without normalising every text a second time
            self._len = 0
            if self.docs.exists():
                with open(self.docs, "rb") as fh:
                    self._len = sum(1 for _ in fh)
        return self._len


def reference_texts(model: TopicModel, docs: Path, max_words: int) -> ReferenceTexts:
    return ReferenceTexts(model, docs, max_words)


def coherence(model: TopicModel, texts: Iterable[Sequence[str]], measure: str = "c_npmi",
              topn: int = 10) -> dict:
    """`texts`: any re-iterable of token lists (ReferenceTexts streams them from a file)."""
    topics = [model.top_words(k, topn) for k in range(model.num_topics)]
    n_texts = len(texts) if hasattr(texts, "__len__") else sum(1 for _ in texts)
    if not n_texts:
        return {"measure": measure, "mean": None, "per_topic": [None] * len(topics),
                "undefined_topics": len(topics), "texts": 0}
    cm = CoherenceModel(topics=topics, texts=texts, dictionary=model.dictionary,
                        coherence=measure, topn=topn, processes=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # unseen words: handled just below
        per = [float(x) for x in cm.get_coherence_per_topic()]
    finite = [x for x in per if math.isfinite(x)]
    return {"measure": measure, "topn": topn, "window": cm.window_size,
            "mean": float(np.mean(finite)) if finite else None,
            "per_topic": [x if math.isfinite(x) else None for x in per],
            "undefined_topics": len(per) - len(finite), "texts": n_texts}


def log_perplexity(model: TopicModel, texts: Iterable[Sequence[str]]) -> dict:
    """gensim's per-word likelihood bound on held-out texts (higher is better); perplexity = 2^-bound.
    Streamed: the bound is summed document by document, as gensim's log_perplexity does for one chunk."""
    words = 0

    def bows() -> Iterator[list]:
        nonlocal words
        for t in texts:
            b = model.dictionary.doc2bow(t)
            if b:
                words += sum(c for _, c in b)
                yield b

    model.lda.random_state = np.random.RandomState(model.seed)
    total = float(model.lda.bound(bows()))
    if not words:
        return {"per_word_bound": None, "perplexity": None}
    bound = total / words
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
