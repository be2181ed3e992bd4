"""The server's model work: one model, topic model and TeX set-up in memory, and `process(jobs)`,
which does the work of many requests together — topics from words, one decoding batch per setting
(temperature × syntax) with each request on its own random streams (so a request gets the same
equations whether it is decoded alone or beside others), one compile check of every equation and
one typesetting run (the report's DVI → SVG renderer) for all of them.

Only the batcher's thread calls `process`; the answers of "Which is fake?" rounds are the one thing
handlers read at the same time, behind a lock.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from pipeline.model.conditioning import ConditioningError, Topics
from pipeline.model.novelty import TrainingSet
from pipeline.report.document import scope_svg_ids
from pipeline.report.render import render_svgs
from pipeline.runfolder import RunFolder
from pipeline.sampling.eos import eos_bias
from pipeline.sampling.options import SampleOptions, TexJudge
from pipeline.sampling.session import INPUTS, load_generator, weights_file
from pipeline.serve.fake_rounds import Candidate, FakeRounds
from pipeline.serve.params import BadRequest, Generate
from pipeline.topics.model import TopicModel, UnknownWordsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fake:
    topic: str | None
    seed: int


@dataclass
class Job:
    """One request's work and where its answer goes."""
    ask: Generate | Fake
    future: Future = field(default_factory=Future)
    rows: int = 0                                  # sequences it adds to a decoding batch
    theta: np.ndarray | None = None
    conditioning: dict | None = None
    candidates: list[Candidate] = field(default_factory=list)
    records: list = field(default_factory=list)    # decoded equations, in request order
    timing: dict = field(default_factory=dict)     # its batch's: requests, seconds decoding and in TeX


