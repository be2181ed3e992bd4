"""Step 1 of the dataset: extraction, per paper in a worker pool, resumable per unit.
`extracted/<key>.jsonl.gz` holds each paper of a flattened unit with its kept equations (already
tokenised), drop counts and prose (docs/formats.md). A unit is redone when its flattened input, the
settings, or the code named in `_settings_hash` changes: that list names the extraction's own
modules, so editing the assembly (pipeline/dataset/build.py) redoes no extraction.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, Mapping

from pipeline.atomic import atomic_open, write_text
from pipeline.dataset.settings import DatasetSettings
from pipeline.dataset.splits import split_of
from pipeline.fingerprint import code_fingerprint
from pipeline.parallel import bounded_map

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: rows start with the environment token; per-row paper index

_KNOWN: Mapping[str, int | None] = {}


def _init_worker(known: Mapping[str, int | None]) -> None:
    # The known-commands table is large; each worker gets it once instead of with every paper.
    global _KNOWN
    _KNOWN = known


def _extract(line: str, max_tokens: int, fractions: dict, salt: str) -> str:
    from pipeline.latex.extract import extract_paper

    rec = json.loads(line)
    meta = rec.get("meta") or {}
    out = {
        "id": rec["id"],
        "split": split_of(rec["id"], fractions, salt),
        "title": meta.get("title"),
        "categories": meta.get("categories") or "",
        "license": meta.get("license"),
        "field": meta.get("field"),
        "kind": meta.get("kind"),
        "source": rec.get("source"),
    }
    try:
        res = extract_paper(rec["latex"], rec.get("styles") or {}, _KNOWN, max_tokens,
                            title=meta.get("title"), abstract=meta.get("abstract"))
    except Exception as exc:  # one bad paper never stops a run
        out |= {"error": f"{type(exc).__name__}: {exc}", "found": 0, "dropped": {}, "undefined": {}, "diagrams": {},
                "prose_sections": [], "equations": []}
        return json.dumps(out, ensure_ascii=False)
    out |= {"found": res.found, "dropped": dict(res.dropped), "undefined": dict(res.undefined),
            "diagrams": dict(res.diagrams),
            "prose_sections": res.prose_sections, "equations": res.equations}
    return json.dumps(out, ensure_ascii=False)


def _flat_lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        yield from fh


def _settings_hash(settings: DatasetSettings, known: Mapping[str, int | None]) -> str:
    code = code_fingerprint("latex/*.py", "dataset/extraction.py", "dataset/splits.py", "data/*.tsv")
    blob = json.dumps([FORMAT_VERSION, code, settings.max_tokens, settings.split, settings.split_salt,
                       sorted(known.items(), key=lambda kv: kv[0])], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def extraction_fingerprint(flat_dir: Path, key: str, known: Mapping[str, int | None], settings: DatasetSettings) -> str:
    """What a unit's extraction was made from: its flat manifest and the extraction settings."""
    flat_manifest = (flat_dir / f"{key}.done.json").read_text()
    return hashlib.sha1((flat_manifest + _settings_hash(settings, known)).encode()).hexdigest()[:16]


def is_extracted(flat_dir: Path, ext_dir: Path, key: str, known: Mapping[str, int | None], settings: DatasetSettings) -> bool:
    manifest, target = ext_dir / f"{key}.done.json", ext_dir / f"{key}.jsonl.gz"
    try:
        done = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return done.get("fingerprint") == extraction_fingerprint(flat_dir, key, known, settings) and target.exists()


def extract_units(flat_dir: Path, ext_dir: Path, keys: list[str], known: Mapping[str, int | None],
                  settings: DatasetSettings) -> list[Path]:
    """Extract the units `keys` of one shard folder (reusing finished ones); returns their files in order."""
    ext_dir.mkdir(parents=True, exist_ok=True)
    todo, done_paths = [], []
    for key in keys:
        target = ext_dir / f"{key}.jsonl.gz"
        done_paths.append(target)
        if is_extracted(flat_dir, ext_dir, key, known, settings):
            continue
        fp = extraction_fingerprint(flat_dir, key, known, settings)
        n = sum(c in ("ok", "okf") for _, c, *_ in json.loads((flat_dir / f"{key}.done.json").read_text())["items"])
        todo.append((flat_dir / f"{key}.jsonl.gz", target, ext_dir / f"{key}.done.json", fp, n))
    for path in ext_dir.iterdir():  # units no longer in this shard
        if path.name.split(".", 1)[0] not in set(keys):
            path.unlink()
    if not todo:
        log.info("extraction: all %d units already done, reused", len(keys))
        return done_paths

    from pipeline.progress import bar as progress_bar

    work = functools.partial(_extract, max_tokens=settings.max_tokens, fractions=settings.split, salt=settings.split_salt)
    bar = progress_bar(sum(t[4] for t in todo), "extract", "paper", enabled=settings.progress)
    pool = (ProcessPoolExecutor(settings.workers, initializer=_init_worker, initargs=(dict(known),))
            if settings.workers > 1 else None)
    if pool is None:
        _init_worker(dict(known))
    try:
        for src, target, manifest, fp, _ in todo:
            with atomic_open(target, "wt", opener=gzip.open, compresslevel=3) as out:
                for _, line in bounded_map(work, _flat_lines(src), pool, settings.in_flight):
                    out.write(line + "\n")
                    bar.update(1)
            write_text(manifest, json.dumps({"fingerprint": fp}))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        bar.close()
    return done_paths
