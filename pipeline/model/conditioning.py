"""What a sample is conditioned on, as θ: a topic, a mixture of topics, context words, a paper.

- topic K (an id or the name the topics stage gave it), or an archive or archive group standing for
  one or more topics (`astro-ph`, `astrophysics`, `high-energy physics`): the mean θ of the training
  papers whose top topic is K (one of those topics). A one-hot θ is unlike anything the model saw
  (real papers mix topics: their largest share is rarely above 0.8), so the model is asked for what a
  typical paper of that topic looks like. A topic no training paper has on top falls back to the training papers' mean weighted by
  their share of K (of those topics).
- mixture {K: w, ...}: the weighted mean of those topics' θ (weights normalised to sum to 1).
- context words: θ inferred by the topic model from the words (as for any unseen text).
- paper ID: that paper's θ (topics/theta.npy).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder, as_folder
from pipeline.topics.names import topics_for


class ConditioningError(StageError, ValueError):
    """The conditioning asked for cannot be met; the message says why and what is available."""


@dataclass
class Topics:
    """The topics stage's outputs a sampler needs (topics/theta.npy, theta_ids.json, names.json)."""

    theta: np.ndarray          # [papers, K]
    ids: list[str]
    splits: list[str]
    names: list[str]
    directory: Path = field(default=Path("."))      # the run's topics/
    model_dir: Path = field(default=Path("model"))  # the run's topic model
    infos: list[dict] = field(default_factory=list)   # names.json's per-topic entries (archive, group...)

    @classmethod
    def load(cls, run: RunFolder | str | Path) -> "Topics":
        """The topics of a run folder."""
        run = as_folder(run)
        d = run.path("topics")
        if not run.path("theta").exists():
            raise ConditioningError(f"{run.path('theta')}: no topics; run `python -m pipeline stage=topics` first")
        meta = json.loads(run.path("theta_ids").read_text())
        theta = np.load(run.path("theta")).astype(np.float64)
        names_file = run.path("topic_names")
        named = json.loads(names_file.read_text()) if names_file.exists() else {}
        names = named.get("names") or [f"topic-{k}" for k in range(theta.shape[1])]
        return cls(theta, meta["ids"], meta["splits"], names, d, run.path("topic_model"), named.get("topics") or [])

    @property
    def num_topics(self) -> int:
        return int(self.theta.shape[1])

    def topic_ids(self, name: str | int) -> list[int]:
        """The topics a name means: one topic (id or name), or every topic of an archive or group."""
        try:
            return topics_for(name, self.names, self.infos)
        except KeyError as exc:
            raise ConditioningError(str(exc.args[0])) from exc

    def topic_id(self, name: str | int) -> int:
        ks = self.topic_ids(name)
        if len(ks) != 1:
            raise ConditioningError(f"{name!r} stands for {len(ks)} topics ({', '.join(self.names[k] for k in ks)}); "
                                    "name one of them")
        return ks[0]

    def label(self, ks: list[int], name: str | int) -> str:
        """How a request for `name` reads in tables: the topic's name, or the archive's for several topics."""
        return self.names[ks[0]] if len(ks) == 1 else str(name)

    def topic_theta(self, k: int | list[int]) -> np.ndarray:
        ks = [k] if isinstance(k, (int, np.integer)) else list(k)
        train = np.array([s == "train" for s in self.splits])
        th = self.theta[train]
        on = np.isin(th.argmax(1), ks)
        if on.any():
            out = th[on].mean(0)
        else:
            w = th[:, ks].sum(1)
            out = (th * w[:, None]).sum(0) / max(w.sum(), 1e-12)
        return out / out.sum()

    def mixture_theta(self, weights: Mapping[str | int, float]) -> tuple[np.ndarray, dict[int, float]]:
        if not weights:
            raise ConditioningError("sample.mixture is empty: give {topic: weight, ...}")
        ws = {self.topic_id(k): float(v) for k, v in weights.items()}
        if any(v < 0 for v in ws.values()) or sum(ws.values()) <= 0:
            raise ConditioningError(f"sample.mixture weights must be >= 0 and not all 0, got {dict(weights)}")
        total = sum(ws.values())
        ws = {k: v / total for k, v in ws.items()}
        out = sum(w * self.topic_theta(k) for k, w in ws.items())
        return out / out.sum(), ws

    def paper_theta(self, paper_id: str) -> np.ndarray:
        try:
            return self.theta[self.ids.index(paper_id)]
        except ValueError as exc:
            raise ConditioningError(f"paper {paper_id!r} has no θ in {self.directory}/theta_ids.json "
                                    f"(e.g. {', '.join(self.ids[:3])})") from exc

    def words_theta(self, words: str) -> tuple[np.ndarray, list[tuple[int, str, float]], list[str]]:
        """θ of context words by the topic model, its top topics, and the words it could not use."""
        from pipeline.topics.model import TopicModel, UnknownWordsError

        model = TopicModel.load(self.model_dir, dict(enumerate(self.names)))
        try:
            inf = model.explain(words)
        except UnknownWordsError as exc:
            raise ConditioningError(f"sample.words={words!r}: {exc}") from exc
        top = model.top_topics(inf.theta, n=3)
        return inf.theta, top, [f"{w} ({inf.reasons[w]})" for w in inf.unknown]


def describe(theta: Sequence[float], names: Sequence[str], n: int = 3) -> str:
    order = np.argsort(-np.asarray(theta), kind="stable")[:n]
    return ", ".join(f"{100 * theta[k]:.0f}% {names[k]}" for k in order)
