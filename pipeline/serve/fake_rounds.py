"""Where the page's "Which is fake?" rounds come from: the judge stage's pairs (judge/pairs.jsonl: a
real test equation and one generated with its paper's θ) when the run has them, else real test
equations (compiling ones, where the validate stage ran) whose generated counterpart the server
writes when the round is asked for. Either way the two share a paper's θ, so they share its topic."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pipeline.dataset.equations import read_equations
from pipeline.model.conditioning import Topics
from pipeline.runfolder import RunFolder


@dataclass(frozen=True)
class Candidate:
    paper: str
    title: str | None
    license: str | None
    topic: str
    real: dict                 # latex, env, env_arg
    generated: dict | None     # None: to be generated with the paper's θ


class FakeRounds:
    def __init__(self, candidates: list[Candidate], source: str) -> None:
        self.candidates, self.source = candidates, source
        self._by_topic: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            self._by_topic.setdefault(c.topic, []).append(i)

    @classmethod
    def of_run(cls, folder: RunFolder, topics: Topics, limit: int = 5000) -> "FakeRounds":
        pairs = folder.path("judge_pairs")
        if pairs.exists() and pairs.stat().st_size:
            rows = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines() if line.strip()]
            return cls([Candidate(p["paper"], p.get("title"), p.get("license"), p.get("topic") or "",
                                  p["real"], p["generated"]) for p in rows], "the judge stage's pairs")
        return cls(_real_only(folder, topics, limit), "real test equations; the generated side written on request")

    def compiling(self, judge) -> "FakeRounds":
        """Only the candidates whose equations both compile (`judge(rows)` sets each row's `compiles`:
        TexJudge.judge): a round then never lacks a typeset side. Candidates whose generated side is
        still to be written keep their chance."""
        rows = [dict(c.real) for c in self.candidates] + [dict(c.generated) for c in self.candidates if c.generated]
        if rows:
            judge(rows)
        made = iter(rows[len(self.candidates):])
        keep = []
        for c, real in zip(self.candidates, rows):
            gen_ok = next(made)["compiles"] if c.generated else True
            if real["compiles"] and gen_ok:
                keep.append(c)
        return FakeRounds(keep, self.source)

    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    def draw(self, topics: list[str] | None, seed: int, k: int = 3) -> list[Candidate]:
        """Up to `k` candidates of those topics (any topic when None), chosen by `seed` (spares for a
        round whose equation TeX cannot typeset)."""
        pool = sorted(i for t in topics for i in self._by_topic.get(t, [])) if topics else list(range(len(self.candidates)))
        if not pool:
            return []
        rng = np.random.default_rng(seed)
        return [self.candidates[pool[i]] for i in rng.permutation(len(pool))[:k]]


def _real_only(folder: RunFolder, topics: Topics, limit: int) -> list[Candidate]:
    validated = folder.path("validated")
    src = validated if validated.exists() else folder.path("equations")
    every = list(read_equations(src, split="test", compiling_only=True))
    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(every), min(limit, len(every)), replace=False).tolist()) if every else []
    meta: dict[str, dict] = {}
    papers = folder.path("papers")
    wanted = {every[i]["paper_id"] for i in pick}
    if papers.exists():
        with open(papers, encoding="utf-8") as fh:
            for line in fh:
                p = json.loads(line)
                if p["id"] in wanted:
                    meta[p["id"]] = p
    index = {pid: i for i, pid in enumerate(topics.ids)}
    out = []
    for i in pick:
        e = every[i]
        if e["paper_id"] not in index:
            continue
        m = meta.get(e["paper_id"], {})
        topic = topics.names[int(np.argmax(topics.theta[index[e["paper_id"]]]))]
        out.append(Candidate(e["paper_id"], m.get("title"), m.get("license"), topic,
                             {"latex": e["latex"], "env": e["env"], "env_arg": e.get("env_arg")}, None))
    return out
