"""Ingest: every source to flattened papers, in resumable shards (format: docs/formats.md).

Each unit of work (see discover.py) becomes one shard `flat/<key>.jsonl.gz` plus its skipped
lines and a `<key>.done.json` manifest, each written to a temporary name and renamed, so a shard
either exists whole or not at all. A re-run skips every unit whose manifest matches its input
fingerprint and the settings; an interrupted run resumes at the first unfinished unit.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from pipeline.atomic import atomic_open, write_bytes
from pipeline.fingerprint import code_fingerprint
from pipeline.parallel import bounded_map
from pipeline.progress import bar as progress_bar
from pipeline.runfolder import RunFolder
from pipeline.skips import REASONS, Skip
from pipeline.sources.discover import Bad, Unit, discover
from pipeline.sources.metadata import join_metadata
from pipeline.sources.paper import Limits, RawPaper, ingest_paper
from pipeline.sources.select import Selection

log = logging.getLogger(__name__)

# Bump when the shard format or the flattening rules change: old shards are then redone.
FORMAT_VERSION = 1


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


def _settings_hash(settings: IngestSettings, metadata: list[Path]) -> str:
    meta_fp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in metadata if p.exists()]
    code = code_fingerprint("sources/*.py", "skips.py", "latex/comments.py", "latex/flatten.py", "latex/scan.py")
    blob = json.dumps([FORMAT_VERSION, code, asdict(settings.limits), asdict(settings.selection), meta_fp], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _skip_line(pid: str | None, source: str, reason: str, detail: str) -> str:
    return json.dumps({"id": pid, "source": source, "reason": reason, "detail": detail}, ensure_ascii=False)


def ingest(
    sources: Iterable[str | Path],
    metadata: Iterable[str | Path],
    settings: IngestSettings,
    folder: RunFolder,
) -> dict:
    """Ingest every source into the run folder's `flat` shards (with `skipped` and `flat_index`); returns
    the stats."""
    t0 = time.perf_counter()
    flat_dir = folder.output("flat")
    flat_dir.mkdir(parents=True, exist_ok=True)
    units = discover(list(sources))
    metadata = [Path(m) for m in metadata]
    config_hash = _settings_hash(settings, metadata)

    wanted: set[str] = set()
    for unit in units:
        wanted.update(n for n in unit.names() if n)
    joined = join_metadata(metadata, wanted, folder.output("metadata_db"))
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
    seen: set[str] = set()
    # One pool for the whole run; forked before the work starts, while this process is small.
    pool = ProcessPoolExecutor(max_workers=settings.workers) if settings.workers > 1 else None
    try:
        manifests, n_reused = _run_units(units, meta, settings, work, seen, flat_dir, config_hash, bar, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar:
            bar.close()

    # Shards of units no longer in the sources would be read by later stages: remove them.
    current = {m["key"] for m in manifests}
    for path in flat_dir.iterdir():
        if path.name.split(".", 1)[0] not in current:
            path.unlink()

    stats = _merge(manifests, joined, settings, time.perf_counter() - t0)
    stats["units"], stats["units_reused"] = len(units), n_reused
    if n_reused:
        log.info("ingest: %d of %d units unchanged since the last run, reused", n_reused, len(units))
    stats["metadata"] |= {"files": [str(p) for p in metadata], "paper_ids": n_ids,
                          "fraction": round(len(meta) / n_ids, 4) if n_ids else None}
    with atomic_open(folder.output("skipped")) as fh:
        for where, why in joined.bad_lines:
            fh.write(_skip_line(None, where, "bad_metadata_line", why) + "\n")
        for m in manifests:
            skipped = flat_dir / f"{m['key']}.skipped.jsonl"
            if skipped.exists():
                fh.write(skipped.read_text(encoding="utf-8"))
    index = {"format_version": FORMAT_VERSION, "shards": [f"{m['key']}.jsonl.gz" for m in manifests]}
    write_bytes(folder.output("flat_index"), json.dumps(index, indent=1).encode())
    return stats


def _run_units(units, meta, settings, work, seen, flat_dir, config_hash, bar, pool) -> tuple[list[dict], int]:
    manifests, reused = [], 0
    before = hashlib.sha1()  # the units read earlier decide which ids are duplicates in this one
    for unit in units:
        unit_hash = hashlib.sha1(f"{config_hash}{before.hexdigest()}".encode()).hexdigest()[:16]
        before.update(f"{unit.key}:{unit.fingerprint}\n".encode())
        done_path = flat_dir / f"{unit.key}.done.json"
        if done_path.exists() and (flat_dir / f"{unit.key}.jsonl.gz").exists():
            done = json.loads(done_path.read_text())
            if done.get("fingerprint") == unit.fingerprint and done.get("settings") == unit_hash:
                seen.update(n for n in unit.names() if n)
                manifests.append(done)
                if bar:
                    bar.update(done["stats"]["found"])
                log.debug("unit %s: already done, reused", unit.label)
                reused += 1
                continue
        manifests.append(_run_unit(unit, meta, settings, work, seen, flat_dir, unit_hash, bar, pool))
    return manifests, reused


def _run_unit(unit: Unit, meta, settings: IngestSettings, work, seen: set[str], flat_dir: Path,
              config_hash: str, bar, pool) -> dict:
    stats: Counter = Counter()
    skipped_by: Counter = Counter()
    excluded_by: Counter = Counter()
    skip_lines: list[str] = []

    def selected_items():
        for item in unit.items(settings.limits.max_paper_bytes):
            if isinstance(item, Bad):
                stats["found"] += item.id is not None  # a truncated bulk tar is not a paper
                yield item
                continue
            stats["found"] += 1
            if item.id in seen:
                yield Bad(item.id, item.source, "duplicate_id", "")
                continue
            seen.add(item.id)
            item.meta = meta.get(item.id)
            why = settings.selection.reject_reason(item.meta)
            if why:
                excluded_by[why] += 1
                if bar:
                    bar.update(1)
                continue
            stats["selected"] += 1
            yield item

    shard = flat_dir / f"{unit.key}.jsonl.gz"
    with atomic_open(shard, "wt", opener=gzip.open, compresslevel=3) as out:
        for item, result in bounded_map(work, selected_items(), pool, settings.in_flight,
                                        passthrough=lambda it: isinstance(it, Bad)):
            if isinstance(item, Bad):
                reason, detail = item.reason, item.detail
            else:
                status, payload, detail, fallback = result
                if status == "ok":
                    out.write(payload + "\n")
                    stats["flattened"] += 1
                    stats["encoding_fallback"] += fallback
                    if bar:
                        bar.update(1)
                    continue
                reason = payload
            skipped_by[reason] += 1
            skip_lines.append(_skip_line(item.id, item.source, reason, detail))
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
        "stats": {
            "found": stats["found"],
            "selected": stats["selected"],
            "flattened": stats["flattened"],
            "encoding_fallback": stats["encoding_fallback"],
            "skipped": dict(skipped_by),
            "excluded_by": dict(excluded_by),
        },
    }
    write_bytes(flat_dir / f"{unit.key}.done.json", json.dumps(manifest, indent=1).encode())
    return manifest


def _merge(manifests: list[dict], joined, settings: IngestSettings, seconds: float) -> dict:
    total: Counter = Counter()
    skipped: Counter = Counter()
    excluded: Counter = Counter()
    by_kind: dict[str, Counter] = {}
    for m in manifests:
        s = m["stats"]
        for k in ("found", "selected", "flattened", "encoding_fallback"):
            total[k] += s[k]
        skipped.update(s["skipped"])
        excluded.update(s["excluded_by"])
        kind = by_kind.setdefault(m["kind"], Counter())
        kind.update({k: s[k] for k in ("found", "selected", "flattened")})
        kind["skipped"] += sum(s["skipped"].values())
    if joined.bad_lines:
        skipped["bad_metadata_line"] += len(joined.bad_lines)
    selected = total["selected"]
    return {
        "papers_found": total["found"],
        "selection": {
            "before": total["found"] - skipped["duplicate_id"],
            "after": selected,
            "excluded_by": dict(excluded),
            "filters": asdict(settings.selection),
        },
        "papers_flattened": total["flattened"],
        "flattened_fraction": round(total["flattened"] / selected, 4) if selected else None,
        "papers_needing_encoding_fallback": total["encoding_fallback"],
        "skipped": dict(sorted(skipped.items())),
        "skip_reasons": {k: REASONS[k] for k in sorted(skipped)},
        "by_source_kind": {k: dict(v) for k, v in by_kind.items()},
        "metadata": {"lines_read": joined.lines, "papers_with_metadata": len(joined.records), "bad_lines": len(joined.bad_lines)},
        "units": len(manifests),
        "seconds": round(seconds, 2),
    }
