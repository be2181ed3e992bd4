"""The ingest half of prepare's merge: what needs every unit, decided from the units' manifests.

Units are ingested on their own (ingest.py), in one process or in shards on many machines. Here,
in source order: an id already seen in an earlier unit is a duplicate (its flattened copy, if any,
is listed in the flat index's `duplicates` and never extracted into the dataset), and the counts,
`skipped.jsonl` and the flat index are made, so one unsharded run and any sharding of it give the
same files. Memory: 8-byte hashes and a flag per paper id, in arrays; one unit's manifest at a time.
"""
from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from pipeline.atomic import atomic_open, write_bytes, write_text
from pipeline.skips import REASONS
from pipeline.sources.discover import Unit, discover
from pipeline.sources.ingest import FORMAT_VERSION, IngestSettings, ingest_units, settings_hash, skip_line
from pipeline.sources.select import Selection
from pipeline.sources.shards import ShardPlace, shard_of


class ShardsNotReady(Exception):
    """Some shards are missing, unfinished, or were made from other sources or settings."""

    def __init__(self, shards: list[int], num_shards: int) -> None:
        self.shards, self.num_shards = shards, num_shards
        super().__init__(f"shards {', '.join(map(str, shards))} of {num_shards} are not ready")


def write_shard_manifest(place: ShardPlace, done: dict) -> None:
    """Written last, so a shard with a manifest is a finished one."""
    write_text(place.manifest, json.dumps({"shard": place.shard, "num_shards": place.num_shards, **done}, indent=1))


def gather_units(units: list[Unit], prepared: Path, num_shards: int, config_hash: str,
                 unit_ready: Callable[[ShardPlace, str], bool] | None = None) -> tuple[list[tuple[str, Path]], dict]:
    """Every unit's key and flat folder, in source order, from the shard it hashes to, plus a
    summary of the shard manifests (metadata, units reused, seconds); raises ShardsNotReady naming each
    shard that lacks its manifest or a current unit (`unit_ready`: a further check, e.g. extraction)."""
    places = [ShardPlace.of(prepared, i, num_shards) for i in range(num_shards)]
    stale: set[int] = set()
    summary = {"metadata": None, "units_reused": 0, "seconds": 0.0, "extract_seconds": 0.0}
    for place in places:
        try:
            sm = json.loads(place.manifest.read_text())
        except (OSError, ValueError):
            stale.add(place.shard)
            continue
        if sm.get("settings") != config_hash:
            stale.add(place.shard)
            continue
        summary["metadata"] = summary["metadata"] or sm["metadata"]
        summary["units_reused"] += sm.get("units_reused", 0)
        summary["seconds"] += sm.get("seconds", 0.0)
        summary["extract_seconds"] += sm.get("extract_seconds", 0.0)
    manifests = []
    for unit in units:
        place = places[shard_of(unit.key, num_shards)]
        if place.shard in stale:
            continue
        try:
            m = json.loads((place.flat / f"{unit.key}.done.json").read_text())
        except (OSError, ValueError):
            stale.add(place.shard)
            continue
        if (m.get("fingerprint") != unit.fingerprint or m.get("settings") != config_hash
                or (unit_ready is not None and not unit_ready(place, unit.key))):
            stale.add(place.shard)
            continue
        manifests.append((unit.key, place.flat))
    if stale:
        raise ShardsNotReady(sorted(stale), num_shards)
    return manifests, summary


def ingest(sources: Iterable[str | Path], metadata: Iterable[str | Path], settings: IngestSettings, prepared: Path) -> dict:
    """Unsharded ingest of every source into `prepared` (flat/, skipped.jsonl, flat/index.json): the one
    shard of one and its merge. Returns the stats."""
    units = discover(list(sources))
    metadata = [Path(m) for m in metadata]
    place = ShardPlace.of(prepared, 0, 1)
    write_shard_manifest(place, ingest_units(units, metadata, settings, place))
    manifests, summary = gather_units(units, prepared, 1, settings_hash(settings, metadata))
    stats = merge_units(manifests, summary["metadata"] or {}, settings.selection, prepared / "skipped.jsonl",
                        place.flat / "index.json")
    return stats | {"units_reused": summary["units_reused"], "seconds": round(summary["seconds"], 2)}


def _id_hash(pid: str) -> int:
    return int.from_bytes(hashlib.blake2b(pid.encode(), digest_size=8).digest(), "big")


def _manifest(flat_dir: Path, key: str) -> dict:
    return json.loads((flat_dir / f"{key}.done.json").read_text())


