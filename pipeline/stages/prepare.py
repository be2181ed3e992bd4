"""prepare: sources -> flattened papers -> equations, prose, vocabulary, token streams, splits.

Ingest writes prepared/flat/ (+ skipped.jsonl); extraction and assembly write prepared/extracted/,
papers.jsonl, equations.jsonl, vocab.json and tokens/. stats.json covers both. Formats:
docs/formats.md.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from pipeline.atomic import write_text
from pipeline.dataset.splits import check_fractions
from pipeline.runfolder import RunFolder
from pipeline.sources.ingest import IngestSettings, ingest
from pipeline.sources.metadata import metadata_files
from pipeline.sources.paper import Limits
from pipeline.sources.select import Selection

if TYPE_CHECKING:
    from pipeline.dataset.build import DatasetSettings

log = logging.getLogger(__name__)


def ingest_settings(cfg: DictConfig) -> IngestSettings:
    p, d = cfg.prepare, cfg.data
    return IngestSettings(
        limits=Limits(
            max_paper_bytes=int(p.max_paper_bytes),
            max_file_bytes=int(p.max_file_bytes),
            max_input_depth=int(p.max_input_depth),
        ),
        selection=Selection(
            categories=tuple(d.categories or ()),
            fields=tuple(d.fields or ()),
            exclude_licences=tuple(d.exclude_licences or ()),
        ),
        workers=int(p.workers or os.cpu_count() or 1),
        in_flight=int(p.in_flight),
        progress=bool(p.progress),
    )


def dataset_settings(cfg: DictConfig) -> DatasetSettings:
    from pipeline.dataset.build import DatasetSettings  # numpy: only when extraction runs

    p = cfg.prepare
    return DatasetSettings(
        max_tokens=int(p.max_tokens), min_count=int(p.min_count), split=check_fractions(p.split),
        split_salt=str(p.split_salt), workers=int(p.workers or os.cpu_count() or 1),
        in_flight=int(p.extract_in_flight), progress=bool(p.progress),
        groups={str(k): tuple(v) for k, v in (p.groups or {}).items()}, macros_lost=tuple(p.macros_lost or ()),
    )


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    d = cfg.data
    settings = ingest_settings(cfg)
    out = folder.for_output()
    out.prepared.mkdir(parents=True, exist_ok=True)
    metadata = metadata_files(d.sources, d.metadata or [], bool(d.find_metadata))
    stats = {"ingest": ingest(d.sources, metadata, settings, out)}
    _log_ingest(stats["ingest"])
    if cfg.prepare.extract:
        stats["extract"] = _extract(cfg, out)
    ing = stats["ingest"]
    reused = ing.get("units_reused") == ing.get("units") and stats.get("extract", {}).get("reused", not cfg.prepare.extract)
    stats.get("extract", {}).pop("reused", None)
    write_text(out.prepare_stats, json.dumps(stats, indent=1))
    return {**stats, "reused": bool(reused)}


def _extract(cfg: DictConfig, out: RunFolder) -> dict:
    from pipeline.dataset.build import build_dataset
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    tex = cfg.tex  # the preamble equations are judged in decides which commands are "known"
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    known = known_commands(preamble, Path(tex.cache_dir) if tex.cache_dir else None)
    e = build_dataset(out, known, dataset_settings(cfg))
    e["known_commands"] = len(known)
    e["preamble_hash"] = preamble.hash
    log.info(
        "extract: %d papers, %d display equations found, %d kept (%.1f%%; %.1f%% where macros are present), "
        "vocabulary %d, %.1f s", e["papers"], e["equations_found"], e["equations_kept"],
        100 * (e["kept_fraction"] or 0), 100 * (e["kept_fraction_with_macros_present"] or 0), e["vocab_size"],
        e["seconds"],
    )
    return e


def _log_ingest(s: dict) -> None:
    log.info(
        "ingest: %d papers found, %d selected, %d flattened (%.1f%%), %d skipped %s, %.1f s",
        s["papers_found"], s["selection"]["after"], s["papers_flattened"],
        100 * (s["flattened_fraction"] or 0), sum(s["skipped"].values()), s["skipped"], s["seconds"],
    )
