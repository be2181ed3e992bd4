"""The one reader of prepare's `equations.jsonl` (and validate's `equations.validated.jsonl`, the
same records with verdicts): every line parsed as JSON, filtered by its fields, never by the text."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def read_equations(path: Path, split: str | None = None, compiling_only: bool = False) -> Iterator[dict]:
    """Equation records of `path` in file order; those of `split` only when given, and only those
    that compile when `compiling_only` (a record without a verdict counts as compiling)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            e = json.loads(line)
            if split is not None and e.get("split") != split:
                continue
            if compiling_only and not e.get("compiles", True):
                continue
            yield e
