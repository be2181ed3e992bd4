"""Fitting: plural map, bigrams, dictionary and LDA, from the TRAINING split of papers.jsonl only.

Every function that learns something takes the papers file and reads it through
`iter_papers(path, ("train",))`; no split name is a parameter, so no setting can make fitting read
validation or test prose. Validation is used afterwards, for choosing settings (quality.py).
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from gensim.corpora import Dictionary, MmCorpus
from gensim.models import LdaModel, LdaMulticore
from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases

from pipeline.topics.categories import category_name
from pipeline.topics.corpus import TextNormaliser, TextSettings, TrainChunks, iter_papers, paper_sections, plural_map
from pipeline.topics.model import TopicModel
from pipeline.topics.separation import FieldSettings

log = logging.getLogger(__name__)
TRAIN = ("train",)


@dataclass
class FitSettings:
    num_topics: int
    passes: int
    iterations: int
    alpha: Any  # "symmetric" | "asymmetric" | "auto" | float
    eta: Any  # None | "auto" | float
    workers: int  # 1: LdaModel (bit-reproducible); >1: LdaMulticore (not reproducible)
    chunksize: int  # documents per online update
    seed: int
    text: TextSettings
    bigrams: bool
    bigram_min_count: int
    bigram_threshold: float  # npmi scoring, in (-1, 1]
    no_below: int  # keep words in at least this many training PAPERS
    no_above: float  # ... and in at most this fraction of them
    keep_n: int
    chunk_max_tokens: int  # long documents are cut into chunks of about this many tokens
    chunk_min_tokens: int
    max_paper_tokens: int  # a paper contributes at most about this many tokens (0 = all)
    max_papers_per_group: int  # guidance: at most this many training papers per category group (0 = all)
    fields: FieldSettings  # how choice measures field separation (separation.py); reads `field`, never fits on it
    restarts: int  # fits from seeds seed..seed+restarts-1, one kept (restarts.py)
    restart_workers: int  # restarts fitted at once (processes, 0 = one per core); with workers=1
    #                       the result does not depend on it
    progress: bool


def fitting_ids(papers: Path, s: FitSettings) -> frozenset[str] | None:
    """The training papers the fit reads (None: all of them).

    Guidance from categories: with `max_papers_per_group` > 0, training papers are grouped by the
    field their primary arXiv category names (categories.py) and each group keeps at most that many
    papers, the first by a hash of the id (so the set does not depend on the seed or on file order);
    papers without a named category are all kept. On this corpus 559 of 711 training papers are
    hep-th: unbalanced, the topics spend themselves on it and small fields share generic topics
    (docs/topics.md, third round). Validation and test papers are never read here.
    """
    if s.max_papers_per_group <= 0:
        return None
    groups: dict[str | None, list[str]] = defaultdict(list)
    for p in iter_papers(papers, TRAIN):
        groups[category_name(p.get("categories"))].append(p["id"])
    keep: set[str] = set(groups.pop(None, []))
    for ids in groups.values():
        keep.update(sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())[: s.max_papers_per_group])
    return frozenset(keep)


def _training(papers: Path, ids: frozenset[str] | None) -> Iterator[dict]:
    for p in iter_papers(papers, TRAIN):
        if ids is None or p["id"] in ids:
            yield p


def build_normaliser(papers: Path, s: FitSettings, ids: frozenset[str] | None = None) -> TextNormaliser:
    norm = TextNormaliser(s.text)
    if s.text.merge_plurals:
        counts: Counter = Counter()
        for p in _training(papers, ids):
            counts.update(norm.filter(p.get("prose") or []))
        norm.plurals = plural_map(counts)
    if s.bigrams:
        sents = _Sections(papers, norm, ids)
        ph = Phrases(sents, min_count=s.bigram_min_count, threshold=s.bigram_threshold, scoring="npmi",
                     connector_words=ENGLISH_CONNECTOR_WORDS)
        norm.phrases = ph.freeze()
    return norm


class _Sections:
    """Filtered training sections (before bigrams), re-iterable, for learning Phrases."""

    def __init__(self, papers: Path, norm: TextNormaliser, ids: frozenset[str] | None) -> None:
        self.papers, self.norm, self.ids = papers, norm, ids

    def __iter__(self) -> Iterator[list[str]]:
        for p in _training(self.papers, self.ids):
            for sec in paper_sections(p):
                yield self.norm.filter(sec)


def build_dictionary(papers: Path, norm: TextNormaliser, s: FitSettings,
                     ids: frozenset[str] | None = None) -> Dictionary:
    # Document frequencies count papers, not chunks: no_below=5 means "in 5 papers", so one
    # textbook's private jargon cannot pass the threshold by being cut into many chunks.
    d = Dictionary(norm(p.get("prose") or []) for p in _training(papers, ids))
    n_docs = d.num_docs
    d.filter_extremes(no_below=s.no_below, no_above=s.no_above, keep_n=s.keep_n)
    d.compactify()
    if len(d) == 0:
        raise ValueError(f"{papers}: no word left after filter_extremes(no_below={s.no_below}, "
                         f"no_above={s.no_above}) over {n_docs} training papers; lower topics.no_below")
    return d


class _PassProgress(logging.Handler):
    """tqdm bar per LDA pass, driven by gensim's own 'PROGRESS: pass p, at document #d/n' log lines."""

    _RE = re.compile(r"PROGRESS: pass (\d+), (?:dispatched chunk #\d+ = )?(?:at )?documents? (?:up to )?#(\d+)/(\d+)")

    def __init__(self, passes: int, label: str = "", position: int = 0) -> None:
        super().__init__(logging.INFO)
        self.passes, self.bar, self.pass_, self.done = passes, None, -1, 0
        self.label, self.position = label, position

    def emit(self, record: logging.LogRecord) -> None:
        m = self._RE.search(record.getMessage())
        if not m:
            return
        p, d, n = (int(x) for x in m.groups())
        if self.bar is None:  # one bar for all passes: a log file gets a line every 30 s, not one a pass
            from pipeline.progress import bar

            self.bar = bar(self.passes * n, f"{self.label}LDA pass 1/{self.passes}", "doc", leave=False,
                           position=self.position)
        if p != self.pass_:
            self.pass_, self.done = p, 0
            self.bar.set_description(f"{self.label}LDA pass {p + 1}/{self.passes}")
        # gensim logs "at document #d" before working on the chunk that ends at d: show the
        # previous chunk's end as done.
        self.bar.n = p * n + min(self.done, n)
        self.bar.refresh()
        self.done = d

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        super().close()


