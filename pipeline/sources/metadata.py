"""Streaming join of arXiv metadata snapshot JSON lines to the papers we have.

The real snapshot is gigabytes: it is read line by line and only the objects whose id is wanted
are parsed, then kept in an SQLite file beside the outputs rather than in memory, so memory stays
flat whatever the size of the snapshot or of the corpus. A line's id is found with a cheap regex
first; only wanted lines (and lines where the regex finds no id, to report them) go through
json.loads.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pipeline.sources.ids import canonical_id

_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')
# Names under which metadata sits beside the sources (arXiv's snapshot, the folders' own file).
METADATA_NAMES = ("arxiv-metadata*.jsonl", "metadata.jsonl")


def metadata_files(sources: Iterable[str | Path], explicit: Iterable[str | Path] = (),
                   find_beside_sources: bool = True) -> list[Path]:
    """The metadata files to read: `explicit` ones first, then (if asked) those named like
    METADATA_NAMES in each source folder, or beside a source file; each file once, however it was
    named (`a/../a/m.jsonl` and `a/m.jsonl` are one file)."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for p in explicit:
        add(Path(p))
    if find_beside_sources:
        for src in sources:
            src = Path(src)
            folder = src if src.is_dir() else src.parent
            if not folder.is_dir():
                continue
            for pattern in METADATA_NAMES:
                for p in sorted(folder.glob(pattern)):
                    if p.is_file():
                        add(p)
    return out


class MetadataStore:
    """Metadata objects by canonical id, in an SQLite file (or in memory when path is None)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None and path.exists():
            path.unlink()
        self.db = sqlite3.connect(str(path) if path else ":memory:")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE meta (id TEXT PRIMARY KEY, obj TEXT)")

    def add(self, ident: str, line: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (ident, line))
        return cur.rowcount == 1

    def __contains__(self, ident: str) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE id=?", (ident,)).fetchone() is not None

    def get(self, ident: str) -> dict | None:
        row = self.db.execute("SELECT obj FROM meta WHERE id=?", (ident,)).fetchone()
        return json.loads(row[0]) if row else None

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0]

    def commit(self) -> None:
        self.db.commit()


@dataclass
class MetadataJoin:
    records: MetadataStore
    lines: int = 0
    bad_lines: list[tuple[str, str]] = field(default_factory=list)  # (file:line, why)


def join_metadata(paths: Iterable[str | Path], wanted: set[str], store: Path | None = None) -> MetadataJoin:
    """Metadata objects for the ids in `wanted`, keyed by canonical id (first occurrence wins)."""
    out = MetadataJoin(records=MetadataStore(store))
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"metadata file {path} does not exist (resolved from {os.getcwd()}): "
                "fix data.metadata (or set data.metadata=[])"
            )
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                out.lines += 1
                if not line.strip():
                    continue
                m = _ID.search(line)
                if m and canonical_id(m.group(1).replace("\\/", "/")) not in wanted:
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    out.bad_lines.append((f"{path}:{lineno}", f"not JSON ({exc.msg})"))
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                    out.bad_lines.append((f"{path}:{lineno}", "not an object with a string id"))
                    continue
                ident = canonical_id(obj["id"])
                if ident in wanted:
                    out.records.add(ident, line)
    out.records.commit()
    return out
