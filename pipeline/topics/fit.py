"""Fitting the topic model on training records only: documents, normaliser, dictionary, labelled LDA.

`prepare_documents` reads every input once, streamed (prose files and the prepared papers), and writes
the documents the rest needs into a work folder: the training split's documents (filtered and capped at
`max_words`) and the labelled validation and test records (for figures: never fitted on). A record's
split comes from its id (records.Splits), so no setting can make the fit read a validation or test
record. Then the plural map, the dictionary and the bag-of-words corpus (gensim's MmCorpus, on disk)
are built from the training documents, and `fit` runs labelled LDA over them (labelled.py), streaming
the corpus from disk on every pass in a seeded random order.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gensim.corpora import Dictionary, MmCorpus

from pipeline.topics import archives
from pipeline.topics.corpus import TextNormaliser, TextSettings, cap_tokens, plural_map
from pipeline.topics.labelled import LabelledBow, LabelledLda, LabelledLdaMulticore, allocate
from pipeline.topics.model import TopicModel
from pipeline.topics.records import ProseRecord, Splits, iter_paper_records, iter_prose_file

log = logging.getLogger(__name__)
HELD_OUT = ("val", "test")


@dataclass
class FitSettings:
    num_topics: int
    passes: int
    iterations: int
    chunksize: int             # documents per online update
    decay: float               # online LDA's learning-rate decay (kappa)
    offset: float              # ... and delay (tau_0): a larger one lets early updates move the topics less
    alpha: Any                 # "symmetric" | "asymmetric" | "auto" | a number
    eta: Any                   # None | "auto" | a number
    seed: int
    text: TextSettings
    no_below: int              # keep words in at least this many training documents
    no_above: float            # ... and in at most this fraction of them
    keep_n: int
    prune_at: int              # the dictionary under construction keeps at most this many words (memory bound)
    max_words: int             # words a training document contributes (0 = all) ...
    max_words_runs: int        # ... taken as this many evenly spaced runs
    record_share: float        # share of the prose files' training records read at all (by a hash of the id)
    unlabelled_share: float    # ... and of those without a category, the share fitted on
    min_group_records: int     # an archive group gets topics of its own with this many labelled training records
    general_topics: int        # topics owned by no group
    restarts: int              # fits from seeds seed..seed+restarts-1, one kept (restarts.py)
    restart_workers: int       # restarts fitted at once (processes; 0 = one per core)
    fit_workers: int           # 1: gensim's LdaModel (reproducible); N > 1: LdaMulticore with N E-step processes
    progress: bool


@dataclass(frozen=True)
class Inputs:
    papers: Path | None            # prepared/papers.jsonl (None: prose files only)
    corpus: tuple[Path, ...]       # prose files (records.py)
    splits: Splits

    def describe(self) -> list[str]:
        return [str(p) for p in ((self.papers,) if self.papers else ()) + self.corpus]


@dataclass(frozen=True)
class WorkFiles:
    """The documents prepare_documents wrote (JSON lines: id, kind, group, archive, category, title, tokens)."""
    folder: Path

    @property
    def train(self) -> Path:
        return self.folder / "train_docs.jsonl"

    def held_out(self, split: str) -> Path:
        return self.folder / f"{split}_docs.jsonl"

    @property
    def corpus(self) -> Path:
        return self.folder / "train_corpus.mm"

    @property
    def labels(self) -> Path:
        return self.folder / "train_labels.json"


def _share(record_id: str, what: str) -> float:
    """A number in [0, 1) from the id: which records a share keeps does not depend on file order or seed."""
    return int.from_bytes(hashlib.sha256(f"{what}:{record_id}".encode()).digest()[:8], "big") / 2 ** 64


def _line(r: ProseRecord, tokens: list[str]) -> str:
    cat = archives.primary(r.categories)
    return json.dumps({"id": r.id, "kind": r.kind, "group": archives.group_of(r.categories),
                       "archive": archives.archive_of(r.categories), "category": cat, "title": r.title,
                       "tokens": tokens}, ensure_ascii=False) + "\n"


def prepare_documents(inputs: Inputs, work: WorkFiles, s: FitSettings) -> dict:
    """Write the training documents and the labelled held-out records (module docstring), reading every
    input once; their counts."""
    from pipeline.progress import bar

    work.folder.mkdir(parents=True, exist_ok=True)
    filt = TextNormaliser(s.text).filter
    skipped: Counter = Counter()
    counts: Counter = Counter()

    def keep(rid: str, split: str, categories: str | None) -> bool:
        if split == "train" and _share(rid, "sample") >= s.record_share:
            counts["train_not_sampled"] += 1
            return False
        if archives.group_of(categories):
            return True
        if split == "train" and _share(rid, "unlabelled") < s.unlabelled_share:
            return True
        counts[f"{split}_unlabelled_not_read"] += 1
        return False

    def records() -> Iterator[ProseRecord]:
        if inputs.papers is not None:
            for r in iter_paper_records(inputs.papers):
                if r.split == "train" or archives.group_of(r.categories):  # the papers' own prose: all fitted on
                    yield r
        for path in inputs.corpus:
            yield from iter_prose_file(path, inputs.splits, skipped, keep)

    files = {split: open(work.train if split == "train" else work.held_out(split), "w", encoding="utf-8")
             for split in ("train", *HELD_OUT)}
    pb = bar(None, "topics: reading prose", "record", enabled=s.progress)
    try:
        for r in records():
            pb.update(1)
            tokens = filt(r.tokens)
            if r.split == "train":
                tokens = cap_tokens(tokens, s.max_words, s.max_words_runs)
            if not tokens:
                counts[f"{r.split}_no_words"] += 1
                continue
            labelled = "labelled" if archives.group_of(r.categories) else "unlabelled"
            counts[f"{r.split}_{r.kind}_{labelled}"] += 1
            files[r.split].write(_line(r, tokens))
    finally:
        pb.close()
        for fh in files.values():
            fh.close()
    return {"documents": dict(sorted(counts.items())), "skipped": dict(skipped)}


def read_docs(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def build_normaliser(work: WorkFiles, s: FitSettings) -> TextNormaliser:
    norm = TextNormaliser(s.text)
    if s.text.merge_plurals:
        counts: Counter = Counter()
        for d in read_docs(work.train):
            counts.update(d["tokens"])
        norm.plurals = plural_map(counts)
    return norm


def build_corpus(work: WorkFiles, norm: TextNormaliser, s: FitSettings) -> tuple[Dictionary, dict]:
    """Dictionary of the training documents (filtered by document frequency) and their bags of words on
    disk, with each document's group; statistics."""
    d = Dictionary((norm(x["tokens"]) for x in read_docs(work.train)), prune_at=s.prune_at)
    n_docs = d.num_docs
    if n_docs == 0:
        raise ValueError(f"topics: no training document has words ({', '.join(map(str, work.folder.parts[-3:]))}); "
                         "check topics.corpus and the prepare stage's papers.jsonl")
    d.filter_extremes(no_below=s.no_below, no_above=s.no_above, keep_n=s.keep_n)
    d.compactify()
    if len(d) == 0:
        raise ValueError(f"topics: no word left after filter_extremes(no_below={s.no_below}, no_above={s.no_above}) "
                         f"over {n_docs} training documents; lower topics.dictionary.no_below or raise "
                         "topics.dictionary.no_above")
    labels: list[str | None] = []

    def bows() -> Iterator[list]:
        for x in read_docs(work.train):
            labels.append(x["group"])
            yield d.doc2bow(norm(x["tokens"]))

    MmCorpus.serialize(str(work.corpus), bows())
    counts = Counter(g for g in labels if g)
    work.labels.write_text(json.dumps(labels))
    return d, {"train_documents": n_docs, "vocabulary": len(d), "plurals_merged": len(norm.plurals),
               "labelled_documents_by_group": dict(counts.most_common())}


