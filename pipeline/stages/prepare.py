"""prepare: read the sources and write flattened papers under outputs/<run>/prepared/.

Ingest (this file's first half) is sources -> flat/ shards + stats.json + skipped.jsonl.
"""
from __future__ import annotations

import json
import logging
import os

from omegaconf import DictConfig

from pipeline.runfolder import RunFolder
from pipeline.sources.ingest import IngestSettings, ingest
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
    stats = {"ingest": ingest(d.sources, d.metadata or [], settings, out.prepared)}
    tmp = out.prepare_stats.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stats, indent=1))
    os.replace(tmp, out.prepare_stats)
    s = stats["ingest"]
    log.info(
        "ingest: %d papers found, %d selected, %d flattened (%.1f%%), %d skipped %s, %.1f s",
        s["papers_found"], s["selection"]["after"], s["papers_flattened"],
        100 * (s["flattened_fraction"] or 0), sum(s["skipped"].values()), s["skipped"], s["seconds"],
    )
    return stats
