"""topics: labelled LDA on prose -> model, names as arXiv fields, θ for every paper, figures.

`python -m pipeline stage=topics` fits (or reuses) the model and writes outputs/<run>/topics/;
`topics.infer="star gravity einstein mass galaxies"` prints the top topics of those words;
`topics.infer_input=FILE topics.infer_output=OUT` writes θ of every document of a JSON lines file.
Files: docs/topics.md, docs/formats.md.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder

if TYPE_CHECKING:
    from pipeline.topics.fit import FitSettings

log = logging.getLogger(__name__)


def settings(t: DictConfig) -> FitSettings:
    from pipeline.topics.corpus import TextSettings
    from pipeline.topics.fit import FitSettings

    if int(t.fit_workers) > 1 and str(t.alpha) == "auto":
        raise ValueError("topics.alpha=auto is not available with topics.fit_workers > 1 (gensim's LdaMulticore): "
                         "use topics.fit_workers=1 or another topics.alpha")
    return FitSettings(
        num_topics=int(t.num_topics), passes=int(t.passes), iterations=int(t.iterations), chunksize=int(t.chunksize),
        decay=float(t.decay), offset=float(t.offset), alpha=t.alpha, eta=t.eta, seed=int(t.seed),
        text=TextSettings(min_len=int(t.text.min_len), stop_words=tuple(t.text.stop_words or ()),
                          use_domain_stop_words=bool(t.text.use_domain_stop_words),
                          merge_plurals=bool(t.text.merge_plurals)),
        no_below=int(t.dictionary.no_below), no_above=float(t.dictionary.no_above), keep_n=int(t.dictionary.keep_n),
        prune_at=int(t.dictionary.prune_at),
        max_words=int(t.max_words), max_words_runs=int(t.max_words_runs), record_share=float(t.record_share),
        unlabelled_share=float(t.unlabelled_share),
        min_group_records=int(t.labels.min_records), general_topics=int(t.labels.general_topics),
        restarts=int(t.restarts), restart_workers=int(t.restart_workers or 0), fit_workers=max(1, int(t.fit_workers)),
        progress=bool(t.progress))


def naming(t: DictConfig):
    from pipeline.topics.names import NamingRule

    return NamingRule(min_records=int(t.naming.min_records), min_share=float(t.naming.min_share),
                      min_category_records=int(t.naming.min_category_records),
                      min_category_share=float(t.naming.min_category_share))


def evaluation(t: DictConfig):
    from pipeline.topics.workflow import EvalSettings

    probes = OmegaConf.to_container(t.evaluation.probes, resolve=True) or {}
    return EvalSettings(min_group_records=int(t.evaluation.min_group_records),
                        probes={str(k): tuple(v) for k, v in probes.items()}, titles=int(t.evaluation.titles),
                        coherence_max_words=int(t.evaluation.coherence_max_words))


def inputs(cfg: DictConfig, folder: RunFolder):
    from pipeline.topics.fit import Inputs
    from pipeline.topics.records import Splits

    t = cfg.topics
    papers = Path(t.input) if t.get("input") else folder.path("papers")
    return Inputs(papers=papers, corpus=tuple(Path(p) for p in (t.corpus or [])),
                  splits=Splits(dict(cfg.prepare.split), str(cfg.prepare.split_salt or "")))


def _names(t: DictConfig) -> dict[int, str]:
    names = OmegaConf.to_container(t.names, resolve=True) if t.get("names") else {}
    try:
        return {int(k): str(v) for k, v in (names or {}).items()}
    except ValueError as exc:
        raise ValueError(f"topics.names: keys must be topic numbers (0, 1, ...), got {list(names)}") from exc


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    from pipeline.topics.workflow import run_topics

    t = cfg.topics
    # A sweep job infers with its own model when it has one, else with the run's.
    fitted = folder.for_output() if folder.output("topic_model").exists() else folder
    if t.get("infer"):
        return _infer_words(t, fitted)
    if t.get("infer_input"):
        return _infer_file(t, fitted)
    papers = inputs(cfg, folder)
    if papers.papers is not None and not papers.papers.exists():
        raise StageError(f"{papers.papers}: no prepared papers; run `python -m pipeline stage=prepare` first "
                         "(or set topics.input)")
    try:
        report = run_topics(papers, folder.for_output(), settings(t), naming(t), evaluation(t), names=_names(t),
                            top_words=int(t.top_words))
    except (FileNotFoundError, ValueError) as exc:  # inputs and settings: the messages say what to do
        raise StageError(str(exc)) from exc
    test = report["figures"]["test"]
    log.info("topics: %d topics; test records whose top topic stands for their field: %s (balanced %s); written to %s",
             report["num_topics"], test.get("accuracy"), test.get("balanced_accuracy"), folder.output("topics"))
    return {**report, "reused": bool(report.get("model_reused"))}


def _model(t: DictConfig, fitted: RunFolder):
    from pipeline.topics.workflow import load_model

    try:
        return load_model(fitted, _names(t))
    except FileNotFoundError as exc:
        raise StageError(str(exc)) from exc


def _infer_words(t: DictConfig, fitted: RunFolder) -> dict:
    from pipeline.topics.model import UnknownWordsError
    from pipeline.topics.workflow import format_inference

    try:
        print(format_inference(_model(t, fitted), str(t.infer), int(t.infer_top)))
    except UnknownWordsError as exc:
        raise StageError(str(exc)) from exc
    return {}


def _infer_file(t: DictConfig, fitted: RunFolder) -> dict:
    from pipeline.topics.batch import infer_file

    src = Path(t.infer_input)
    dst = Path(t.infer_output) if t.get("infer_output") else src.with_name(src.name + ".topics.jsonl")
    model = _model(t, fitted)
    try:
        archives = [x.get("archive") for x in json.loads(fitted.path("topic_names").read_text())["topics"]]
    except (OSError, ValueError, KeyError):
        archives = [None] * model.num_topics
    try:
        summary = infer_file(model, archives, src, dst, int(t.infer_top), bool(t.progress))
    except FileNotFoundError as exc:
        raise StageError(str(exc)) from exc
    print(json.dumps(summary))
    return {}