class Engine:
    def __init__(self, folder: RunFolder, opts: SampleOptions, tex: TexJudge, keep_rounds: int = 2000) -> None:
        folder.require(*INPUTS)
        self.opts, self.tex = opts, tex
        self.topics = Topics.load(folder)
        self.topic_model = TopicModel.load(self.topics.model_dir, dict(enumerate(self.topics.names)))
        self.gen = load_generator(folder, opts.checkpoint, tex, int(opts.grammar_depth), opts.resolved_device(),
                                  int(opts.device_check_every))
        # read from the store the main job filled (calibrated once here when it has not run)
        self.eos = eos_bias(folder, opts, self.gen, self.topics, weights_file(folder, str(opts.checkpoint)))["bias"]
        self.training = TrainingSet(folder.path("equations"))
        self.fakes = FakeRounds.of_run(folder, self.topics)
        # rounds are drawn from the pairs whose two equations compile once TeX has said which (cached
        # after a first start, but a time-out is not cached); until then from all, with spares
        self.fakes_ready = threading.Event()
        threading.Thread(target=self._check_fakes, name="serve-fake-rounds", daemon=True).start()
        self.keep_rounds = keep_rounds
        self._rounds: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._svg_serial = 0

    def _check_fakes(self) -> None:
        try:
            self.fakes = self.fakes.compiling(self.tex.judge)
        except Exception:  # noqa: BLE001 - the unchecked pool still serves, with spares
            log.exception("serve: checking the \"Which is fake?\" pairs failed; rounds use them unchecked")
        self.fakes_ready.set()

    # --- what the page lists -------------------------------------------------------------------
    def topic_list(self) -> list[dict]:
        on_top = np.bincount(self.topics.theta.argmax(1), minlength=self.topics.num_topics)
        return [{"id": k, "name": name, "papers": int(on_top[k])} for k, name in enumerate(self.topics.names)]

    def job(self, ask: Generate | Fake) -> Job:
        """A job for the batcher; conditioning is checked here, in the caller's thread, so that a bad
        request is refused before it waits for a batch."""
        j = Job(ask)
        if isinstance(ask, Generate):
            j.theta, j.conditioning = self._condition(ask)
            j.rows = ask.n
        else:
            names = [self.topics.names[k] for k in self._topic_ids(ask.topic)] if ask.topic else None
            j.candidates = self.fakes.draw(names, ask.seed, k=8)
            if not j.candidates:
                raise BadRequest(f"no real test equations of {ask.topic!r} for a round; try another topic",
                                 status=404, topics=self.fakes.topics())
            j.rows = sum(c.generated is None for c in j.candidates)
        return j

    def _topic_ids(self, name: str) -> list[int]:
        """A topic's id for its name (any case and separators) or number, or an archive's topics."""
        try:
            return self.topics.topic_ids(name)
        except ConditioningError:
            raise BadRequest(f"no topic named {name!r}; the topics are: " + "; ".join(self.topics.names),
                             status=404, topics=self.topics.names) from None

    def _condition(self, ask: Generate) -> tuple[np.ndarray, dict]:
        if ask.topic is not None:
            ks = self._topic_ids(ask.topic)
            theta = self.topics.topic_theta(ks)
            return theta, {"topic": {"ids": ks, "name": self.topics.label(ks, ask.topic)}, "mixture": self._top(theta)}
        try:
            inf = self.topic_model.explain(ask.words)
        except UnknownWordsError:
            words = ask.words.split()
            shown = ", ".join(words[:20]) + (f" and {len(words) - 20:,} more" if len(words) > 20 else "")
            raise BadRequest(f"none of the words is in the topic model's vocabulary ({shown}); try common words "
                             "of a field, such as: star gravity galaxies, or prime numbers modular forms",
                             unknown=words[:200]) from None
        return inf.theta, {"words": ask.words, "mixture": self._top(inf.theta),
                           "not_used": [f"{w} ({inf.reasons[w]})" for w in inf.unknown][:200]}

    def _top(self, theta: np.ndarray, n: int = 3) -> list[dict]:
        return [{"id": k, "name": name, "percent": round(100 * p, 1)}
                for k, name, p in self.topic_model.top_topics(theta, n)]

    # --- the batched work ----------------------------------------------------------------------
    def process(self, jobs: Sequence[Job]) -> None:
        """Decode, judge and typeset every job's equations together; answer each job's future."""
        t0 = time.perf_counter()
        self._decode(jobs)
        t1 = time.perf_counter()
        shown: list[tuple[Job, str, int, dict]] = []   # (job, role, position, equation)
        for j in jobs:
            if isinstance(j.ask, Generate):
                shown += [(j, "eq", i, self._row(r)) for i, r in enumerate(j.records)]
            else:
                made = iter(j.records)
                for i, c in enumerate(j.candidates):
                    gen = c.generated if c.generated is not None else self._row(next(made))
                    shown += [(j, "real", i, dict(c.real)), (j, "fake", i, dict(gen))]
        rows = [e for _, _, _, e in shown]
        eqs = [k for k, (_, role, _, _) in enumerate(shown) if role == "eq"]
        # the generated equations are typeset while TeX checks them (both are TeX processes: the
        # second core works), and the few that broke their document are typeset again once the
        # verdicts say which compile
        with ThreadPoolExecutor(max_workers=1) as pool:
            early = pool.submit(self._typeset, [rows[k] for k in eqs], False)
            self.tex.judge(rows)
            for k, svg in zip(eqs, early.result()):
                rows[k]["svg"] = svg if rows[k]["compiles"] else None
        # a round shows its first candidate pair whose two equations both compile
        chosen: dict[int, int] = {}
        for j, role, i, e in shown:
            if role == "fake" and id(j) not in chosen and e["compiles"] and \
                    next(r for jj, ro, ii, r in shown if jj is j and ro == "real" and ii == i)["compiles"]:
                chosen[id(j)] = i
        # TeX typesets only what compiles (one failure would make the renderer retry its chunk one by one)
        todo = [k for k, (j, role, i, e) in enumerate(shown) if e["compiles"] and not e.get("svg")
                and (role == "eq" or chosen.get(id(j)) == i)]
        for k, svg in zip(todo, self._typeset([rows[k] for k in todo], True)):
            rows[k]["svg"] = svg
        t2 = time.perf_counter()
        timing = {"batch_requests": len(jobs), "decode_s": round(t1 - t0, 3), "tex_s": round(t2 - t1, 3)}
        for j in jobs:
            j.timing = timing
            mine = [(role, i, e) for jj, role, i, e in shown if jj is j]
            try:
                j.future.set_result(self._generated(j, mine) if isinstance(j.ask, Generate) else self._round(j, mine))
            except Exception as exc:  # one job's answer failing never takes the others down
                j.future.set_exception(exc)

    def _decode(self, jobs: Sequence[Job]) -> None:
        groups: dict[tuple[float, bool], list[Job]] = {}
        for j in jobs:
            if j.rows:
                t, syn = (j.ask.temperature, j.ask.syntax) if isinstance(j.ask, Generate) else \
                    (1.0, bool(self.opts.syntax))
                groups.setdefault((float(t), bool(syn)), []).append(j)
        for (t, syn), members in groups.items():
            thetas, seeds, index = [], [], []
            for j in members:
                if isinstance(j.ask, Generate):
                    thetas += [j.theta] * j.rows
                else:
                    thetas += [self.topics.paper_theta(c.paper) for c in j.candidates if c.generated is None]
                seeds += [j.ask.seed] * j.rows
                index += list(range(j.rows))
            settings = replace(self.opts.decode(t, syn, self.eos), seed=0)  # each row's stream is its own
            th = torch.from_numpy(np.stack(thetas).astype(np.float32))
            recs = self.gen.generate(th, settings, max(1, len(thetas)), streams=(seeds, index))
            start = 0
            for j in members:
                j.records = recs[start : start + j.rows]
                start += j.rows

    def _row(self, rec) -> dict:
        copy = self.training.contains(rec.latex)
        near = copy or self.training.nearest(rec.tokens, float(self.opts.near_copy_ratio)) is not None
        return {"latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg, "tokens": len(rec.tokens),
                "logprob": round(rec.logprob, 3), "length_limited": rec.length_limited,
                "in_training_set": copy, "near_copy": near}

    def _typeset(self, rows: list[dict], alone_on_failure: bool) -> list[str | None]:
        """SVGs of the rows' equations, each with ids of its own (many share one page)."""
        if not rows:
            return []
        svgs = render_svgs([(r["latex"], r["env"], r.get("env_arg")) for r in rows], self.tex.preamble,
                           alone_on_failure=alone_on_failure)
        out = []
        for svg in svgs:
            self._svg_serial += 1
            out.append(None if svg is None else scope_svg_ids(svg, f"e{self._svg_serial}-"))
        return out

    def _generated(self, j: Job, mine: list) -> dict[str, Any]:
        a = j.ask
        eqs = []
        for _, _, e in mine:
            e.setdefault("svg", None)
            eqs.append(e)
        return {"conditioning": j.conditioning, "equations": eqs,
                "settings": {"n": a.n, "temperature": a.temperature, "syntax": a.syntax, "seed": a.seed,
                             "eos_bias": self.eos},
                "compiled": sum(e["compiles"] for e in eqs), "timing": j.timing}

    def _round(self, j: Job, mine: list) -> dict[str, Any]:
        by: dict[int, dict] = {}
        for role, i, e in mine:
            by.setdefault(i, {})[role] = e
        for i, c in enumerate(j.candidates):
            real, fake = by[i]["real"], by[i]["fake"]
            if real.get("svg") and fake.get("svg"):
                break
        else:
            raise BadRequest("TeX could not typeset a round of this topic; ask for another round", status=503)
        fake_first = secrets.randbelow(2) == 0
        shown = [fake, real] if fake_first else [real, fake]
        token = secrets.token_urlsafe(12)
        answer = {"fake": 0 if fake_first else 1, "paper": c.paper, "title": c.title, "license": c.license,
                  "topic": c.topic, "latex": [s["latex"] for s in shown]}
        with self._lock:
            self._rounds[token] = answer
            while len(self._rounds) > self.keep_rounds:
                self._rounds.popitem(last=False)
        return {"round": token, "topic": c.topic, "choices": [{"svg": s["svg"]} for s in shown],
                "source": self.fakes.source}

    def answer(self, token: str, pick: int) -> dict[str, Any]:
        """Which of a round's two equations was generated, where the real one comes from, and whether
        `pick` (the one the player took for generated) was right. A round is answered once."""
        with self._lock:
            a = self._rounds.pop(token, None)
        if a is None:
            raise BadRequest("no such round, or it was answered already: ask for a new round", status=404)
        return {"correct": pick == a["fake"], **a}
