"""Is a sample new? Exact copies of training equations, near copies, and distinct n-grams.

- in the training set: the sample's body, normalised (pipeline.latex.normalise), equals a training
  equation's (prepare stores them normalised);
- near copy: the token edit distance to the closest training equation is under `ratio` (10%) of
  the sample's length; only training equations within that length difference can be that close,
  so only those are compared (rapidfuzz, each token one character of a string);
- distinct-n: distinct n-grams / all n-grams over a set of token sequences.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.dataset.equations import read_equations
from pipeline.latex.normalise import normalise
from pipeline.latex.tokenizer import tokenize


class TrainingSet:
    def __init__(self, equations_file: Path) -> None:
        """The training equations of prepare's `equations.jsonl`."""
        self.latex: set[str] = set()
        self._alphabet: dict[str, str] = {}
        rows: list[tuple[int, str]] = []
        for e in read_equations(Path(equations_file), split="train"):
            self.latex.add(e["latex"])
            s = self._encode(tokenize(e["latex"]))
            rows.append((len(s), s))
        rows.sort()
        self._lengths = [n for n, _ in rows]
        self._strings = [s for _, s in rows]

    def _encode(self, tokens: Sequence[str]) -> str:
        out = []
        for t in tokens:
            ch = self._alphabet.get(t)
            if ch is None:
                ch = self._alphabet[t] = chr(0x100 + len(self._alphabet))
            out.append(ch)
        return "".join(out)

    def contains(self, latex: str) -> bool:
        return normalise(latex) in self.latex

    def nearest(self, tokens: Sequence[str], ratio: float = 0.1) -> int | None:
        """The smallest token edit distance to a training equation, if under ratio × length."""
        q = self._encode(tokens)
        limit = int(ratio * len(q) - 1e-9) if len(q) else 0
        if limit < 0:
            return None
        lo = bisect.bisect_left(self._lengths, len(q) - limit)
        hi = bisect.bisect_right(self._lengths, len(q) + limit)
        best = None
        for s in self._strings[lo:hi]:
            d = Levenshtein.distance(q, s, score_cutoff=limit if best is None else min(limit, best))
            if d <= (limit if best is None else min(limit, best)):
                best = d
                if d == 0:
                    break
        return best if best is not None and best < ratio * max(1, len(q)) else None


def distinct_n(sequences: Iterable[Sequence[str]], n: int) -> float | None:
    total, seen = 0, set()
    for s in sequences:
        for i in range(len(s) - n + 1):
            seen.add(tuple(s[i : i + n]))
            total += 1
    return len(seen) / total if total else None
