"""A fitted topic model: LDA + dictionary + text normaliser, with deterministic inference.

`TopicModel.load(dir).infer("star gravity einstein mass galaxies".split())` returns θ, a dense
float64 vector of num_topics entries summing to 1. Inference of one document never depends on other
documents or on earlier calls: the LDA's random state (which seeds gamma before the variational
iterations) is reset to the same seed before every document.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from gensim.corpora import Dictionary
from gensim.models import LdaModel

from pipeline.topics.corpus import TextNormaliser, TextSettings

# Files of a saved model directory (outputs/<run>/topics/model/).
LDA_FILE = "lda.model"
DICT_FILE = "dictionary.dict"
NORM_FILE = "normaliser.pkl"
META_FILE = "model.json"


class UnknownWordsError(ValueError):
    """None of the context words is in the model's vocabulary."""


@dataclass
class Inference:
    theta: np.ndarray          # [num_topics], sums to 1
    used: list[str]            # model tokens that were in the dictionary (after normalisation)
    unknown: list[str]         # input words that contributed nothing, with why
    reasons: dict[str, str]


class TopicModel:
    def __init__(self, lda: LdaModel, dictionary: Dictionary, normaliser: TextNormaliser,
                 seed: int, names: Mapping[int, str] | None = None, meta: dict | None = None) -> None:
        self.lda, self.dictionary, self.normaliser, self.seed = lda, dictionary, normaliser, int(seed)
        self.names = {int(k): str(v) for k, v in (names or {}).items()}
        self.meta = meta or {}

    @property
    def num_topics(self) -> int:
        return int(self.lda.num_topics)

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.lda.save(str(directory / LDA_FILE))
        self.dictionary.save(str(directory / DICT_FILE))
        state = {"settings": asdict(self.normaliser.settings), "plurals": self.normaliser.plurals,
                 "phrases": self.normaliser.phrases}
        with (directory / NORM_FILE).open("wb") as f:
            pickle.dump(state, f)
        (directory / META_FILE).write_text(json.dumps({**self.meta, "seed": self.seed}, indent=1))

    @classmethod
    def load(cls, directory: Path, names: Mapping[int, str] | None = None) -> "TopicModel":
        directory = Path(directory)
        if not (directory / LDA_FILE).exists():
            raise FileNotFoundError(f"{directory / LDA_FILE}: no topic model here; run "
                                    "`python -m pipeline stage=topics` first")
        lda = LdaModel.load(str(directory / LDA_FILE))
        dictionary = Dictionary.load(str(directory / DICT_FILE))
        with (directory / NORM_FILE).open("rb") as f:
            state = pickle.load(f)
        norm = TextNormaliser(TextSettings(**state["settings"]), state["plurals"], state["phrases"])
        meta = json.loads((directory / META_FILE).read_text())
        return cls(lda, dictionary, norm, meta.get("seed", 0), names, meta)

    # --- inference ------------------------------------------------------------------------------
    def theta_of_bow(self, bow: list[tuple[int, int]]) -> np.ndarray:
        """Dense θ of one bag of words: the variational gamma normalised (no probability floor)."""
        if not bow:
            return np.full(self.num_topics, 1.0 / self.num_topics)
        self.lda.random_state = np.random.RandomState(self.seed)  # independent of call history
        gamma, _ = self.lda.inference([bow])
        g = gamma[0].astype(np.float64)
        return g / g.sum()

    def theta_of_tokens(self, prose: Sequence[str]) -> np.ndarray:
        """θ of a paper's prose tokens (as in papers.jsonl: already lower-cased and filtered)."""
        return self.theta_of_bow(self.dictionary.doc2bow(self.normaliser(prose)))

    def explain(self, words: Iterable[str] | str) -> Inference:
        """θ of context words plus which words were used and which were not (and why)."""
        raw = self.normaliser.split_words(words) if isinstance(words, str) else \
            [w for x in words for w in self.normaliser.split_words(x)]
        reasons: dict[str, str] = {}
        for w in raw:
            kept = self.normaliser.filter([w])
            if not kept:
                reasons[w] = "stop word or too short"
            elif kept[0] not in self.dictionary.token2id:
                reasons[w] = "not in the model's vocabulary"
        tokens = self.normaliser(raw)
        bow = self.dictionary.doc2bow(tokens)
        used = [t for t in tokens if t in self.dictionary.token2id]
        if not bow:
            raise UnknownWordsError(
                f"none of the context words {raw} is in the topic model's vocabulary "
                f"({len(self.dictionary)} words); try more common words of the field")
        # A word joined into a known bigram is used even if it alone is unknown.
        reasons = {w: r for w, r in reasons.items() if not any(w in u.split("_") for u in used)}
        return Inference(self.theta_of_bow(bow), used, list(reasons), reasons)

    def infer(self, words: Iterable[str] | str) -> np.ndarray:
        """θ (all num_topics entries, summing to 1) of context words; raises UnknownWordsError when
        no word is known. Use explain() to see which words were not in the vocabulary."""
        return self.explain(words).theta

    # --- labels ---------------------------------------------------------------------------------
    def top_words(self, topic: int, n: int = 10) -> list[str]:
        return [w for w, _ in self.lda.show_topic(topic, topn=n)]

    def distinctive_words(self, topic: int, n: int = 10, weight: float = 0.6) -> list[str]:
        """Words by relevance (Sievert & Shirley 2014): weight·log p(w|k) + (1 - weight)·log(p(w|k) / p(w)),
        p(w) the mean over topics: a topic's own words before the words every topic uses."""
        phi = self.lda.get_topics()
        p = np.log(phi[topic] + 1e-12)
        rel = weight * p + (1 - weight) * (p - np.log(phi.mean(0) + 1e-12))
        return [self.dictionary[int(i)] for i in np.argsort(-rel, kind="stable")[:n]]

    def label(self, topic: int) -> str:
        """The user's name for the topic if given (conf/topics/names/), else its top 3 words."""
        return self.names.get(topic) or " / ".join(self.top_words(topic, 3))

    def labels(self) -> list[str]:
        return [self.label(k) for k in range(self.num_topics)]

    def top_topics(self, theta: np.ndarray, n: int = 3) -> list[tuple[int, str, float]]:
        order = np.argsort(-theta, kind="stable")[:n]
        return [(int(k), self.label(int(k)), float(theta[k])) for k in order]
