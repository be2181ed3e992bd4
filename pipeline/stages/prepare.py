"""prepare: sources -> flattened papers -> equations, prose, vocabulary, token streams, splits.

Two halves. Per unit of the sources (a bulk tar, a batch of files or folders), ingest writes
flat/ and extraction extracted/: in prepared/ itself, or, with `prepare.shard=i
prepare.num_shards=N`, for the units of shard i only, in prepared/shards/<i>-of-<N>/ (any machine,
any order, e.g. a SLURM job array: docs/scale.md). The merge then does what needs every unit: ids
repeated across units, skipped.jsonl, papers.jsonl, equations.jsonl, vocab.json, tokens/ and
stats.json; an unsharded run is shard 0 of 1 and its merge, the same code. Formats: docs/formats.md.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from pipeline.atomic import write_text
from pipeline.dataset.splits import check_fractions
from pipeline.errors import StageError
from pipeline.runfolder import RunFolder
from pipeline.sources.discover import discover
from pipeline.sources.ingest import IngestSettings, ingest_units
from pipeline.sources.merge import ShardsNotReady, gather_units, merge_units, write_shard_manifest
from pipeline.sources.metadata import metadata_files
from pipeline.sources.paper import Limits
from pipeline.sources.select import Selection
from pipeline.sources.shards import ShardPlace, slice_of

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
    d = cfg.data
    shard, n = _shard_settings(cfg)
    # Shards are one run's parts wherever they run (a sweep job included): they go to the run's own folder.
    out = folder.for_output() if shard is None else RunFolder.at(folder.root)
    out.prepared.mkdir(parents=True, exist_ok=True)
    units = discover(list(d.sources))
    metadata = metadata_files(d.sources, d.metadata or [], bool(d.find_metadata))
    settings = ingest_settings(cfg)
    known = _known_commands(cfg) if cfg.prepare.extract else None
    if shard is not None or n == 1:
        place = ShardPlace.of(out.prepared, shard or 0, n)
        mine = slice_of(units, place.shard, n)
        log.info("prepare: shard %s: %d of %d units", place.name, len(mine), len(units))
        done = _prepare_shard(cfg, mine, metadata, settings, known, place)
        if shard is not None:
            log.info("prepare: shard %s done in %s; when every shard is, merge them: python -m pipeline stage=prepare "
                     "prepare.num_shards=%d", place.name, place.root, n)
            return {"shard": place.name, "units": len(mine), "reused": done["units_reused"] == len(mine)
                    and done.get("extracted_reused", not cfg.prepare.extract)}
    return _merge(cfg, out, units, metadata, settings, known, n)


def _known_commands(cfg: DictConfig):
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    tex = cfg.tex  # the preamble equations are judged in decides which commands are "known"
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    return known_commands(preamble, Path(tex.cache_dir) if tex.cache_dir else None), preamble.hash


def _prepare_shard(cfg: DictConfig, units, metadata, settings: IngestSettings, known, place: ShardPlace) -> dict:
    """Ingest and extract one shard's units into its folder, and write its manifest last."""
    place.root.mkdir(parents=True, exist_ok=True)
    done = ingest_units(units, metadata, settings, place)
    if known is not None:
        from pipeline.dataset.build import extract_units, is_extracted

        ds = dataset_settings(cfg)
        keys = done["units"]
        done["extracted_reused"] = all(is_extracted(place.flat, place.extracted, k, known[0], ds) for k in keys)
        t0 = time.perf_counter()
        if keys or place.extracted.exists():
            extract_units(place.flat, place.extracted, keys, known[0], ds)
        done["extract_seconds"] = round(time.perf_counter() - t0, 2)
        done["extracted"] = True
    write_shard_manifest(place, done)
    return done


def _merge(cfg: DictConfig, out: RunFolder, units, metadata, settings: IngestSettings, known, n: int) -> dict:
    """Everything that needs the whole corpus, from the shards' files; refuses while a shard is missing or stale."""
    from pipeline.dataset.build import is_extracted
    from pipeline.sources.ingest import settings_hash

    t0 = time.perf_counter()
    ds = dataset_settings(cfg) if known is not None else None
    ready = (lambda place, key: is_extracted(place.flat, place.extracted, key, known[0], ds)) if known is not None else None
    try:
        manifests, summary = gather_units(units, out.prepared, n, settings_hash(settings, [Path(m) for m in metadata]), ready)
    except ShardsNotReady as exc:
        todo = exc.shards
        if n == 1:
            raise  # the shard was made just now: a bug, not a user's error
        raise StageError(
            f"{len(todo)} of {n} shards in {out.prepared / 'shards'} are missing, unfinished or made from other "
            f"sources or settings: {', '.join(map(str, todo))}. Run them first (python -m pipeline stage=prepare "
            f"prepare.num_shards={n} prepare.shard={todo[0]}, or all at once: python -m pipeline -m stage=prepare "
            f"prepare.num_shards={n} prepare.shard={','.join(map(str, todo))}) with the same data and prepare "
            "settings as this merge") from None
    ing = merge_units(manifests, summary["metadata"] or {}, settings.selection, out.output("skipped"),
                      out.output("flat_index"))
    ing["seconds"] = round(time.perf_counter() - t0 + summary["seconds"], 2)  # the shards' ingest, summed, and this merge
    ing["units_reused"] = summary["units_reused"]
    stats = {"ingest": ing}
    _log_ingest(ing)
    # the shards' work is theirs to report; in an unsharded run it is this run's
    reused = n > 1 or summary["units_reused"] == len(units)
    if known is not None:
        stats["extract"] = _extract(out, known, ds)
        if not stats["extract"].get("reused"):  # the shards' extraction, summed, and this merge's assembly
            stats["extract"]["seconds"] = round(stats["extract"]["seconds"] + summary["extract_seconds"], 2)
        reused = reused and stats["extract"].pop("reused", False)
    write_text(out.prepare_stats, json.dumps(stats, indent=1))
    return {**stats, "reused": bool(reused)}


def _extract(out: RunFolder, known, ds) -> dict:
    from pipeline.dataset.build import build_dataset

    e = build_dataset(out, known[0], ds)
    e["known_commands"] = len(known[0])
    e["preamble_hash"] = known[1]
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
