"""classify: which topic is an equation from? p(k | equation) ∝ p(equation | θ_k) · p(k), by the run's model.

    python -m pipeline stage=classify 'classify.latex="R_{\\mu\\nu} - \\frac{1}{2} g_{\\mu\\nu} R = 8\\pi G T_{\\mu\\nu}"'
    python -m pipeline stage=classify classify.input=equations.jsonl

Prints the top topics with their names and percentages (a file: one JSON line per equation in
`classify.output`). An equation that cannot be judged (empty, breaking the syntax rules, mostly
unknown tokens) gets a message saying what is wrong. Definitions: docs/judge.md.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import DictConfig

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder

INPUTS = ("model", "vocab", "theta", "theta_ids", "topic_names")


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import numpy as np
    import torch

    from pipeline.devices import resolve_device
    from pipeline.judge.which_field import EquationError, classify, encode, topic_prior
    from pipeline.model.conditioning import Topics
    from pipeline.sampling.session import load_generator
    from pipeline.stages.sample import tex_judge

    c = cfg.classify
    if not c.latex and not c.input:
        raise StageError("give an equation, classify.latex=\"...\", or a file of them, classify.input=FILE "
                         "(JSON lines with `latex`, or one equation a line)")
    torch.set_num_threads(int(cfg.sample.threads or os.cpu_count() or 1))
    folder.require(*INPUTS)
    gen = load_generator(folder, "best", tex_judge(cfg), int(cfg.sample.grammar_depth),
                         resolve_device(str(cfg.sample.device), "sample.device"), int(cfg.sample.device_check_every))
    topics = Topics.load(folder)
    thetas = np.stack([topics.topic_theta(k) for k in range(topics.num_topics)])
    prior = topic_prior(topics.theta, topics.splits)
    grammar = gen.grammar if c.syntax_check else None

    def judge_one(latex: str, env: str) -> dict:
        ids, unknown = encode(latex, env, gen.vocab, grammar, float(c.max_unknown))
        p = classify(gen.net, gen.vocab, thetas, prior, [ids], rows_per_batch=int(c.batch_rows),
                     autocast_dtype=torch.bfloat16 if str(cfg.trainer.precision).startswith("bf16") else None)[0]
        order = np.argsort(-p, kind="stable")[: int(c.top)]
        return {"top": [[int(k), topics.names[k], round(float(p[k]), 4)] for k in order], "unknown_tokens": unknown}

    if c.latex:
        try:
            res = judge_one(str(c.latex), str(c.env))
        except EquationError as exc:
            raise StageError(f"classify.latex: {exc}") from exc
        print(f"equation: {c.latex}")
        for k, name, p in res["top"]:
            print(f"  {100 * p:5.1f}%  topic {k}: {name}")
        if res["unknown_tokens"]:
            print("  not in the model's vocabulary (read as <unk>): " + ", ".join(res["unknown_tokens"]))
        return res
    return _file(Path(c.input), Path(c.output) if c.output else None, str(c.env), judge_one, EquationError)


def _file(src: Path, dst: Path | None, env: str, judge_one, error_type) -> dict:
    from pipeline.atomic import atomic_open

    if not src.exists():
        raise StageError(f"classify.input {src} does not exist; give a file of equations (JSON lines with `latex`, "
                         "or one equation a line)")
    dst = dst or src.with_name(src.name + ".topics.jsonl")
    done = errors = 0
    with open(src, encoding="utf-8", errors="replace") as fin, atomic_open(dst) as fout:
        for n, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line) if line.lstrip().startswith("{") else {"latex": line.rstrip("\n")}
            except ValueError:
                rec = {"latex": line.rstrip("\n")}
            rid = rec.get("id", n)
            try:
                out = {"id": rid, **judge_one(str(rec.get("latex") or ""), str(rec.get("env") or env))}
                done += 1
            except error_type as exc:
                out = {"id": rid, "error": str(exc)}
                errors += 1
            fout.write(json.dumps(out, ensure_ascii=False) + "\n")
    summary = {"equations": done, "errors": errors, "output": str(dst)}
    print(json.dumps(summary))
    return summary
