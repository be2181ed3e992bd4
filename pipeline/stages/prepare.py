"""prepare: sources -> flattened papers -> equations, prose, vocabulary, token streams, splits.

Two halves. Per unit of the sources (a bulk tar, a batch of files or folders), ingest writes
flat/ and extraction extracted/: in prepared/ itself, or, with `prepare.shard=i
prepare.num_shards=N`, for the units of shard i only, in prepared/shards/<i>-of-<N>/ (any machine,
any order, e.g. a SLURM job array: docs/scale.md). The merge then does what needs every unit: ids
repeated across units, skipped.jsonl, papers.jsonl, equations.jsonl, vocab.json, tokens/ and
stats.json; an unsharded run is shard 0 of 1 and its merge, the same code. Formats: docs/formats.md.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig

from pipeline.dataset.settings import DatasetSettings
from pipeline.dataset.splits import check_fractions
from pipeline.errors import StageError
from pipeline.runfolder import RunFolder
from pipeline.sources.discover import discover
from pipeline.sources.ingest import IngestSettings
from pipeline.sources.metadata import metadata_files
from pipeline.sources.paper import Limits
from pipeline.sources.select import Selection

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
    p = cfg.prepare
    return DatasetSettings(
        max_tokens=int(p.max_tokens), min_count=int(p.min_count), split=check_fractions(p.split),
        split_salt=str(p.split_salt), workers=int(p.workers or os.cpu_count() or 1),
        in_flight=int(p.extract_in_flight), progress=bool(p.progress),
        groups={str(k): tuple(v) for k, v in (p.groups or {}).items()}, macros_lost=tuple(p.macros_lost or ()),
    )


def _shard_settings(cfg: DictConfig) -> tuple[int | None, int]:
    shard, n = cfg.prepare.shard, cfg.prepare.num_shards
    if not isinstance(n, int) or n < 1:
        raise StageError(f"prepare.num_shards={n}: give a whole number of shards, 1 or more")
    if shard is not None and (not isinstance(shard, int) or not 0 <= shard < n):
        raise StageError(f"prepare.shard={shard}: give a shard from 0 to {n - 1} (prepare.num_shards={n}), "
                         "or leave it out to merge the finished shards")
    return shard, n


def record_as(cfg: DictConfig) -> str:
    shard, n = cfg.prepare.get("shard"), cfg.prepare.get("num_shards", 1)
    if shard is not None:
        return f"prepare shard {shard}/{n}"
    return "prepare merge" if n != 1 else "prepare"


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    from pipeline.dataset.job import PrepareJob, merge, prepare_shard

    d = cfg.data
    shard, n = _shard_settings(cfg)
    # Shards are one run's parts wherever they run (a sweep job included): they go to the run's own folder.
    out = folder.for_output() if shard is None else RunFolder.at(folder.root)
    out.prepared.mkdir(parents=True, exist_ok=True)
    extract = bool(cfg.prepare.extract)
    job = PrepareJob(out=out, units=discover(list(d.sources)),
                     metadata=[Path(m) for m in metadata_files(d.sources, d.metadata or [], bool(d.find_metadata))],
                     ingest=ingest_settings(cfg), dataset=dataset_settings(cfg) if extract else None,
                     known=_known_commands(cfg) if extract else None)
    if shard is None and n > 1:
        return merge(job, n)
    done = prepare_shard(job, shard or 0, n)
    if shard is None:
        return merge(job, 1)
    log.info("prepare: shard %s of %d done; when every shard is, merge them: python -m pipeline stage=prepare "
             "prepare.num_shards=%d", shard, n, n)
    return {"shard": f"{shard}-of-{n}", "units": len(done["units"]), "reused": done["reused"]}


def _known_commands(cfg: DictConfig):
    from pipeline.dataset.job import Known
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    tex = cfg.tex  # the preamble equations are judged in decides which commands are "known"
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    return Known(known_commands(preamble, Path(tex.cache_dir) if tex.cache_dir else None), preamble.hash)
