"""The topics stage's work without Hydra: fit or reuse the model, θ for every paper, reports.

Writes into out_dir (outputs/<run>/topics/ or a sweep job's .../topics/); formats in docs/topics.md.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Mapping

import numpy as np

from pipeline.atomic import atomic_open, write_text
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.topics import quality as Q
from pipeline.topics.fit import FitSettings, theta_all
from pipeline.topics.model import TopicModel, UnknownWordsError
from pipeline.topics.names import auto_names, unique
from pipeline.topics.restarts import fit_with_restarts
from pipeline.topics.separation import choice_key, fields_markdown, fields_report

log = logging.getLogger(__name__)
FINGERPRINT_FILE = "fingerprint.json"


def fingerprint(papers: Path, s: FitSettings) -> dict:
    """What the model depends on: every fitting setting and the input's content (not its mtime).
    progress and restart_workers are left out: neither changes the model."""
    settings = {k: v for k, v in asdict(s).items() if k not in ("progress", "restart_workers")}
    key = json.dumps([settings, code_fingerprint("topics/*.py")], sort_keys=True, default=str)
    return {"settings": settings, "input_sha256": file_sha256(papers),
            "key": hashlib.sha256((key + file_sha256(papers)).encode()).hexdigest()}


def fit_or_load(papers: Path, model_dir: Path, s: FitSettings) -> tuple[TopicModel, bool]:
    """The saved model when its fingerprint matches this config and input, else a fresh fit."""
    fp = fingerprint(papers, s)
    fp_file = model_dir / FINGERPRINT_FILE
    if fp_file.exists():
        try:
            if json.loads(fp_file.read_text()).get("key") == fp["key"]:
                log.info("topics: reusing the model in %s (same settings and input)", model_dir)
                return TopicModel.load(model_dir), True
        except (ValueError, OSError, FileNotFoundError) as exc:
            log.warning("topics: saved model in %s unusable (%s); fitting again", model_dir, exc)
    if fp_file.exists():
        fp_file.unlink()  # a crash mid-save must not leave a stale fingerprint on a new model
    model = fit_with_restarts(papers, model_dir, s)
    model.save(model_dir)
    _write_json(fp_file, fp)
    return model, False


def _write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1))


NAMES_FILE = "names.json"


def load_names(topics_dir: Path) -> list[str] | None:
    """The names the topics stage gave the topics (names.json), None if it wrote none."""
    try:
        return json.loads((Path(topics_dir) / NAMES_FILE).read_text())["names"]
    except (OSError, ValueError, KeyError):
        return None


def run_topics(papers: Path, out_dir: Path, s: FitSettings, names: Mapping[int, str] | None = None,
               coherence_on_train: bool = True, evaluate_test: bool = False, top_words: int = 8,
               name_min_papers: int = 5) -> dict:
    t0 = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, reused = fit_or_load(papers, out_dir / "model", s)
    user = {int(k): str(v) for k, v in (names or {}).items()}
    bad = [k for k in user if not 0 <= k < model.num_topics]
    if bad:
        raise ValueError(f"topics.names: topics {bad} do not exist (the model has {model.num_topics})")
    t_fit = time.time() - t0

    # θ of every paper, in papers.jsonl order.
    ids, splits, fields, thetas, lengths, cats = [], [], [], [], [], []
    for p, th in theta_all(model, papers):
        ids.append(p["id"])
        splits.append(p["split"])
        fields.append(p.get("field"))
        cats.append(p.get("categories"))
        thetas.append(th.astype(np.float32))
        lengths.append(len(p.get("prose") or []))
    theta = np.stack(thetas) if thetas else np.zeros((0, model.num_topics), np.float32)
    with atomic_open(out_dir / "theta.npy", "wb") as fh:
        np.save(fh, theta)
    _write_json(out_dir / "theta_ids.json", {"ids": ids, "splits": splits, "num_topics": model.num_topics})

    # Names from the training papers' categories; the user's names win.
    tops = theta.argmax(1) if len(theta) else np.zeros(0, dtype=int)
    train_rows = [i for i, sp in enumerate(splits) if sp == "train"]
    auto = auto_names(model.num_topics, [int(tops[i]) for i in train_rows], [cats[i] for i in train_rows],
                      model.top_words, name_min_papers)
    final = unique([user.get(k, auto[k]) for k in range(model.num_topics)])
    model.names = dict(enumerate(final))
    _write_json(out_dir / NAMES_FILE, {"names": final, "automatic": auto, "user": {str(k): v for k, v in user.items()},
                                      "rule": "names.py: a field named by over half of >= "
                                              f"{name_min_papers} training papers a topic dominates, else its top 3 words"})

    train = np.array([x == "train" for x in splits])
    w = np.array(lengths, float)[train]
    sizes = (theta[train] * w[:, None]).sum(0) / max(w.sum(), 1) if train.any() else np.zeros(model.num_topics)

    val_texts = Q.reference_texts(model, papers, "val")
    coh_val = {m: Q.coherence(model, val_texts, m) for m in ("c_npmi", "c_v")}
    report = {
        "num_topics": model.num_topics, "model_reused": reused, "fit": model.meta.get("fit"),
        "seed": model.seed, "restarts": model.meta.get("restarts"),
        "settings": {k: v for k, v in asdict(s).items()},
        "coherence_definition": "mean over topics of gensim c_npmi, top 10 words, default window (10), "
                                "on the split's prose through the model's normaliser; non-finite topics "
                                "counted in undefined_topics and left out of the mean",
        "coherence_val": coh_val,
        "perplexity_val": Q.log_perplexity(model, val_texts),
        "topic_sizes": [float(x) for x in sizes],
        "labels": model.labels(),
        "top_words": [model.top_words(k, 10) for k in range(model.num_topics)],
    }
    del val_texts
    if coherence_on_train:
        report["coherence_train"] = {"c_npmi": Q.coherence(model, Q.reference_texts(model, papers, "train"))}
    fields_rep = fields_report(fields, splits, theta, final, s.fields)
    report["names"] = final
    tv = [i for i, sp in enumerate(splits) if sp in ("train", "val")]
    key = choice_key([fields[i] for i in tv], [splits[i] for i in tv], [int(tops[i]) for i in tv], s.fields,
                     coh_val["c_npmi"]["mean"])
    report["choice"] = {"val_hits": key[0], "fields_owned_train_val": key[1], "nmi_train_val": key[2],
                        "c_npmi_val": coh_val["c_npmi"]["mean"], "key": [k if k != -math.inf else None for k in key],
                        "rule": "separation.choice_key: most validation hits, then fields owning a topic and NMI "
                                "on train+val, then validation c_npmi"}
    report["fields"] = {k: v for k, v in fields_rep.items() if k not in ("all", "held_out")}
    if evaluate_test:  # final figures only: nothing above reads the test split
        test_texts = Q.reference_texts(model, papers, "test")
        _write_json(out_dir / "report_test.json", {
            "coherence_test": {m: Q.coherence(model, test_texts, m) for m in ("c_npmi", "c_v")},
            "perplexity_test": Q.log_perplexity(model, test_texts)})
    report["seconds"] = round(time.time() - t0, 1)
    report["seconds_fit_or_load"] = round(t_fit, 1)
    _write_json(out_dir / "report.json", report)
    md = Q.topics_markdown(model, sizes, coh_val["c_npmi"]["per_topic"], top_words)
    write_text(out_dir / "topics.md", md)
    _write_json(out_dir / "fields.json", fields_rep)
    write_text(out_dir / "fields.md", fields_markdown(fields_rep))
    print(md)
    print(fields_markdown(fields_rep))
    c = coh_val["c_npmi"]

    def f4(x: float | None) -> str:  # a coherence is undefined when no topic word occurs in the texts
        return "n/a" if x is None else f"{x:.4f}"

    print(f"c_npmi (val): {f4(c['mean'])} over {model.num_topics - c['undefined_topics']} topics "
          f"({c['undefined_topics']} undefined); c_v (val): {f4(coh_val['c_v']['mean'])}"
          + (f"; c_npmi (train): {f4(report['coherence_train']['c_npmi']['mean'])}" if coherence_on_train else ""))
    return report


def format_inference(model: TopicModel, words: str, top: int = 3) -> str:
    inf = model.explain(words)
    lines = [f"context words: {words}"]
    for k, label, p in model.top_topics(inf.theta, top):
        lines.append(f"  {100 * p:5.1f}%  topic {k}: {label}")
    if inf.unknown:
        lines.append("  not used: " + ", ".join(f"{w} ({inf.reasons[w]})" for w in inf.unknown))
    return "\n".join(lines)


def infer_cli(model_dir: Path, words: str, names: Mapping[int, str] | None = None, top: int = 3) -> int:
    """Print the top topics of context words (with the names the stage gave them; the user's win);
    0 on success, 2 when no word is known."""
    given = load_names(Path(model_dir).parent) or []
    model = TopicModel.load(model_dir, {**dict(enumerate(given)), **(names or {})})
    try:
        print(format_inference(model, words, top))
    except UnknownWordsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
