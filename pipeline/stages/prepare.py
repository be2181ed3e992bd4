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

from omegaconf import DictConfig

from pipeline.dataset.splits import check_fractions
from pipeline.runfolder import RunFolder
from pipeline.sources.ingest import IngestSettings, ingest
from pipeline.sources.metadata import metadata_files
from pipeline.sources.paper import Limits
from pipeline.sources.select import Selection

log = logging.getLogger(__name__)


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    p, d = cfg.prepare, cfg.data
    settings = IngestSettings(
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
    out = folder.for_output()
    out.prepared.mkdir(parents=True, exist_ok=True)
    metadata = metadata_files(d.sources, d.metadata or [], bool(d.get("find_metadata", True)))
    stats = {"ingest": ingest(d.sources, metadata, settings, out.prepared)}
    _log_ingest(stats["ingest"])
    if p.extract:
        stats["extract"] = _extract(cfg, out, settings)
    tmp = out.prepare_stats.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    os.replace(tmp, out.prepare_stats)
    return stats


def _extract(cfg: DictConfig, out: RunFolder, settings: IngestSettings) -> dict:
    p = cfg.prepare

    from pipeline.dataset.build import DatasetSettings, build_dataset
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    # pylatexenc logs every tolerated parse error at INFO: thousands of lines a run, none actionable.
    logging.getLogger("pylatexenc").setLevel(logging.WARNING)
    vc = cfg.validate  # the preamble equations are judged in decides which commands are "known"
    preamble = Preamble.from_settings(vc.preamble_file, vc.documentclass, vc.packages)
    known = known_commands(preamble, Path(vc.cache_dir) if vc.cache_dir else None)
    dsettings = DatasetSettings(
        max_tokens=int(p.max_tokens), min_count=int(p.min_count), split=dict(p.split),
        split_salt=str(p.split_salt), workers=settings.workers, progress=settings.progress,
    )
    check_fractions(dsettings.split)
    e = build_dataset(out.prepared / "flat", out.prepared, known, dsettings)
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
