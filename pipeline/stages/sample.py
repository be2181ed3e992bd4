"""sample: equations from the trained model, by topic, mixture, context words or paper.

`python -m pipeline stage=sample` writes outputs/<run>/samples/: `samples.jsonl` (the requested
samples, compile-checked), `grid.jsonl` (a grid of temperatures × syntax-aware/plain, for the
report), `summary.json` (compile rates, novelty, lengths, distinct n-grams). Definitions and every
field: docs/sample.md. Examples:

    python -m pipeline stage=sample sample.topic=astrophysics sample.n=10
    python -m pipeline stage=sample 'sample.words="star gravity einstein mass galaxies"'
    python -m pipeline stage=sample 'sample.mixture={3: 0.6, 5: 0.4}' sample.temperature=0.7
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.atomic import read_json_or_empty
from pipeline.runfolder import RunFolder

log = logging.getLogger(__name__)


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    import torch

    from pipeline.model.conditioning import ConditioningError
    from pipeline.model.decode import PrefixError
    from pipeline.model.generation import ModelMismatchError

    torch.set_num_threads(int(cfg.sample.threads or os.cpu_count() or 1))
    try:
        return _run(cfg, folder)
    except (ConditioningError, PrefixError, ModelMismatchError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _decode_settings(s: DictConfig, temperature: float | None = None, syntax: bool | None = None,
                     eos_bias: float = 0.0):
    from pipeline.model.decode import DecodeSettings

    return DecodeSettings(temperature=float(s.temperature if temperature is None else temperature),
                          top_k=int(s.top_k or 0), top_p=float(s.top_p if s.top_p is not None else 1.0),
                          max_len=int(s.max_len), syntax=bool(s.syntax if syntax is None else syntax), seed=int(s.seed),
                          eos_bias=float(eos_bias))


def _eos_bias(cfg: DictConfig, gen, topics, root: Path) -> dict:
    """sample.eos_bias: a number as given, or `auto`: calibrated so samples conditioned on training
    papers' θ are as long, on average, as the training equations (pipeline/model/length.py)."""
    import numpy as np
    import torch

    from pipeline.model.conditioning import ConditioningError
    from pipeline.model.length import calibrate_eos_bias, training_lengths

    s = cfg.sample
    if str(s.eos_bias).strip().lower() != "auto":
        try:
            return {"setting": "fixed", "bias": float(s.eos_bias)}
        except (TypeError, ValueError):
            raise ConditioningError(f"sample.eos_bias={s.eos_bias!r}: give a number (0 = the raw model's lengths) "
                                    "or auto") from None
    papers, lengths = training_lengths(root)
    if not len(lengths):
        return {"setting": "auto", "bias": 0.0, "note": "no training equations to calibrate on"}
    rng = np.random.default_rng(int(s.seed))
    pick = rng.choice(len(papers), min(int(s.calibration_n), len(papers)), replace=False)
    theta = np.stack([topics.paper_theta(papers[i]) for i in pick]).astype(np.float32)
    info = calibrate_eos_bias(lambda th, st: gen.generate(th, st, int(s.batch_size)), torch.from_numpy(theta),
                              float(lengths.mean()), _decode_settings(s))
    log.info("sample: <eos> bias %+.3f: mean length %.1f tokens against the training equations' %.1f (bias 0: %.1f)",
             info["bias"], info["mean_tokens"], info["target_mean_tokens"], info["rounds"][0][1])
    return {"setting": "auto", **info}


def _generator(cfg: DictConfig, root: Path):
    from pipeline.model.generation import Generator
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    tex = cfg.tex
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    cache = Path(tex.cache_dir) if tex.cache_dir else None
    known = known_commands(preamble, cache)
    ck = str(cfg.sample.checkpoint)
    model_file = root / "train" / "model.pt"
    gen = Generator.from_run(root, model_file, known, preamble=preamble, cache_dir=cache)
    if ck == "last" or ck.endswith(".ckpt"):
        # Lightning's checkpoint of this run (made by this project's train stage): its weights only
        ckpt = root / "train" / "checkpoints" / "last.ckpt" if ck == "last" else Path(ck)
        if not ckpt.exists():
            raise FileNotFoundError(f"{ckpt}: no such checkpoint; train first or use sample.checkpoint=best")
        state = torch_load(ckpt)["state_dict"]
        gen.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
    elif ck not in ("best", str(model_file)):
        gen = Generator.from_run(root, Path(ck), known, preamble=preamble, cache_dir=cache)
    return gen


