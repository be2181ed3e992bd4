"""topics: LDA on the papers' prose -> model, θ for every paper, quality report, fields table.

`python -m pipeline stage=topics` fits (or reuses) the model and writes outputs/<run>/topics/;
`python -m pipeline stage=topics topics.infer="star gravity einstein mass galaxies"` prints the top
topics of those context words with the model already fitted. Files: docs/topics.md.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from pipeline.runfolder import RunFolder

if TYPE_CHECKING:
    from pipeline.topics.fit import FitSettings

log = logging.getLogger(__name__)


def settings(t: DictConfig) -> FitSettings:
    from pipeline.topics.corpus import TextSettings
    from pipeline.topics.fit import FitSettings
    from pipeline.topics.separation import FieldSettings

    return FitSettings(
        num_topics=int(t.num_topics), passes=int(t.passes), iterations=int(t.iterations),
        alpha=t.alpha, eta=t.eta, workers=int(t.workers), chunksize=int(t.chunksize), seed=int(t.seed),
        text=TextSettings(min_len=int(t.text.min_len), stop_words=tuple(t.text.stop_words or ()),
                          use_domain_stop_words=bool(t.text.use_domain_stop_words),
                          merge_plurals=bool(t.text.merge_plurals)),
        bigrams=bool(t.bigrams), bigram_min_count=int(t.bigram_min_count),
        bigram_threshold=float(t.bigram_threshold), no_below=int(t.dictionary.no_below),
        no_above=float(t.dictionary.no_above), keep_n=int(t.dictionary.keep_n),
        chunk_max_tokens=int(t.chunking.max_tokens), chunk_min_tokens=int(t.chunking.min_tokens),
        max_paper_tokens=int(t.chunking.max_paper_tokens),
        restarts=int(t.restarts), restart_workers=int(t.restart_workers or 0),
        max_papers_per_group=int(t.guidance.max_papers_per_group),
        fields=FieldSettings(exclude=tuple(t.evaluation.exclude_fields or ()), min_papers=int(t.evaluation.min_papers)),
        progress=bool(t.progress),
    )


def _names(t: DictConfig) -> dict[int, str]:
    names = OmegaConf.to_container(t.names, resolve=True) if t.get("names") else {}
    try:
        return {int(k): str(v) for k, v in (names or {}).items()}
    except ValueError as exc:
        raise ValueError(f"topics.names: keys must be topic numbers (0, 1, ...), got {list(names)}") from exc


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    from pipeline.topics.pipeline import infer_cli, run_topics

    t = cfg.topics
    papers = Path(t.input) if t.get("input") else folder.root / "prepared" / "papers.jsonl"
    out_dir = folder.for_output().root / "topics"
    if t.get("infer"):
        # Read the run's model (a sweep job's own model when run inside that job's folder).
        model_dir = out_dir / "model" if (out_dir / "model").exists() else folder.root / "topics" / "model"
        code = infer_cli(model_dir, str(t.infer), _names(t), int(t.infer_top))
        if code:
            sys.exit(code)
        return {}
    report = run_topics(papers, out_dir, settings(t), names=_names(t),
                        coherence_on_train=bool(t.coherence_on_train), evaluate_test=bool(t.evaluate_test),
                        top_words=int(t.top_words), name_min_papers=int(t.naming.min_papers))
    log.info("topics: %d topics, c_npmi val %s, written to %s", report["num_topics"],
             report["coherence_val"]["c_npmi"]["mean"], out_dir)
    return {**report, "reused": bool(report.get("model_reused"))}
