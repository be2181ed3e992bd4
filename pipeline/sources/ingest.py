"""Ingest: sources to flattened papers, one resumable file set per unit (format: docs/formats.md).

Each unit of work (see discover.py) becomes `flat/<key>.jsonl.gz` plus its skipped lines and a
`<key>.done.json` manifest, each written to a temporary name and renamed, so a unit's files either
exist whole or not at all. A re-run skips every unit whose manifest matches its input fingerprint
and the settings; an interrupted run resumes at the first unfinished unit. Units are ingested on
their own, so any slice of them (a shard, shards.py) can be ingested anywhere; what needs every
unit (ids repeated across units, counts, skipped.jsonl) is merge.py's.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from pipeline.atomic import atomic_open, write_bytes
from pipeline.fingerprint import code_fingerprint
from pipeline.parallel import bounded_map
from pipeline.progress import bar as progress_bar
from pipeline.skips import Skip
from pipeline.sources.discover import Bad, Unit
from pipeline.sources.metadata import join_metadata
from pipeline.sources.paper import Limits, RawPaper, ingest_paper
from pipeline.sources.select import Selection
from pipeline.sources.shards import ShardPlace

log = logging.getLogger(__name__)

# Bump when the shard format or the flattening rules change: old shards are then redone.
FORMAT_VERSION = 2  # 2: units ingested on their own, manifests list every entry (`items`)


def _work(raw: RawPaper, limits: Limits) -> tuple[str, str, str, bool]:
    """(status, payload, detail, encoding_fallback): status 'ok' with the record's JSON line, or
    'skip' with the reason. Runs in a worker process."""
    try:
        record = ingest_paper(raw, limits)
        return "ok", json.dumps(record, ensure_ascii=False), "", record["encoding_fallback"]
    except Skip as skip:
        return "skip", skip.reason, skip.detail, False
    except RecursionError:
        return "skip", "input_too_deep", "recursion limit", False
    except Exception as exc:  # one bad paper never stops a run
        return "skip", "internal_error", f"{type(exc).__name__}: {exc}", False


@dataclass
class IngestSettings:
    limits: Limits
    selection: Selection
    workers: int
    in_flight: int
    progress: bool


def settings_hash(settings: IngestSettings, metadata: list[Path]) -> str:
    meta_fp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in metadata if p.exists()]
    # what a unit's files depend on; not merge.py or shards.py: a change to the merge redoes no shard
    units = [f"sources/{m}.py" for m in ("archive", "discover", "ids", "ingest", "metadata", "paper", "select",
                                          "text_encoding")]
    code = code_fingerprint(*units, "skips.py", "latex/comments.py", "latex/flatten.py", "latex/scan.py")
    blob = json.dumps([FORMAT_VERSION, code, asdict(settings.limits), asdict(settings.selection), meta_fp], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def skip_line(pid: str | None, source: str, reason: str, detail: str) -> str:
    return json.dumps({"id": pid, "source": source, "reason": reason, "detail": detail}, ensure_ascii=False)


def ingest_units(
    units: list[Unit],
    metadata: Iterable[str | Path],
    settings: IngestSettings,
    place: ShardPlace,
) -> dict:
    """Ingest `units` into `place`'s flat folder, one file set per unit, each unit on its own: which
    ids repeat across units is the merge's to decide (merge.py), so that a shard's files do not depend
    on what other shards hold. Returns what the shard's manifest records (merge.write_shard_manifest
    writes it once extraction is done too)."""
    t0 = time.perf_counter()
    flat_dir = place.flat
    flat_dir.mkdir(parents=True, exist_ok=True)
    metadata = [Path(m) for m in metadata]
    config_hash = settings_hash(settings, metadata)

    wanted: set[str] = set()
    for unit in units:
        wanted.update(n for n in unit.names() if n)
    joined = join_metadata(metadata, wanted, place.metadata_db)
    meta = joined.records
    n_ids = len(wanted)
    del wanted  # ids only matter for the join
    log.info("%d units, %d paper ids, metadata for %d of them (%d lines read from %s)", len(units), n_ids, len(meta),
             joined.lines, ", ".join(map(str, metadata)) or "no file")
    if n_ids and len(meta) < n_ids / 2:
        # Titles, abstracts, categories and licences come from metadata: topics, selection and
        # licence filters work poorly without them, so say so loudly rather than go on silently.
        log.warning(
            "only %d of %d papers (%.0f%%) have metadata (files read: %s). Put the arXiv metadata snapshot "
            "(arxiv-metadata*.jsonl) or a metadata.jsonl beside the sources, or name it with data.metadata=[FILE]",
            len(meta), n_ids, 100 * len(meta) / n_ids, ", ".join(map(str, metadata)) or "none")

    bar = progress_bar(n_ids, "ingest", "paper", enabled=settings.progress)

    work = functools.partial(_work, limits=settings.limits)
    # One pool for the whole run; forked before the work starts, while this process is small.
    pool = ProcessPoolExecutor(max_workers=settings.workers) if settings.workers > 1 else None
    try:
        manifests, n_reused = _run_units(units, meta, settings, work, flat_dir, config_hash, bar, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar:
            bar.close()

    # Files of units no longer in this shard would be read by later stages: remove them.
    current = {m["key"] for m in manifests}
    for path in flat_dir.iterdir():
        if path.name.split(".", 1)[0] not in current:
            path.unlink()
    if n_reused:
        log.info("ingest: %d of %d units unchanged since the last run, reused", n_reused, len(units))
    return {
        "units": [m["key"] for m in manifests],
        "units_reused": n_reused,
        "settings": config_hash,
        "metadata": {"files": [str(p) for p in metadata], "lines_read": joined.lines,
                     "bad_lines": [list(b) for b in joined.bad_lines]},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _run_units(units, meta, settings, work, flat_dir, config_hash, bar, pool) -> tuple[list[dict], int]:
    manifests, reused = [], 0
    for unit in units:
        done_path = flat_dir / f"{unit.key}.done.json"
        if done_path.exists() and (flat_dir / f"{unit.key}.jsonl.gz").exists():
            done = json.loads(done_path.read_text())
            if done.get("fingerprint") == unit.fingerprint and done.get("settings") == config_hash:
                manifests.append(done)
                if bar:
                    bar.update(len(done["items"]))
                log.debug("unit %s: already done, reused", unit.label)
                reused += 1
                continue
        manifests.append(_run_unit(unit, meta, settings, work, flat_dir, config_hash, bar, pool))
    return manifests, reused


def _run_unit(unit: Unit, meta, settings: IngestSettings, work, flat_dir: Path, config_hash: str, bar, pool) -> dict:
    # Every entry with what became of it, in order: the merge counts papers and finds ids repeated
    # across units from these alone (ITEM_CODES), without reading the papers again.
    items: list[list] = []
    skip_lines: list[str] = []
    seen: set[str] = set()  # ids repeated inside this unit; across units: merge.py

    def selected_items():
        for item in unit.items(settings.limits.max_paper_bytes):
            if isinstance(item, Bad):
                yield item
                continue
            if item.id in seen:
                yield Bad(item.id, item.source, "duplicate_id", "")
                continue
            seen.add(item.id)
            item.meta = meta.get(item.id)
            why = settings.selection.reject_reason(item.meta)
            if why:
                items.append([item.id, f"x:{why}", item.meta is not None, item.source])
                if bar:
                    bar.update(1)
                continue
            yield item

    shard = flat_dir / f"{unit.key}.jsonl.gz"
    with atomic_open(shard, "wt", opener=gzip.open, compresslevel=3) as out:
        for item, result in bounded_map(work, selected_items(), pool, settings.in_flight,
                                        passthrough=lambda it: isinstance(it, Bad)):
            has_meta = item.meta is not None if not isinstance(item, Bad) else (item.id is not None and item.id in meta)
            if isinstance(item, Bad):
                code, reason, detail = f"b:{item.reason}", item.reason, item.detail
            else:
                status, payload, detail, fallback = result
                if status == "ok":
                    out.write(payload + "\n")
                    items.append([item.id, "okf" if fallback else "ok", has_meta, item.source])
                    if bar:
                        bar.update(1)
                    continue
                code, reason = f"s:{payload}", payload
            items.append([item.id, code, has_meta, item.source])
            skip_lines.append(skip_line(item.id, item.source, reason, detail))
            log.warning("skipped %s (%s): %s%s", item.id or "-", item.source, reason, f" ({detail})" if detail else "")
            if bar and item.id is not None:
                bar.update(1)
    write_bytes(flat_dir / f"{unit.key}.skipped.jsonl", "".join(line + "\n" for line in skip_lines).encode())
    manifest = {
        "key": unit.key,
        "label": unit.label,
        "kind": unit.kind,
        "fingerprint": unit.fingerprint,
        "settings": config_hash,
        "items": items,
    }
    write_bytes(flat_dir / f"{unit.key}.done.json", json.dumps(manifest, ensure_ascii=False).encode())
    return manifest
