"""A request for a few equations: `stage=sample` with a topic, mixture, context words or a paper.

Prints the equations (and the topics inferred from context words) with their compile verdicts and
whether each is (nearly) a training equation, and writes them to `requests/sample-<time>.jsonl`
(the rows of samples.jsonl, plus `near_copy`). It takes seconds: the model's `<eos>` bias is read
from the store the main job filled (pipeline/sampling/eos.py), and neither the grid nor the context
examples are drawn. The run's `samples/` files, which the report reads, are left alone.
"""
from __future__ import annotations

import json
import logging
import os
import time

from pipeline.atomic import atomic_open
from pipeline.runfolder import RunFolder
from pipeline.sampling.figures import share
from pipeline.sampling.options import SampleOptions, TexJudge
from pipeline.sampling.requests import label
from pipeline.sampling.session import INPUTS, Session, sample_row

log = logging.getLogger(__name__)


def request_run(folder: RunFolder, opts: SampleOptions, tex: TexJudge) -> dict:
    """Sample, judge and print the requested equations; their file under requests/ and figures."""
    folder.require(*INPUTS)
    t0 = time.perf_counter()
    sess = Session.load(folder, opts, tex)
    training = sess.training
    rows: list[dict] = []
    start = 0
    for req in sess.requests:
        recs = sess.gen.generate(sess.thetas(req), sess.settings, int(opts.batch_size), sess.prefix, start_index=start)
        rows += [sample_row(r, req, sess.settings, training) for r in recs]
        start += req["n"]
    tex.judge(rows)
    for r in rows:
        r["near_copy"] = r["in_training_set"] or training.nearest(r["tokens"], float(opts.near_copy_ratio)) is not None
    out_dir = folder.output("requests")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"sample-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
    with atomic_open(path) as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print_request(rows)
    print(f"{len(rows)} equations, {100 * share(rows, 'compiles'):.0f}% compile -> {path}")
    return {"request": str(path), "n": len(rows), "compile_rate": share(rows, "compiles"),
            "eos_bias": sess.eos, "seconds": round(time.perf_counter() - t0, 1)}


def print_request(rows: list[dict]) -> None:
    """Each equation on its own lines: the conditioning once, then verdict, novelty and LaTeX."""
    last = None
    for r in rows:
        if label(r) != last:
            last = label(r)
            print(f"\n{last}")
        verdict = "compiles" if r["compiles"] else f"does not compile: {r['error'] or 'error'}"
        copy = ", in the training set" if r["in_training_set"] else ", near a training equation" if r["near_copy"] else ""
        env = r["env"] + (f"={r['env_arg']}" if r["env_arg"] else "")
        print(f"  [{verdict}{copy}] ({env}) {r['latex']}")
