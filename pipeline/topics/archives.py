"""arXiv's taxonomy (pipeline/data/arxiv_taxonomy.tsv): categories -> archive, group and readable name.

A record's categories are read as arXiv writes them, space-separated with the primary one first. Its
label is the primary category's group: hep-th, hep-ph, hep-lat and hep-ex are one group (high-energy
physics), nucl-th and nucl-ex another, math-ph goes with mathematics; retired archives (chao-dyn,
alg-geom...) with the archive they became. A category the table does not know is read by its archive
(`astro-ph.XX` -> astro-ph); an archive it does not know gives no label.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

TABLE = resources.files("pipeline") / "data" / "arxiv_taxonomy.tsv"


@dataclass(frozen=True)
class Code:
    code: str    # as in the table: hep-th, astro-ph.CO, chao-dyn
    group: str   # hep, astro-ph, nlin...
    name: str    # "high-energy physics: theory"
    became: str  # a retired archive's successor category (chao-dyn -> nlin.CD), else ""

    @property
    def archive(self) -> str:
        """The archive (astro-ph.CO -> astro-ph; a retired archive -> its successor's: chao-dyn -> nlin)."""
        return (self.became or self.code).split(".")[0]


@lru_cache(maxsize=1)
def table() -> dict[str, Code]:
    out: dict[str, Code] = {}
    for n, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) not in (3, 4) or not all(cols):
            raise ValueError(f"{TABLE}:{n}: expected tab-separated columns: code group name [became]")
        out[cols[0]] = Code(cols[0], cols[1], cols[2], cols[3] if len(cols) == 4 else "")
    return out


def primary(categories: str | None) -> str | None:
    """The first (arXiv's primary) category of a space-separated list, None when empty."""
    parts = (categories or "").split()
    return parts[0] if parts else None


def lookup(category: str | None) -> Code | None:
    """The table's entry for a category, else its archive's; None when neither is known."""
    if not category:
        return None
    t = table()
    return t.get(category) or t.get(category.split(".")[0])


def group_of(categories: str | None) -> str | None:
    """The archive group of a record's primary category (None: no label)."""
    c = lookup(primary(categories))
    return c.group if c else None


def archive_of(categories: str | None) -> str | None:
    """The archive of a record's primary category (hep-th, astro-ph, ...; retired names as today's)."""
    c = lookup(primary(categories))
    return c.archive if c else None


def name_of(code: str) -> str:
    """Readable name of a code of the table (archive, category or group); the code itself if unknown."""
    c = table().get(code)
    return c.name if c else code


def group_name(group: str) -> str:
    return name_of(group)