class LabelledStream:
    """The training bags of words from disk, each with its group, in a seeded random order (online LDA
    must not see one field's records in a row, as a file sorted by archive would give them)."""

    def __init__(self, work: WorkFiles, seed: int) -> None:
        self.corpus = MmCorpus(str(work.corpus))
        self.labels = json.loads(work.labels.read_text())
        self.order = np.random.RandomState(seed).permutation(len(self.labels))

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[LabelledBow]:
        for i in self.order:
            yield LabelledBow(self.corpus[int(i)], self.labels[i])


class _PassProgress(logging.Handler):
    """A bar over all passes, driven by gensim's own 'PROGRESS: pass p, at document #d/n' log lines."""

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
        if self.bar is None:
            from pipeline.progress import bar

            self.bar = bar(self.passes * n, f"{self.label}LDA pass 1/{self.passes}", "doc", leave=False,
                           position=self.position)
        if p != self.pass_:
            self.pass_, self.done = p, 0
            self.bar.set_description(f"{self.label}LDA pass {p + 1}/{self.passes}")
        self.bar.n = p * n + min(self.done, n)  # gensim logs a chunk's end before working on it
        self.bar.refresh()
        self.done = d

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        super().close()


def fit(work: WorkFiles, dictionary: Dictionary, norm: TextNormaliser, s: FitSettings, bar_label: str = "",
        bar_position: int = 0) -> TopicModel:
    """Labelled LDA with seed s.seed over the training corpus on disk (build_corpus first)."""
    t0 = time.time()
    stream = LabelledStream(work, s.seed)
    counts = Counter(g for g in stream.labels if g)
    owners = allocate(counts, s.num_topics, s.min_group_records, s.general_topics)
    multicore = s.fit_workers > 1
    glog = logging.getLogger("gensim.models.ldamulticore" if multicore else "gensim.models.ldamodel")
    handler = _PassProgress(s.passes, bar_label, bar_position) if s.progress else None
    saved = (glog.level, glog.propagate)
    if handler:  # our handler only: gensim's INFO chatter stays off the console
        glog.addHandler(handler)
        glog.setLevel(logging.INFO)
        glog.propagate = False
    try:
        common = dict(corpus=stream, id2word=dictionary, num_topics=s.num_topics, passes=s.passes,
                      iterations=s.iterations, chunksize=s.chunksize, decay=s.decay, offset=s.offset, alpha=s.alpha,
                      eta=s.eta, random_state=s.seed, eval_every=None, owners=owners)
        if multicore:  # E-steps in worker processes: faster on many cores, not bit-reproducible
            lda = LabelledLdaMulticore(workers=s.fit_workers, **common)
        else:
            lda = LabelledLda(update_every=1, **common)
    finally:
        if handler:
            handler.close()
            glog.removeHandler(handler)
            glog.setLevel(saved[0])
            glog.propagate = saved[1]
    return TopicModel(lda, dictionary, norm, s.seed,
                      meta={"fit": {"seconds_lda": round(time.time() - t0, 1), "owners": owners}})
