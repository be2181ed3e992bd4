"""Prepare's decisions around ingest, extraction and assembly: one shard's work, and the merge.

The stage builds the settings from config and hands them over as a `PrepareJob`; this module knows no
config system. A shard ingests and extracts its units into its folder and writes its manifest last;
the merge gathers every unit from the shard it hashes to, refuses (naming them) shards that are
missing, unfinished or made from other settings, and does what needs the whole corpus
(sources/merge.py, then build.py's assembly). An unsharded run is shard 0 of 1 and the merge.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pipeline.atomic import write_text
from pipeline.dataset.settings import DatasetSettings
from pipeline.errors import StageError
from pipeline.runfolder import RunFolder
from pipeline.sources.discover import Unit
from pipeline.sources.ingest import IngestSettings, ingest_units, settings_hash
from pipeline.sources.merge import ShardsNotReady, gather_units, merge_units, write_shard_manifest
from pipeline.sources.shards import ShardPlace, slice_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Known:
    """The commands the judging preamble knows (extraction keeps equations by them), and its hash."""

    commands: Mapping[str, int | None]
    preamble_hash: str


@dataclass(frozen=True)
class PrepareJob:
    out: RunFolder                   # the run folder prepared/ is written in
    units: list[Unit]                # every unit of the sources, in source order
    metadata: list[Path]
    ingest: IngestSettings
    dataset: DatasetSettings | None  # None: ingest only (prepare.extract=false)
    known: Known | None


def prepare_shard(job: PrepareJob, shard: int, num_shards: int) -> dict:
    """Ingest and extract the units of `shard` into its folder, and write its manifest last."""
    from pipeline.dataset.extraction import extract_units, is_extracted

    place = ShardPlace.of(job.out.prepared, shard, num_shards)
    mine = slice_of(job.units, shard, num_shards)
    log.info("prepare: shard %s: %d of %d units", place.name, len(mine), len(job.units))
    place.root.mkdir(parents=True, exist_ok=True)
    done = ingest_units(mine, job.metadata, job.ingest, place)
    if job.dataset is not None and job.known is not None:
        keys, known = done["units"], job.known.commands
        done["extracted_reused"] = all(is_extracted(place.flat, place.extracted, k, known, job.dataset) for k in keys)
        t0 = time.perf_counter()
        if keys or place.extracted.exists():
            extract_units(place.flat, place.extracted, keys, known, job.dataset)
        done["extract_seconds"] = round(time.perf_counter() - t0, 2)
        done["extracted"] = True
    write_shard_manifest(place, done)
    done["reused"] = done["units_reused"] == len(mine) and done.get("extracted_reused", job.dataset is None)
    return done


def merge(job: PrepareJob, num_shards: int) -> dict:
    """Everything that needs the whole corpus, from the shards' files: skipped.jsonl, the flat index, and
    (with extraction) papers, equations, vocabulary, streams; writes stats.json and returns it."""
    from pipeline.dataset.build import build_dataset
    from pipeline.dataset.extraction import is_extracted

    t0 = time.perf_counter()
    out, ds, known = job.out, job.dataset, job.known
    ready = None
    if ds is not None and known is not None:
        def ready(place: ShardPlace, key: str) -> bool:
            return is_extracted(place.flat, place.extracted, key, known.commands, ds)
    try:
        units, summary = gather_units(job.units, out.prepared, num_shards, settings_hash(job.ingest, job.metadata), ready)
    except ShardsNotReady as exc:
        if num_shards == 1:
            raise  # the shard was made just now: a bug, not a user's error
        todo = exc.shards
        raise StageError(
            f"{len(todo)} of {num_shards} shards in {out.prepared / 'shards'} are missing, unfinished or made from "
            f"other sources or settings: {', '.join(map(str, todo))}. Run them first (python -m pipeline stage=prepare "
            f"prepare.num_shards={num_shards} prepare.shard={todo[0]}, or all at once: python -m pipeline -m "
            f"stage=prepare prepare.num_shards={num_shards} prepare.shard={','.join(map(str, todo))}) with the same "
            "data and prepare settings as this merge") from None
    ing = merge_units(units, summary["metadata"] or {}, job.ingest.selection, out.output("skipped"),
                      out.output("flat_index"))
    ing["seconds"] = round(time.perf_counter() - t0 + summary["seconds"], 2)  # the shards' ingest, summed, and this merge
    ing["units_reused"] = summary["units_reused"]
    stats: dict = {"ingest": ing}
    _log_ingest(ing)
    # the shards' work is theirs to report; in an unsharded run it is this run's
    reused = num_shards > 1 or summary["units_reused"] == len(job.units)
    if ds is not None and known is not None:
        e = build_dataset(out, known.commands, ds)
        e["known_commands"], e["preamble_hash"] = len(known.commands), known.preamble_hash
        if not e.get("reused"):  # the shards' extraction, summed, and this merge's assembly
            e["seconds"] = round(e["seconds"] + summary["extract_seconds"], 2)
        reused = reused and bool(e.pop("reused", False))
        _log_extract(e)
        stats["extract"] = e
    write_text(out.prepare_stats, json.dumps(stats, indent=1))
    return {**stats, "reused": bool(reused)}


def _log_extract(e: dict) -> None:
    log.info(
        "extract: %d papers, %d display equations found, %d kept (%.1f%%; %.1f%% where macros are present), "
        "vocabulary %d, %.1f s", e["papers"], e["equations_found"], e["equations_kept"],
        100 * (e["kept_fraction"] or 0), 100 * (e["kept_fraction_with_macros_present"] or 0), e["vocab_size"],
        e["seconds"],
    )


def _log_ingest(s: dict) -> None:
    log.info(
        "ingest: %d papers found, %d selected, %d flattened (%.1f%%), %d skipped %s, %.1f s",
        s["papers_found"], s["selection"]["after"], s["papers_flattened"],
        100 * (s["flattened_fraction"] or 0), sum(s["skipped"].values()), s["skipped"], s["seconds"],
    )
