"""Streaming join of arXiv metadata snapshot JSON lines to the papers we have.

The real snapshot is gigabytes: it is read line by line and only the objects whose id is wanted
are parsed and kept, so memory grows with the papers read, never with the snapshot. A line's id
is found with a cheap regex first; only wanted lines (and lines where the regex finds no id, to
report them) go through json.loads.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pipeline.sources.ids import canonical_id

_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass
class MetadataJoin:
    records: dict[str, dict] = field(default_factory=dict)
    lines: int = 0
    bad_lines: list[tuple[str, str]] = field(default_factory=list)  # (file:line, why)


def join_metadata(paths: Iterable[str | Path], wanted: set[str]) -> MetadataJoin:
    """Metadata objects for the ids in `wanted`, keyed by canonical id (first occurrence wins)."""
    out = MetadataJoin()
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"metadata file {path} does not exist: fix data.metadata (or set data.metadata=[])"
            )
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                out.lines += 1
                if not line.strip():
                    continue
                m = _ID.search(line)
                if m:
                    ident = canonical_id(m.group(1).replace("\\/", "/"))
                    if ident not in wanted or ident in out.records:
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
                if ident in wanted and ident not in out.records:
                    out.records[ident] = obj
    return out