def _first_occurrences(units: list[tuple[str, Path]]) -> np.ndarray:
    """For every entry with an id, in source order: is it the first with that id? Two passes over the
    manifests and 8-byte hashes sorted in an array: memory per paper is a few bytes, not an object."""
    hashes = array("Q")
    for key, flat_dir in units:
        hashes.extend(_id_hash(pid) for pid, *_ in _manifest(flat_dir, key)["items"] if pid is not None)
    first = np.zeros(len(hashes), dtype=bool)
    if len(hashes):
        _, index = np.unique(np.frombuffer(hashes, dtype=np.uint64), return_index=True)
        first[index] = True
    return first


def merge_units(units: list[tuple[str, Path]], metadata: dict, selection: Selection, skipped_out: Path,
                index_out: Path) -> dict:
    """`units`: each unit's key and flat folder, in source order (their done manifests are read one at a
    time); `metadata`: a shard manifest's metadata part (every shard reads the same files). Writes
    `skipped_out` and `index_out` and returns ingest's stats."""
    total: Counter = Counter()
    skipped: Counter = Counter()
    excluded: Counter = Counter()
    by_kind: dict[str, Counter] = {}
    first = _first_occurrences(units)
    j = 0  # entries with an id so far
    with_meta = 0
    duplicates: dict[str, list[str]] = {}
    shard_files: list[str] = []
    index_out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(skipped_out) as fh:
        for where, why in metadata.get("bad_lines") or []:
            fh.write(skip_line(None, where, "bad_metadata_line", why) + "\n")
        for key, flat_dir in units:
            m = _manifest(flat_dir, key)
            name = os.path.relpath(flat_dir / f"{key}.jsonl.gz", index_out.parent)
            shard_files.append(name)
            kind = by_kind.setdefault(m["kind"], Counter())
            later: list[str] = []
            for pid, code, has_meta, source in m["items"]:
                later_line = None
                if pid is not None:
                    total["found"] += 1
                    kind["found"] += 1
                    if first[j]:
                        with_meta += bool(has_meta)
                    elif code != "b:duplicate_id":  # an earlier unit had it (inside one unit: already a skip)
                        if code in ("ok", "okf"):
                            later.append(pid)
                        code = "b:duplicate_id"
                        later_line = skip_line(pid, source, "duplicate_id", "")
                    j += 1
                what, _, reason = code.partition(":")
                if what in ("ok", "okf"):
                    total["selected"] += 1
                    total["flattened"] += 1
                    total["encoding_fallback"] += what == "okf"
                    kind["selected"] += 1
                    kind["flattened"] += 1
                elif what == "x":
                    excluded[reason] += 1
                else:
                    skipped[reason] += 1
                    kind["skipped"] += 1
                    if what == "s":
                        total["selected"] += 1
                        kind["selected"] += 1
                if later_line is not None:
                    fh.write(later_line + "\n")
            fh.write((flat_dir / f"{key}.skipped.jsonl").read_text(encoding="utf-8"))
            if later:
                duplicates[name] = later
    n_ids = int(first.sum())
    index = {"format_version": FORMAT_VERSION, "shards": shard_files, "duplicates": duplicates}
    write_bytes(index_out, json.dumps(index, indent=1).encode())
    if metadata.get("bad_lines"):
        skipped["bad_metadata_line"] += len(metadata["bad_lines"])
    selected = total["selected"]
    return {
        "papers_found": total["found"],
        "selection": {
            "before": total["found"] - skipped["duplicate_id"],
            "after": selected,
            "excluded_by": dict(excluded),
            "filters": asdict(selection),
        },
        "papers_flattened": total["flattened"],
        "papers_duplicated_across_units": sum(len(v) for v in duplicates.values()),
        "flattened_fraction": round(total["flattened"] / selected, 4) if selected else None,
        "papers_needing_encoding_fallback": total["encoding_fallback"],
        "skipped": dict(sorted(skipped.items())),
        "skip_reasons": {k: REASONS[k] for k in sorted(skipped)},
        "by_source_kind": {k: {f: v[f] for f in ("found", "selected", "flattened", "skipped")} for k, v in by_kind.items()},
        "metadata": {"files": metadata.get("files") or [], "lines_read": metadata.get("lines_read", 0),
                     "papers_with_metadata": with_meta, "bad_lines": len(metadata.get("bad_lines") or []),
                     "paper_ids": n_ids, "fraction": round(with_meta / n_ids, 4) if n_ids else None},
        "units": len(units),
    }
