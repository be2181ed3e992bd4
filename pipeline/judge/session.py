"""The judge stage's work without Hydra: draw the real equations, generate each side, run the
two-sample tests and the instrument's checks, write judge/summary.json and judge/pairs.jsonl."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from pipeline.atomic import atomic_open, read_json_or_empty, write_text
from pipeline.dataset.equations import read_equations
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.judge.fake import (
    JudgeSettings,
    Real,
    compare,
    draw_real,
    generate_side,
    normalised,
    real_against_real,
    unigram_side,
)
from pipeline.latex.tokenizer import tokenize
from pipeline.model.conditioning import Topics
from pipeline.model.generation import Generator
from pipeline.runfolder import RunFolder

log = logging.getLogger(__name__)

INPUTS = ("equations", "papers", "theta", "theta_ids", "topic_names", "model", "vocab")


def inputs_key(folder: RunFolder, s: JudgeSettings, device: str = "cpu") -> dict:
    """What the figures depend on: settings, the device (floating point differs between devices),
    code, and the model, topics and equations by content."""
    return {"settings": json.loads(json.dumps(asdict(s), default=str)), "device": device,
            "code": code_fingerprint("judge/*.py", "model/*.py", "latex/tokenizer.py"),
            **{name: file_sha256(folder.path(name))
               for name in ("model", "theta", "equations", "vocab", "papers", "topic_names")}}


def judge_run(folder: RunFolder, s: JudgeSettings, load_generator, reuse: bool = True, device: str = "cpu") -> dict:
    """Which is fake, for every side of `s`, with the checks of the instrument; `load_generator()`
    gives the run's Generator on `device` (only called when something is to be generated)."""
    folder.require(*INPUTS)
    out = folder.output("judge")
    out.mkdir(parents=True, exist_ok=True)
    key = inputs_key(folder, s, device)
    before = read_json_or_empty(folder.output("judge_summary"))
    if reuse and before.get("inputs") == key and folder.output("judge_pairs").exists():
        log.info("judge: reused %s (same model, data and settings; judge.reuse=false judges again)", out)
        return {**before, "reused": True}
    t0 = time.perf_counter()
    topics = Topics.load(folder)
    reals = draw_real(folder.path("equations"), s.n, s.seed)
    if not reals:
        return _empty(folder, key, "no test equations: the judge needs the test split's papers")
    gen: Generator = load_generator()

    def generate(thetas: torch.Tensor, settings) -> list:
        return gen.generate(thetas, settings, s.batch_size)

    def topic_of(paper: str) -> str:
        return topics.names[int(np.argmax(topics.paper_theta(paper)))]

    summary: dict[str, Any] = {"n_real": len(reals), "main": s.main, "eos_bias": s.eos_bias,
                               "classifier": (f"logistic regression on tf-idf of token 1..{s.test.ngram_max}-grams "
                                              f"(min_df {s.test.min_df}), C in {list(s.test.Cs)} chosen by an inner "
                                              f"{s.test.inner_folds}-fold grouped cross-validation, scored by an outer "
                                              f"{s.test.outer_folds}-fold cross-validation grouped by paper"),
                               "interval": "95% BCa bootstrap over papers"}
    log.info("judge: real against real (%d equations split in two within their papers)", s.real_vs_real_n)
    summary["real_vs_real"] = real_against_real(draw_real(folder.path("equations"), s.real_vs_real_n, s.seed + 1), s)
    easy: dict[str, Any] = {}
    for side in s.easy:
        easy[side.name] = compare(reals, generate_side(generate, reals, topics.paper_theta, side, s), s)
        log.info("judge: easy fake %s: caught %s", side.name, _pct(easy[side.name]))
    if s.unigram_fake:
        easy["unigram draws"] = compare(reals, unigram_side(reals, _unigram_counts(folder), s.seed), s)
        log.info("judge: easy fake unigram draws: caught %s", _pct(easy["unigram draws"]))
    summary["easy_fake"] = easy
    sides: dict[str, Any] = {}
    pairs: list[dict] = []
    for side in s.sides:
        fakes = generate_side(generate, reals, topics.paper_theta, side, s)
        sides[side.name] = {**compare(reals, fakes, s, topic_of if side.name == s.main else None),
                            "side": asdict(side)}
        log.info("judge: %s: a classifier tells them apart %s of the time", side.name, _pct(sides[side.name]))
        if side.name == s.main:
            pairs = _pairs(folder, reals, fakes, topic_of)
    summary["settings"] = sides
    summary["which_field"] = _which_field(folder, gen, topics, reals, s)
    summary["symbols"] = _symbols(folder, topics)
    wf = summary["which_field"]
    log.info(  # a figure that could not be made reads n/a with its reason
"judge: which field? the model's top topic is the paper's for %s of %d test equations "
             "(n-gram classifier %s, majority %s)", _pct(wf["model"]), wf["n"], _pct(wf["ngram_classifier"]),
             _pct(wf["majority"]))
    with atomic_open(folder.output("judge_pairs")) as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["inputs"] = key
    write_text(folder.output("judge_summary"), json.dumps(summary, indent=1))
    return summary


