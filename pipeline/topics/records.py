"""Prose records for topics, streamed: the prose corpus's JSON lines and the prepared papers.

A prose file (`topics.corpus`) holds JSON lines in the arXiv metadata snapshot's schema: `id`, `title`,
`abstract`, `categories` (space-separated, primary first), optionally `text` (a paper's body as plain
text); gzipped (`.gz`) or not. A record's words are its title, abstract and text with formulas (`$...$`,
`\\[...\\]`, `[formula]`) taken out, tokenised like the papers' prose (pipeline/latex/prose.py). Files are
read one line at a time: a file of every arXiv abstract costs no more memory than a small one.

A bad line (not JSON, no id, no words) is skipped and counted, never fatal. The split of a record is
the split its id would have as a paper (`split_of`, the prepare stage's fractions and salt), so a paper
that is both in the prose corpus and among the equation papers is on the same side of every split.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.dataset.splits import split_of
from pipeline.latex.prose import tokens_of_text

log = logging.getLogger(__name__)

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\[formula\]", re.S)


@dataclass
class ProseRecord:
    id: str
    kind: str                 # "body" (has `text`), "abstract" (metadata only) or "paper" (papers.jsonl)
    categories: str | None    # arXiv's, space-separated, primary first
    title: str | None
    split: str
    tokens: list[str]         # prose tokens (lower-case words without stop words), not yet normalised


@dataclass(frozen=True)
class Splits:
    fractions: Mapping[str, float]   # {train, val, test}
    salt: str = ""

    def of(self, record_id: str) -> str:
        return split_of(record_id, self.fractions, self.salt)


def words_of(text: str) -> list[str]:
    """Prose tokens of plain text (an abstract, a body) with its formulas taken out."""
    return tokens_of_text(_MATH.sub(" ", text))


def open_text(path: Path):
    """A text file, gunzipped on the fly when its name ends in .gz; undecodable bytes replaced."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


Keep = Callable[[str, str, "str | None"], bool]   # (id, split, categories) -> read this record's words?


def iter_prose_file(path: Path, splits: Splits, skipped: Counter, keep: Keep | None = None) -> Iterator[ProseRecord]:
    """Records of one prose file; `keep` passes over records before their text is tokenised (the costly
    part). `skipped` counts bad lines by reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prose file not found (topics.corpus); give JSON lines in the arXiv "
                                "metadata schema (`id`, `abstract`, optional `text`, `categories`), or topics.corpus=[]")
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    rid = str(r["id"]).strip()
                    if not rid:
                        raise KeyError("id")
                except (ValueError, KeyError, TypeError):
                    skipped["not a JSON object with an id"] += 1
                    if skipped["not a JSON object with an id"] <= 3:
                        log.warning("topics: %s:%d: not a JSON object with an id; skipped", path, n)
                    continue
                split = splits.of(rid)
                cats = r.get("categories") if isinstance(r.get("categories"), str) else None
                if keep is not None and not keep(rid, split, cats):
                    continue
                text = r.get("text") if isinstance(r.get("text"), str) else ""
                parts = [x for x in (r.get("title"), r.get("abstract"), text) if isinstance(x, str)]
                tokens = words_of("\n".join(parts))
                if not tokens:
                    skipped["no words"] += 1
                    continue
                yield ProseRecord(rid, "body" if text else "abstract", cats or None,
                                  r.get("title") if isinstance(r.get("title"), str) else None, split, tokens)
    except (OSError, EOFError) as exc:  # a truncated .gz: keep what was read, say so
        skipped["unreadable file"] += 1
        log.warning("topics: %s: %s; the records before it are kept", path, exc)


def iter_paper_records(papers: Path, want: frozenset[str] | None = None) -> Iterator[ProseRecord]:
    """The prepared papers (papers.jsonl) as records, with the split the prepare stage gave them."""
    from pipeline.topics.corpus import iter_papers

    for p in iter_papers(papers, want):
        yield ProseRecord(p["id"], "paper", p.get("categories") or None, p.get("title"), p["split"],
                          p.get("prose") or [])
