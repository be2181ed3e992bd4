"""Which is fake? Real held-out equations against generated ones, as a classifier two-sample test.

The real side: `n` equations drawn (seeded) from the test papers. Each generated side: one equation
for each real one, conditioned on the θ of the real one's paper, so both sides share topics. Both
are normalised the same way, tokenize → detokenize → tokenize, with the display environment's token
first; nothing else (no length matching). Checks of the instrument itself: real against real (each
test paper's equations split in two halves: must come out near 50%) and easy fakes (plain
sampling at a high temperature; tokens drawn from the training unigram frequencies, each sequence
as long as a real one: must be caught).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipeline.dataset.equations import read_equations
from pipeline.judge.two_sample import ClassifierSettings, Item, breakdown, classifier_accuracy
from pipeline.latex.tokenizer import detokenize, env_token, tokenize
from pipeline.model.decoder import DecodeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Side:
    """One generated side: a name and its decoding settings' differences from the base."""
    name: str
    temperature: float
    syntax: bool
    top_p: float = 1.0
    eos_bias: float | None = None   # None: the run's calibrated bias (JudgeSettings.eos_bias)


@dataclass(frozen=True)
class JudgeSettings:
    n: int                           # real test equations drawn; one generated counterpart each
    real_vs_real_n: int              # real test equations split within their papers for the null check
    unigram_fake: bool               # also the unigram-draws easy fake
    sides: tuple[Side, ...]           # the generated sides measured
    easy: tuple[Side, ...]            # easy fakes the instrument must catch (besides unigram draws)
    main: str                         # the side broken down by topic
    test: ClassifierSettings
    seed: int
    max_len: int
    end_wish_logprob: float
    eos_bias: float
    batch_size: int
    min_topic_items: int = 40         # a topic's row in the breakdown needs this many equations
    bf16: bool = False                # score likelihoods under bf16 autocast (the model trained in it)


@dataclass
class Real:
    paper: str
    latex: str
    env: str
    env_arg: str | None
    tokens: list[str]   # normalised, environment token first


def normalised(body_tokens: Sequence[str], env: str, env_arg: str | None) -> list[str]:
    """The same normal form for both sides: tokenize(detokenize(tokens)), the environment's token first."""
    return [env_token(env, env_arg)] + tokenize(detokenize(body_tokens))


def draw_real(equations_file, n: int, seed: int) -> list[Real]:
    """`n` test equations, drawn uniformly (seeded) from every test equation."""
    every = list(read_equations(equations_file, split="test"))
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(every), min(n, len(every)), replace=False).tolist())
    out = []
    for i in pick:
        e = every[i]
        out.append(Real(e["paper_id"], e["latex"], e["env"], e.get("env_arg"),
                        normalised(tokenize(e["latex"]), e["env"], e.get("env_arg"))))
    return out


def generate_side(generate: Callable[[torch.Tensor, DecodeSettings], list], reals: Sequence[Real],
                  theta_of: Callable[[str], np.ndarray], side: Side, s: JudgeSettings) -> list[dict]:
    """One generated equation for each real one, conditioned on its paper's θ."""
    thetas = torch.from_numpy(np.stack([theta_of(r.paper) for r in reals]).astype(np.float32))
    settings = DecodeSettings(temperature=side.temperature, top_k=0, top_p=side.top_p, max_len=s.max_len,
                              syntax=side.syntax, seed=s.seed, end_wish_logprob=s.end_wish_logprob,
                              eos_bias=s.eos_bias if side.eos_bias is None else float(side.eos_bias))
    recs = generate(thetas, settings)
    return [{"paper": r.paper, "latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg,
             "tokens": normalised(rec.tokens, rec.env, rec.env_arg)} for r, rec in zip(reals, recs)]


def unigram_side(reals: Sequence[Real], counts: dict[str, int], seed: int) -> list[dict]:
    """Tokens drawn from the training unigram frequencies, each sequence as long as its real counterpart."""
    toks = sorted(counts)
    p = np.array([counts[t] for t in toks], float)
    p /= p.sum()
    rng = np.random.default_rng(seed)
    out = []
    for r in reals:
        body = [toks[i] for i in rng.choice(len(toks), max(1, len(r.tokens) - 1), p=p)]
        out.append({"paper": r.paper, "latex": detokenize(body), "env": r.env, "env_arg": r.env_arg,
                    "tokens": normalised(body, r.env, r.env_arg)})
    return out


def compare(reals: Sequence[Real], fakes: Sequence[dict], s: JudgeSettings,
            topic_of: Callable[[str], str] | None = None) -> dict[str, Any]:
    items = [Item(r.tokens, r.paper, False) for r in reals] + [Item(f["tokens"], f["paper"], True) for f in fakes]
    res = classifier_accuracy(items, s.test)
    if "error" in res:
        return res
    right = res.pop("right")
    if topic_of is not None:
        keys = [topic_of(i.paper) for i in items]
        res["by_topic"] = breakdown(right, items, keys, s.test, s.min_topic_items)
    return res


def real_against_real(reals: Sequence[Real], s: JudgeSettings) -> dict[str, Any]:
    """Real against real, built like the real-against-generated tests: each paper's equations are
    split at random into two halves, one labelled "generated". Both sides share papers, as a real
    equation and its generated counterpart do, so there is nothing to find: a sound instrument
    comes out near 50%."""
    by: dict[str, list[Real]] = {}
    for r in reals:
        by.setdefault(r.paper, []).append(r)
    rng = np.random.default_rng(s.seed)
    items = []
    for paper, rs in sorted(by.items()):
        order = rng.permutation(len(rs))[: len(rs) // 2 * 2]  # an even number: equal halves
        items += [Item(rs[i].tokens, paper, bool(j % 2)) for j, i in enumerate(order)]
    res = classifier_accuracy(items, s.test)
    res.pop("right", None)
    return res
