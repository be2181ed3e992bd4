"""arXiv categories -> field names (pipeline/data/arxiv_categories.tsv), for guidance and topic names.

A paper's first category is arXiv's primary one: it decides the paper's group. Names are lower
case with words joined by `-`, safe to type on a command line (`sample.topic=astrophysics`).
"""
from __future__ import annotations

import fnmatch
from functools import lru_cache
from importlib import resources

TABLE = resources.files("pipeline") / "data" / "arxiv_categories.tsv"


@lru_cache(maxsize=1)
def rules() -> tuple[tuple[str, str], ...]:
    out = []
    for n, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise ValueError(f"{TABLE}:{n}: expected two tab-separated columns: pattern name")
        out.append((cols[0].strip(), cols[1].strip()))
    return tuple(out)


def category_name(categories: str | None) -> str | None:
    """The field name of a paper's primary (first) category that the table names, else None."""
    for cat in (categories or "").split():
        for pattern, name in rules():
            if fnmatch.fnmatchcase(cat, pattern):
                return name
        return None  # only the primary category counts
    return None