def train_lda(corpus: Any, dictionary: Dictionary, s: FitSettings, bar_label: str = "",
              bar_position: int = 0) -> LdaModel:
    kw = dict(corpus=corpus, id2word=dictionary, num_topics=s.num_topics, passes=s.passes,
              iterations=s.iterations, chunksize=s.chunksize, random_state=s.seed, eval_every=None)
    glog = [logging.getLogger(n) for n in ("gensim.models.ldamodel", "gensim.models.ldamulticore")]
    handler = _PassProgress(s.passes, bar_label, bar_position) if s.progress else None
    saved = [(g.level, g.propagate) for g in glog]
    if handler:
        for g in glog:  # our handler only: gensim's INFO chatter stays off the console
            g.addHandler(handler)
            g.setLevel(logging.INFO)
            g.propagate = False
    try:
        if s.workers > 1:
            alpha = s.alpha if s.alpha != "auto" else "symmetric"  # LdaMulticore cannot learn alpha
            return LdaMulticore(workers=s.workers, alpha=alpha, eta=s.eta, **kw)
        return LdaModel(alpha=s.alpha, eta=s.eta, update_every=1, **kw)
    finally:
        if handler:
            handler.close()
            for g, (lvl, prop) in zip(glog, saved):
                g.removeHandler(handler)
                g.setLevel(lvl)
                g.propagate = prop


def fit(papers: Path, work_dir: Path, s: FitSettings, bar_label: str = "",
        bar_position: int = 0) -> tuple[TopicModel, dict]:
    """Fit on the training papers of `papers`; returns the model and fitting statistics.

    The training chunks' bags of words are written once to work_dir/train_corpus.mm and LDA streams
    them from disk on every pass (gensim's MmCorpus), so memory holds only the dictionary and model.
    """
    t0 = time.time()
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ids = fitting_ids(papers, s)
    norm = build_normaliser(papers, s, ids)
    dictionary = build_dictionary(papers, norm, s, ids)
    chunks = TrainChunks(papers, norm, s.chunk_max_tokens, s.chunk_min_tokens,
                         max_paper_tokens=s.max_paper_tokens, keep_ids=ids)
    mm = work_dir / "train_corpus.mm"
    MmCorpus.serialize(str(mm), (dictionary.doc2bow(c) for c in chunks))
    corpus = MmCorpus(str(mm))
    if len(corpus) == 0:
        raise ValueError(f"{papers}: no training paper has prose; check the prepare stage's output")
    t1 = time.time()
    lda = train_lda(corpus, dictionary, s, bar_label, bar_position)
    t2 = time.time()
    stats = {"train_papers": dictionary.num_docs, "train_chunks": len(corpus),
             "train_tokens_in_vocab": int(corpus.num_nnz and sum(c for doc in corpus for _, c in doc)),
             "vocabulary": len(dictionary), "bigrams_in_vocab": sum("_" in w for w in dictionary.token2id),
             "plurals_merged": len(norm.plurals), "seconds_text": round(t1 - t0, 1),
             "seconds_lda": round(t2 - t1, 1)}
    model = TopicModel(lda, dictionary, norm, s.seed, meta={"fit": stats})
    return model, stats


def theta_all(model: TopicModel, papers: Path) -> Iterator[tuple[dict, np.ndarray]]:
    """(paper, θ) for every paper of every split, each inferred on its own whole prose.

    Training papers are inferred too (not read off the training chunks' gamma) so that θ means the
    same thing for every paper and a long document gets one θ for all its chunks.
    """
    for p in iter_papers(papers):
        yield p, model.theta_of_tokens(p.get("prose") or [])
