"""One sampling session of a run: load the model (best, last checkpoint or a file), the model's
<eos> bias (pipeline/sampling/eos.py), sample the requests, judge every sample with TeX, write samples.jsonl, the grid of
temperatures × syntax on/off and the context examples, and summary.json. A second session with
the same inputs (model, topics, vocabulary by content; settings; code) reuses the samples.
Definitions and every field: docs/sample.md."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.atomic import atomic_open, read_json_or_empty, write_text
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.model.conditioning import ConditioningError, Topics
from pipeline.model.decoder import DecodeSettings
from pipeline.model.generation import Generator
from pipeline.model.network import load_lightning_weights
from pipeline.model.novelty import TrainingSet
from pipeline.runfolder import RunFolder
from pipeline.sampling.eos import eos_bias
from pipeline.sampling.figures import figures, grid_figures, print_table, real_test_tokens, share
from pipeline.sampling.options import SampleOptions, TexJudge
from pipeline.sampling.requests import requests
from pipeline.texcheck.known import known_commands

log = logging.getLogger(__name__)

INPUTS = ("vocab", "equations", "theta", "theta_ids", "topic_names")


def sample_run(folder: RunFolder, opts: SampleOptions, tex: TexJudge) -> dict:
    """Samples of the run in `folder` (written where the folder's stage writes), with their figures."""
    folder.require(*INPUTS)
    out = folder.output("samples_dir")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = inputs_key(folder, opts, tex)
    summary_file = folder.output("sample_summary")
    before = read_json_or_empty(summary_file)
    if opts.reuse and before.get("inputs") == inputs and all((out / f).exists() for f in before.get("files", [])):
        log.info("sample: reused %s (same model, topics and settings; sample.reuse=false samples again)", out)
        return {**before, "reused": True}
    sess = Session.load(folder, opts, tex)
    topics, gen, eos, settings, training = sess.topics, sess.gen, sess.eos, sess.settings, sess.training
    rows: list[dict] = []
    partial = folder.output("samples_partial")
    start = 0
    with open(partial, "w", encoding="utf-8") as fh:
        for req in sess.requests:
            thetas = sess.thetas(req)

            def emit(rec, req=req) -> None:  # written as produced (without verdicts yet)
                row = sample_row(rec, req, settings, training)
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()

            gen.generate(thetas, settings, int(opts.batch_size), sess.prefix, on_done=emit, start_index=start)
            start += req["n"]
    rows.sort(key=lambda r: r["index"])
    tex.judge(rows)
    kept = [r for r in rows if r["compiles"]] if opts.only_compiling else rows
    with atomic_open(folder.output("samples")) as fh:
        for r in kept:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    partial.unlink(missing_ok=True)
    print_table(rows, opts.only_compiling)
    real = real_test_tokens(folder.path("equations"), len(rows))
    summary: dict[str, Any] = {"samples": figures(rows, training, real, int(opts.novelty_check),
                                                  float(opts.near_copy_ratio)), "eos_bias": eos}
    files = [folder.output("samples").name]
    if opts.grid["enabled"]:
        summary["grid"] = grid(folder.output("grid"), opts, tex, gen, topics, training, eos["bias"])
        files.append(folder.output("grid").name)
    if opts.context_examples:
        summary["context_examples"] = context_examples(folder.output("context"), opts, tex, gen, topics, training,
                                                       eos["bias"])
        files.append(folder.output("context").name)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["settings"] = asdict(opts)
    summary["inputs"], summary["files"] = inputs, files
    write_text(summary_file, json.dumps(summary, indent=1))
    log.info("sample: %d samples (compile rate %.3f) -> %s", len(rows), summary["samples"]["compile_rate"] or 0,
             folder.output("samples"))
    return summary


@dataclass
class Session:
    """What sampling the requests of the options needs, loaded once: the topics, the requests, the
    sampler, the forced prefix, the model's <eos> bias and the decoding settings with it, the
    training set (novelty)."""
    topics: Topics
    requests: list[dict]
    gen: Generator
    prefix: list[int]
    eos: dict
    settings: DecodeSettings
    training: TrainingSet

    @classmethod
    def load(cls, folder: RunFolder, opts: SampleOptions, tex: TexJudge) -> "Session":
        topics = Topics.load(folder)
        reqs = requests(opts, topics)
        gen = load_generator(folder, opts.checkpoint, tex, int(opts.grammar_depth), opts.resolved_device(),
                             int(opts.device_check_every))
        prefix = gen.prefix_ids(opts.env, opts.prefix)
        eos = eos_bias(folder, opts, gen, topics, weights_file(folder, str(opts.checkpoint)))
        return cls(topics, reqs, gen, prefix, eos, opts.decode(eos_bias=eos["bias"]), TrainingSet(folder.path("equations")))

    @staticmethod
    def thetas(req: dict) -> torch.Tensor:
        """The request's θ, one row per sample."""
        return torch.from_numpy(np.tile(np.asarray(req["theta"], dtype=np.float32), (req["n"], 1)))


def weights_file(folder: RunFolder, checkpoint: str) -> Path:
    """The weights `sample.checkpoint` names: best (train/model.pt), last (Lightning's last.ckpt) or a path."""
    return (folder.path("model") if checkpoint == "best" else
            folder.path("last_checkpoint") if checkpoint == "last" else Path(checkpoint))


def load_generator(folder: RunFolder, checkpoint: str, tex: TexJudge, depth: int, device: str = "cpu",
                   device_check_every: int = 1) -> Generator:
    """The run's sampler with the weights `checkpoint` names, on `device` (a concrete torch device:
    pipeline/devices.py makes one of a setting); `device_check_every`: sample.device_check_every."""
    known = known_commands(tex.preamble, tex.cache_dir)
    ck = str(checkpoint)
    model_file = folder.path("model")
    if ck not in ("best", "last", str(model_file)) and not ck.endswith(".ckpt"):
        model_file = Path(ck)  # a model.pt of its own
    gen = Generator.from_run(folder, model_file, known, device=device, preamble=tex.preamble,
                             cache_dir=tex.cache_dir, max_depth=depth,
                             device_check_every=device_check_every)
    if ck == "last" or ck.endswith(".ckpt"):
        # Lightning's checkpoint of this run (made by this project's train stage): its weights only
        load_lightning_weights(gen.net, weights_file(folder, ck))
    return gen


def sample_row(rec, req: dict, settings, training: TrainingSet) -> dict:
    return {"index": rec.index, "latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg, "tokens": rec.tokens,
            "conditioning": req["conditioning"], "theta": [round(float(x), 6) for x in req["theta"]],
            "settings": asdict(settings), "seed": settings.seed, "logprob": round(rec.logprob, 4),
            "length_limited": rec.length_limited, "in_training_set": training.contains(rec.latex)}


def grid(path: Path, opts: SampleOptions, tex: TexJudge, gen: Generator, topics: Topics, training: TrainingSet,
         eos: float) -> dict:
    """grid.jsonl: `grid.n` samples for each temperature × syntax setting, cycling over the topics
    (the same θ and random streams for every setting)."""
    g = opts.grid
    n = int(g["n"])
    thetas = np.stack([topics.topic_theta(k) for k in range(topics.num_topics)])
    which = np.arange(n) % topics.num_topics
    th = torch.from_numpy(thetas[which].astype(np.float32))
    result: dict[str, Any] = {}
    with atomic_open(path) as fh:
        for temp in g["temperatures"]:
            for syn in g["syntax"]:
                recs = gen.generate(th, opts.decode(float(temp), bool(syn), eos), int(opts.batch_size))
                rows = []
                for rec in recs:
                    k = int(which[rec.index])
                    rows.append({"setting": f"T={float(temp):g},{'syntax' if syn else 'plain'}",
                                 "temperature": float(temp), "syntax": bool(syn), "index": rec.index, "topic": k,
                                 "name": topics.names[k], "latex": rec.latex, "env": rec.env, "env_arg": rec.env_arg,
                                 "tokens": rec.tokens, "logprob": round(rec.logprob, 4),
                                 "length_limited": rec.length_limited, "in_training_set": training.contains(rec.latex)})
                tex.judge(rows)
                for r in rows:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                key = rows[0]["setting"] if rows else f"T={temp}"
                result[key] = grid_figures(rows)
                log.info("grid %s: compile rate %.3f over %d", key, result[key]["compile_rate"], len(rows))
    return result


def context_examples(path: Path, opts: SampleOptions, tex: TexJudge, gen: Generator, topics: Topics,
                     training: TrainingSet, eos: float) -> list[dict]:
    """context.jsonl: for each of `sample.context_examples` (context words), the inferred topics and
    `context_n` samples — the lecture's "context words -> topics -> equations" table."""
    settings = opts.decode(eos_bias=eos)
    found = []
    with atomic_open(path) as fh:
        for words in opts.context_examples:
            try:
                theta, top, unknown = topics.words_theta(str(words))
            except ConditioningError as exc:
                log.warning("sample: context words %r skipped: %s", words, exc)
                continue
            n = int(opts.context_n)
            recs = gen.generate(torch.from_numpy(np.tile(theta.astype(np.float32), (n, 1))), settings, n)
            req = {"conditioning": {"words": str(words), "inferred": [[k, name, round(p, 4)] for k, name, p in top],
                                    "not_in_vocabulary": unknown}, "theta": theta}
            rows = [sample_row(r, req, settings, training) for r in recs]
            tex.judge(rows)
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            found.append({"words": str(words), "inferred": req["conditioning"]["inferred"], "n": len(rows),
                          "compile_rate": share(rows, "compiles")})
    return found


def inputs_key(folder: RunFolder, opts: SampleOptions, tex: TexJudge) -> dict:
    """What the samples depend on: the sampling settings, the TeX set-up that judges them, and the
    model, topics and vocabulary by content. The same key on the next run reuses the samples."""
    def sha(path: Path) -> str | None:  # a missing file is reported by the loader that needs it
        return file_sha256(path) if path.exists() else None

    settings = asdict(opts)
    settings.pop("reuse", None)
    settings.pop("threads", None)
    settings.pop("device_check_every", None)  # when the decoder looks changes its speed, not its draws
    settings["device"] = opts.resolved_device()  # floating point differs between devices, `auto` by machine
    return {"sample": settings, "tex": tex.settings,
            # decoding code changes what is sampled (samples are cheap to redo; trained models are
            # keyed by data only)
            "code": code_fingerprint("model/*.py", "texcheck/*.py", "sampling/*.py"),
            "timeout_s": tex.timeout_s, "weights_sha256": sha(weights_file(folder, str(opts.checkpoint))),
            "theta_sha256": sha(folder.path("theta")), "names_sha256": sha(folder.path("topic_names")),
            "vocab_sha256": sha(folder.path("vocab"))}
