"""The topics stage's work without Hydra: fit or reuse the model, name its topics, θ for every paper, figures.

Writes the run folder's topics files (outputs/<run>/topics/ or a sweep job's .../topics/); files in
docs/formats.md, their names in pipeline/runfolder.py.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from pipeline.atomic import atomic_open, write_json, write_text
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.runfolder import RunFolder
from pipeline.topics import archives
from pipeline.topics import quality as Q
from pipeline.topics.fit import FitSettings, Inputs, WorkFiles, build_corpus, build_normaliser, prepare_documents
from pipeline.topics.model import TopicModel, UnknownWordsError
from pipeline.topics.names import NamingRule, unique
from pipeline.topics.restarts import fit_with_restarts, label_topics

log = logging.getLogger(__name__)
FINGERPRINT_FILE = "fingerprint.json"  # inside the model's folder, beside gensim's files


@dataclass(frozen=True)
class EvalSettings:
    min_group_records: int = 10        # a group counts in balanced accuracy with this many held-out records
    probes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # context words -> groups they should land on
    titles: int = 3                    # example titles per topic in names.json and the report
    coherence_max_words: int = 800     # words a validation record contributes to coherence


def fingerprint(inputs: Inputs, s: FitSettings, rule: NamingRule) -> dict:
    """What the model depends on: every fitting setting, the split, the code, and the inputs' content."""
    settings = {k: v for k, v in asdict(s).items() if k not in ("progress", "restart_workers")}
    files = {str(p): file_sha256(p) for p in ([inputs.papers] if inputs.papers else []) + list(inputs.corpus)}
    key = json.dumps([settings, dict(inputs.splits.fractions), inputs.splits.salt, asdict(rule), files,
                      code_fingerprint("topics/*.py", "data/arxiv_taxonomy.tsv", "latex/prose.py")],
                     sort_keys=True, default=str)
    return {"settings": settings, "inputs": files, "key": hashlib.sha256(key.encode()).hexdigest()}


def fit_or_load(inputs: Inputs, folder: RunFolder, s: FitSettings, rule: NamingRule,
                ev: EvalSettings) -> tuple[TopicModel, bool, dict]:
    """The saved model when its fingerprint matches this config and these inputs, else a fresh fit."""
    model_dir, work = folder.output("topic_model"), WorkFiles(folder.output("topics_work"))
    fp = fingerprint(inputs, s, rule)
    fp_file = model_dir / FINGERPRINT_FILE
    if fp_file.exists():
        try:
            saved = json.loads(fp_file.read_text())
            if saved.get("key") == fp["key"] and work.train.exists():
                log.info("topics: reusing the model in %s (same settings and inputs)", model_dir)
                return TopicModel.load(model_dir), True, saved.get("documents", {})
        except (ValueError, OSError) as exc:
            log.warning("topics: saved model in %s unusable (%s); fitting again", model_dir, exc)
        fp_file.unlink()  # a crash mid-fit must not leave a stale fingerprint beside a new model
    t0 = time.time()
    docs = prepare_documents(inputs, work, s)
    norm = build_normaliser(work, s)
    dictionary, stats = build_corpus(work, norm, s)
    docs.update(stats, seconds_documents=round(time.time() - t0, 1))
    model = fit_with_restarts(work, dictionary, norm, s, rule, stats["labelled_documents_by_group"],
                              ev.min_group_records, model_dir)
    model.meta = {**model.meta, "documents": docs}
    model.save(model_dir)
    write_json(fp_file, {**fp, "documents": docs})
    return model, False, docs


def load_names(folder: RunFolder) -> list[str] | None:
    """The names the topics stage gave the topics (names.json), None if it wrote none."""
    try:
        return json.loads(folder.path("topic_names").read_text())["names"]
    except (OSError, ValueError, KeyError):
        return None