def _which_field(folder: RunFolder, gen: Generator, topics: Topics, reals: list[Real], s: JudgeSettings) -> dict:
    from pipeline.judge.which_field import field_accuracy, topic_prior

    label = {pid: int(np.argmax(th)) for pid, th in zip(topics.ids, topics.theta)}
    thetas = np.stack([topics.topic_theta(k) for k in range(topics.num_topics)])
    train = [(normalised(tokenize(e["latex"]), e["env"], e.get("env_arg")), label[e["paper_id"]])
             for e in read_equations(folder.path("equations"), split="train") if e["paper_id"] in label]
    test = [(r.tokens, r.paper, label[r.paper]) for r in reals if r.paper in label]
    return field_accuracy(gen.net, gen.vocab, thetas, topic_prior(topics.theta, topics.splits), test, train,
                          topics.names, s.test.bootstrap, s.seed,
                          autocast_dtype=torch.bfloat16 if s.bf16 else None)


def _symbols(folder: RunFolder, topics: Topics) -> list[list[dict]]:
    from pipeline.judge.symbols import distinguishing_tokens

    theta_of = {p: th for p, th, sp in zip(topics.ids, topics.theta, topics.splits) if sp == "train"}
    eqs = ((e["paper_id"], tokenize(e["latex"])) for e in read_equations(folder.path("equations"), split="train"))
    return distinguishing_tokens(eqs, theta_of)


def _pct(res: dict) -> str:
    if "accuracy" not in res:
        return "n/a (" + str(res.get("error")) + ")"
    lo, hi = res.get("ci95") or (None, None)
    return f"{100 * res['accuracy']:.1f}%" + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else "")


def _unigram_counts(folder: RunFolder) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in read_equations(folder.path("equations"), split="train"):
        for tok in tokenize(e["latex"]):
            counts[tok] = counts.get(tok, 0) + 1
    return counts


def _pairs(folder: RunFolder, reals: list[Real], fakes: list[dict], topic_of) -> list[dict]:
    """Every (real, generated) pair of the main side, with what the quiz shows on a click: the real
    one's paper, title and licence, and the topic both share."""
    meta: dict[str, dict] = {}
    wanted = {r.paper for r in reals}
    with open(folder.path("papers"), encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            if p["id"] in wanted:
                meta[p["id"]] = {"title": p.get("title"), "license": p.get("license")}
    return [{"paper": r.paper, **meta.get(r.paper, {}), "topic": topic_of(r.paper),
             "real": {"latex": r.latex, "env": r.env, "env_arg": r.env_arg},
             "generated": {"latex": f["latex"], "env": f["env"], "env_arg": f["env_arg"]}}
            for r, f in zip(reals, fakes)]


def _empty(folder: RunFolder, key: dict, why: str) -> dict:
    summary = {"error": why, "inputs": key}
    write_text(folder.output("judge_summary"), json.dumps(summary, indent=1))
    write_text(folder.output("judge_pairs"), "")
    log.warning("judge: %s", why)
    return summary