def torch_load(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def requests(cfg: DictConfig, topics) -> list[dict[str, Any]]:
    """What to sample: [{"conditioning": {...}, "theta": [...], "n": N}, ...] from sample.*."""
    s = cfg.sample
    n = int(s.n)
    if s.topic is not None:
        ks = topics.topic_ids(s.topic)
        cond = {"topic": ks[0]} if len(ks) == 1 else {"topics": ks}
        return [{"conditioning": {**cond, "name": topics.label(ks, s.topic)}, "theta": topics.topic_theta(ks), "n": n}]
    if s.mixture:
        theta, weights = topics.mixture_theta(OmegaConf.to_container(s.mixture))
        return [{"conditioning": {"mixture": {topics.names[k]: round(w, 4) for k, w in weights.items()}},
                 "theta": theta, "n": n}]
    if s.words:
        theta, top, unknown = topics.words_theta(str(s.words))
        print(f"Context words: {s.words}")
        print("Inferred topics: " + ", ".join(f"{100 * p:.0f}% {name}" for _k, name, p in top))
        if unknown:
            print("Not used: " + ", ".join(unknown))
        return [{"conditioning": {"words": str(s.words), "inferred": [[k, name, round(p, 4)] for k, name, p in top]},
                 "theta": theta, "n": n}]
    if s.paper is not None:
        return [{"conditioning": {"paper": str(s.paper)}, "theta": topics.paper_theta(str(s.paper)), "n": n}]
    return [{"conditioning": {"topic": k, "name": topics.names[k]}, "theta": topics.topic_theta(k), "n": n}
            for k in range(topics.num_topics)]


def _run(cfg: DictConfig, folder: RunFolder) -> dict:
    import numpy as np
    import torch

    from pipeline.atomic import atomic_open, write_text
    from pipeline.model.conditioning import Topics
    from pipeline.model.novelty import TrainingSet

    s = cfg.sample
    root = folder.root
    out = folder.for_output().root / "samples"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = _inputs_key(cfg, root)
    before = read_json_or_empty(out / "summary.json")
    if s.reuse and before.get("inputs") == inputs and all((out / f).exists() for f in before.get("files", [])):
        log.info("sample: reused %s (same model, topics and settings; sample.reuse=false samples again)", out)
        return {**before, "reused": True}
    topics = Topics.load(root / "topics")
    reqs = requests(cfg, topics)
    gen = _generator(cfg, root)
    prefix = gen.prefix_ids(s.env, s.prefix)
    eos = _eos_bias(cfg, gen, topics, root)
    settings = _decode_settings(s, eos_bias=eos["bias"])
    training = TrainingSet(root)
    rows: list[dict] = []
    partial = out / "samples.jsonl.partial"
    start = 0
    with open(partial, "w", encoding="utf-8") as fh:
        for req in reqs:
            thetas = torch.from_numpy(np.tile(np.asarray(req["theta"], dtype=np.float32), (req["n"], 1)))

            def emit(rec, req=req) -> None:  # written as produced (without verdicts yet)
                row = _row(rec, req, settings, training)
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()

            gen.generate(thetas, settings, int(s.batch_size), prefix, on_done=emit, start_index=start)
            start += req["n"]
    rows.sort(key=lambda r: r["index"])
    _validate(rows, cfg)
    kept = [r for r in rows if r["compiles"]] if s.only_compiling else rows
    with atomic_open(out / "samples.jsonl") as fh:
        for r in kept:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    partial.unlink(missing_ok=True)
    _print_table(rows, s.only_compiling)
    summary: dict[str, Any] = {"samples": _figures(rows, training, root, int(s.novelty_check)), "eos_bias": eos}
    if s.grid.enabled:
        summary["grid"] = _grid(cfg, gen, topics, training, out, eos["bias"])
    files = ["samples.jsonl"] + (["grid.jsonl"] if s.grid.enabled else [])
    if s.context_examples:
        summary["context_examples"] = _context_examples(cfg, gen, topics, training, out, eos["bias"])
        files.append("context.jsonl")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["settings"] = OmegaConf.to_container(s, resolve=True)
    summary["inputs"], summary["files"] = inputs, files
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    log.info("sample: %d samples (compile rate %.3f) -> %s", len(rows), summary["samples"]["compile_rate"] or 0,
             out / "samples.jsonl")
    return summary


def _row(rec, req: dict, settings, training) -> dict:
    from dataclasses import asdict

    return {"index": rec.index, "latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg, "tokens": rec.tokens,
            "conditioning": req["conditioning"], "theta": [round(float(x), 6) for x in req["theta"]],
            "settings": asdict(settings), "seed": settings.seed, "logprob": round(rec.logprob, 4),
            "length_limited": rec.length_limited, "in_training_set": training.contains(rec.latex)}


def _validate(rows: list[dict], cfg: DictConfig) -> None:
    """compiles/error for every row, each judged in its own environment (texcheck library)."""
    from pipeline.texcheck import Equation, Preamble, check

    tex = cfg.tex
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    verdicts = check([Equation(r["latex"], r["env"], r["env_arg"]) for r in rows], preamble,
                     cache_dir=Path(tex.cache_dir) if tex.cache_dir else None, timeout_s=float(cfg.validate.timeout_s))
    for r, v in zip(rows, verdicts):
        r["compiles"], r["error"] = v.compiles, v.error


def _figures(rows: list[dict], training, root: Path, novelty_check: int) -> dict:
    """Compile rate (overall, per topic), length limits, lengths, novelty, near copies, distinct-n."""
    import numpy as np

    from pipeline.model.novelty import distinct_n

    n = len(rows)
    if not n:
        return {"n": 0, "compile_rate": None}
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(_label(r), []).append(r)
    real = _real_test(root, n)
    near = [training.nearest(r["tokens"]) for r in rows[:novelty_check]]
    return {
        "n": n,
        "compile_rate": sum(r["compiles"] for r in rows) / n,
        "per_conditioning": {k: {"n": len(v), "compile_rate": sum(r["compiles"] for r in v) / len(v)} for k, v in by.items()},
        "length_limited": sum(r["length_limited"] for r in rows) / n,
        "mean_tokens": float(np.mean([len(r["tokens"]) for r in rows])),
        "real_test_mean_tokens": float(np.mean([len(t) for t in real])) if real else None,
        "in_training_set": sum(r["in_training_set"] for r in rows) / n,
        "near_copies": {"checked": len(near), "near": sum(d is not None for d in near),
                        "definition": "token edit distance to the closest training equation < 10% of the length"},
        "distinct_n": {str(k): {"samples": distinct_n((r["tokens"] for r in rows[: len(real)]), k),
                                "real_test": distinct_n(real, k)} for k in (1, 2, 3, 4)},
    }


def _real_test(root: Path, n: int) -> list[list[str]]:
    """Token sequences of n real test equations (the first n, a fixed order), for equal-size comparisons."""
    from pipeline.latex.tokenizer import tokenize

    out = []
    with open(root / "prepared" / "equations.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if '"split": "test"' in line:
                out.append(tokenize(json.loads(line)["latex"]))
                if len(out) >= n:
                    break
    return out


def _label(r: dict) -> str:
    c = r["conditioning"]
    return c.get("name") or ("words: " + c["words"] if "words" in c else
                             "paper: " + c["paper"] if "paper" in c else json.dumps(c.get("mixture")))


def _print_table(rows: list[dict], only_compiling: bool) -> None:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(_label(r), []).append(r)
    print(f"{'topic':28s} {'n':>5s} {'compile':>8s}  examples")
    for label, rs in by.items():
        rate = sum(r["compiles"] for r in rs) / len(rs)
        ex = [r["latex"] for r in rs if r["compiles"] or not only_compiling][:2]
        print(f"{label[:28]:28s} {len(rs):5d} {100 * rate:7.1f}%  " + "   |   ".join(e[:60] for e in ex))


def _grid(cfg: DictConfig, gen, topics, training, out: Path, eos_bias: float) -> dict:
    """samples/grid.jsonl: `grid.n` samples for each temperature × syntax setting, cycling over the
    topics (the same θ and random streams for every setting)."""
    import numpy as np
    import torch

    from pipeline.atomic import atomic_open

    g = cfg.sample.grid
    n = int(g.n)
    thetas = np.stack([topics.topic_theta(k) for k in range(topics.num_topics)])
    which = np.arange(n) % topics.num_topics
    th = torch.from_numpy(thetas[which].astype(np.float32))
    result: dict[str, Any] = {}
    with atomic_open(out / "grid.jsonl") as fh:
        for temp in g.temperatures:
            for syn in g.syntax:
                s = _decode_settings(cfg.sample, float(temp), bool(syn), eos_bias)
                recs = gen.generate(th, s, int(cfg.sample.batch_size))
                rows = []
                for rec in recs:
                    k = int(which[rec.index])
                    rows.append({"setting": f"T={float(temp):g},{'syntax' if syn else 'plain'}", "temperature": float(temp),
                                 "syntax": bool(syn), "index": rec.index, "topic": k, "name": topics.names[k],
                                 "latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg, "tokens": rec.tokens,
                                 "logprob": round(rec.logprob, 4), "length_limited": rec.length_limited,
                                 "in_training_set": training.contains(rec.latex)})
                _validate(rows, cfg)
                for r in rows:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                key = rows[0]["setting"] if rows else f"T={temp}"
                per_topic: dict[str, list[bool]] = {}
                for r in rows:
                    per_topic.setdefault(r["name"], []).append(r["compiles"])
                result[key] = {"n": len(rows), "compile_rate": sum(r["compiles"] for r in rows) / max(1, len(rows)),
                               "length_limited": sum(r["length_limited"] for r in rows) / max(1, len(rows)),
                               "mean_tokens": float(np.mean([len(r["tokens"]) for r in rows])) if rows else None,
                               "in_training_set": sum(r["in_training_set"] for r in rows) / max(1, len(rows)),
                               "per_topic": {k: sum(v) / len(v) for k, v in per_topic.items()}}
                log.info("grid %s: compile rate %.3f over %d", key, result[key]["compile_rate"], len(rows))
    return result



def _inputs_key(cfg: DictConfig, root: Path) -> dict:
    """What the samples depend on: the sampling settings, the TeX set-up that judges them, and the
    model, topics and vocabulary by content. The same key on the next run reuses the samples."""
    from pipeline.fingerprint import code_fingerprint, file_sha256

    def sha(path: Path) -> str | None:  # a missing file is reported by the loader that needs it
        return file_sha256(path) if path.exists() else None

    ck = str(cfg.sample.checkpoint)
    weights = (root / "train" / "model.pt" if ck == "best" else
               root / "train" / "checkpoints" / "last.ckpt" if ck == "last" else Path(ck))
    settings = OmegaConf.to_container(cfg.sample, resolve=True)
    settings.pop("reuse", None)
    settings.pop("threads", None)
    return {"sample": settings, "tex": OmegaConf.to_container(cfg.tex, resolve=True),
            # decoding code changes what is sampled (samples are cheap to redo; trained models are
            # keyed by data only)
            "code": code_fingerprint("model/*.py", "texcheck/*.py", "stages/sample.py"),
            "timeout_s": float(cfg.validate.timeout_s),
            "weights_sha256": sha(weights), "theta_sha256": sha(root / "topics" / "theta.npy"),
            "names_sha256": sha(root / "topics" / "names.json"), "vocab_sha256": sha(root / "prepared" / "vocab.json")}


def _context_examples(cfg: DictConfig, gen, topics, training, out: Path, eos_bias: float) -> list[dict]:
    """samples/context.jsonl: for each of `sample.context_examples` (context words), the inferred
    topics and `context_n` samples — the lecture's "context words -> topics -> equations" table."""
    import numpy as np
    import torch

    from pipeline.atomic import atomic_open
    from pipeline.model.conditioning import ConditioningError

    s = cfg.sample
    settings = _decode_settings(s, eos_bias=eos_bias)
    found = []
    with atomic_open(out / "context.jsonl") as fh:
        for words in s.context_examples:
            try:
                theta, top, unknown = topics.words_theta(str(words))
            except ConditioningError as exc:
                log.warning("sample: context words %r skipped: %s", words, exc)
                continue
            n = int(s.context_n)
            recs = gen.generate(torch.from_numpy(np.tile(theta.astype(np.float32), (n, 1))), settings, n)
            req = {"conditioning": {"words": str(words), "inferred": [[k, name, round(p, 4)] for k, name, p in top],
                                    "not_in_vocabulary": unknown}, "theta": theta}
            rows = [_row(r, req, settings, training) for r in recs]
            _validate(rows, cfg)
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            found.append({"words": str(words), "inferred": req["conditioning"]["inferred"], "n": len(rows),
                          "compile_rate": sum(r["compiles"] for r in rows) / max(1, len(rows))})
    return found