def _papers_figures(rows: list[tuple[str, str, str | None, int]], groups: list[str | None]) -> dict:
    """Equation papers with an arXiv category outside hep-th: is their top topic's group their own?"""
    out = {}
    for name, keep in (("all", lambda sp: True), ("held_out", lambda sp: sp != "train")):
        sel = [(cat, k) for _, sp, cat, k in rows if cat and keep(sp) and archives.archive_of(cat) != "hep-th"
               and archives.group_of(cat)]
        hits = [groups[k] == archives.group_of(cat) for cat, k in sel]
        out[name] = {"papers": len(sel), "accuracy": float(np.mean(hits)) if hits else None,
                     "by_group": dict(Counter(archives.group_of(c) for c, _ in sel).most_common())}
    return out


def run_topics(inputs: Inputs, folder: RunFolder, s: FitSettings, rule: NamingRule, ev: EvalSettings,
               names: Mapping[int, str] | None = None, top_words: int = 8) -> dict:
    """Fit (or reuse) the model, name its topics, infer θ of every equation paper and measure; the files
    go where `folder` writes (`folder.output`)."""
    from pipeline.topics.evaluation import accuracy_file, owned

    t0 = time.time()
    folder.output("topics").mkdir(parents=True, exist_ok=True)
    model, reused, docs = fit_or_load(inputs, folder, s, rule, ev)
    user = {int(k): str(v) for k, v in (names or {}).items()}
    bad = [k for k in user if not 0 <= k < model.num_topics]
    if bad:
        raise ValueError(f"topics.names: topics {bad} do not exist (the model has {model.num_topics})")
    t_fit = time.time() - t0
    work = WorkFiles(folder.output("topics_work"))

    infos, titles = label_topics(model, work, rule, ev.titles)
    final = unique([user.get(t.topic, t.name) for t in infos])
    model.names = dict(enumerate(final))
    groups = [t.group for t in infos]
    topics = [{**t.as_dict(), "name": final[t.topic], "automatic_name": t.name, "titles": titles[t.topic],
               "top_words": model.top_words(t.topic, 10)} for t in infos]
    write_json(folder.output("topic_names"), {
        "names": final, "topics": topics, "user": {str(k): v for k, v in user.items()},
        "rule": f"names.py: the archive group holding over {rule.min_share:.0%} of the >= {rule.min_records} labelled "
                "training records a topic is the top topic of (confidence = that share), named after their "
                "commonest category or archive (arxiv_taxonomy.tsv); else general"})

    # θ of every equation paper, in papers.jsonl order, inferred from its own prose.
    ids, splits, rows, thetas, lengths = [], [], [], [], []
    if inputs.papers is not None:
        from pipeline.topics.corpus import iter_papers

        for p in iter_papers(inputs.papers):
            th = model.theta_of_tokens(p.get("prose") or [])
            ids.append(p["id"])
            splits.append(p["split"])
            thetas.append(th.astype(np.float32))
            lengths.append(len(p.get("prose") or []))
            rows.append((p["id"], p["split"], p.get("categories"), int(np.argmax(th))))
    theta = np.stack(thetas) if thetas else np.zeros((0, model.num_topics), np.float32)
    with atomic_open(folder.output("theta"), "wb") as fh:
        np.save(fh, theta)
    write_json(folder.output("theta_ids"), {"ids": ids, "splits": splits, "num_topics": model.num_topics})
    train = np.array([x == "train" for x in splits], bool)
    w = np.array(lengths, float)[train] if len(lengths) else np.zeros(0)
    sizes = (theta[train] * w[:, None]).sum(0) / max(w.sum(), 1) if train.any() else np.zeros(model.num_topics)

    counts = docs.get("labelled_documents_by_group", {})
    own = owned(groups, counts, s.min_group_records)
    figures = {"validation": accuracy_file(model, groups, work.held_out("val"), ev.min_group_records),
               "test": accuracy_file(model, groups, work.held_out("test"), ev.min_group_records),
               "groups": own, "equation_papers": _papers_figures(rows, groups), "probes": {}}
    for words, want in ev.probes.items():
        try:
            th = model.infer(words)
            figures["probes"][words] = {"groups": list(want), "mass": float(sum(th[k] for k in range(model.num_topics)
                                                                            if groups[k] in want)),
                                        "top": [[k, final[k], round(float(p), 4)] for k, _, p in model.top_topics(th, 3)]}
        except UnknownWordsError as exc:
            figures["probes"][words] = {"error": str(exc)}
    val_texts = Q.reference_texts(model, work.held_out("val"), ev.coherence_max_words)
    coh = Q.coherence(model, val_texts)
    del val_texts
    report = {
        "num_topics": model.num_topics, "model_reused": reused, "documents": docs, "fit": model.meta.get("fit"),
        "seed": model.seed, "restarts": model.meta.get("restarts"), "settings": asdict(s),
        "inputs": inputs.describe(), "names": final, "archives": [t.archive for t in infos], "groups": groups,
        "figures": figures, "coherence_val": {"c_npmi": coh}, "topic_sizes": [float(x) for x in sizes],
        "labels": model.labels(), "top_words": [model.top_words(k, 10) for k in range(model.num_topics)],
        "seconds_fit_or_load": round(t_fit, 1)}
    report["seconds"] = round(time.time() - t0, 1)
    write_json(folder.output("topics_report"), report)
    md = Q.topics_markdown(model, topics, sizes, coh["per_topic"], top_words) + "\n" + figures_markdown(figures)
    write_text(folder.output("topics_md"), md)
    print(md)
    if not reused:
        shutil.rmtree(folder.output("topic_restarts"), ignore_errors=True)
    return report


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def figures_markdown(f: dict) -> str:
    lines = ["# How the topics stand for arXiv's fields", "",
             "A record is a hit when its top topic stands for its own archive group (docs/topics.md).", "",
             "| split | records | accuracy | bodies | abstracts | papers | balanced accuracy (groups) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for split in ("validation", "test"):
        v = f.get(split) or {}
        bk = v.get("by_kind", {})
        lines.append(f"| {split} | {v.get('records', 0)} | {_pct(v.get('accuracy'))} | "
                     + " | ".join(_pct(bk.get(k, {}).get('accuracy')) for k in ("body", "abstract", "paper"))
                     + f" | {_pct(v.get('balanced_accuracy'))} ({len(v.get('balanced_over', []))}) |")
    t = f.get("test") or {}
    if t.get("per_group"):
        lines += ["", "| group (test) | records | recall |", "|---|---:|---:|"]
        lines += [f"| {g} | {x['records']} | {_pct(x['recall'])} |" for g, x in t["per_group"].items()]
    g = f.get("groups", {})
    lines += ["", f"Groups with >= {g.get('min_records')} labelled training records: {len(g.get('groups', []))}; "
              f"owning a topic: {len(g.get('owning_a_topic', []))}"
              + (f"; without: {', '.join(g['without_a_topic'])}" if g.get("without_a_topic") else "") + "."]
    e = f.get("equation_papers", {})
    for k in ("all", "held_out"):
        if e.get(k, {}).get("papers"):
            lines.append(f"Equation papers with an arXiv category outside hep-th ({k}): {e[k]['papers']}, top topic of "
                         f"their own group: {_pct(e[k]['accuracy'])}.")
    for words, p in f.get("probes", {}).items():
        lines.append(f"\"{words}\": " + (p["error"] if "error" in p else
                     f"{_pct(p['mass'])} on {', '.join(p['groups'])} topics; top: "
                     + ", ".join(f"{100 * x:.0f}% {n}" for _, n, x in p["top"])) + ".")
    return "\n".join(lines) + "\n"


def format_inference(model: TopicModel, words: str, top: int = 3) -> str:
    inf = model.explain(words)
    lines = [f"context words: {words}"]
    for k, label, p in model.top_topics(inf.theta, top):
        lines.append(f"  {100 * p:5.1f}%  topic {k}: {label}")
    if inf.unknown:
        lines.append("  not used: " + ", ".join(f"{w} ({inf.reasons[w]})" for w in inf.unknown))
    return "\n".join(lines)


def load_model(folder: RunFolder, names: Mapping[int, str] | None = None) -> TopicModel:
    """The fitted model of a run folder with the names the stage gave its topics (the user's win)."""
    given = load_names(folder) or []
    return TopicModel.load(folder.path("topic_model"), {**dict(enumerate(given)), **(names or {})})
