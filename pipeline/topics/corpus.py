"""Streamed access to papers.jsonl and the text normalisation shared by fitting and inference.

Nothing here holds the corpus: papers.jsonl is read line by line. The same
`TextNormaliser` turns a paper's prose and a user's context words into model tokens, so a word the
user types means what it meant in training.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

# Words that survive the prose extractor's stop list but carry no topic in scientific text: the
# scaffolding of papers and proofs, vague verbs and adverbs, and TeX leftovers that pylatexenc
# lets through. Measured to lift held-out c_npmi (docs/topics.md lists the variants).
DOMAIN_STOP_WORDS: frozenset[str] = frozenset(
    """
    paper section sections chapter chapters appendix introduction conclusion conclusions discussion
    result results case cases use used using uses show shows shown showed given give gives giving
    consider considered considering obtain obtained obtains following follows follow followed note
    notes let assume assumed suppose write written writes wrote denote denotes denoted defined define
    defines definition see known way ways particular particularly general generally simply simple
    example examples instance just like need needs needed possible possibly form forms term terms
    order value values number numbers find found fact means mean therefore thus hence indeed
    clearly easily easy obvious obviously respectively similarly similar analogously present
    presented discuss discussed study studied studies work works approach new recent recently
    important interesting role main expression expressions equal eqn eqns fig ref refs etc
    non like also first second third one two three four five six ten set sets different
    right left hand side sides point points large small big good better best high low higher lower
    way able allows allow allowed shall make makes made take takes taken taking get gets got let's
    want wanted try tried trying think thought say says said lot thing things look looks looking
    start starts started end ends ended come comes came go goes going true false
    textsc mathcal mathbb mathrm mathsf mathit boldsymbol operatorname displaystyle scriptstyle
    left right big bigg tfrac dfrac frac sqrt cdot ldots cdots dots quad qquad nonumber noindent
    newline linebreak pagebreak medskip smallskip bigskip vskip hskip centering footnote
    footnotetext caption subcaption tableofcontents maketitle ie eg iff wrt resp viz
    know draw red blue green min max dir node nodes fill color arrow tikz
    """.split()
)

_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class TextSettings:
    min_len: int  # tokens shorter than this are dropped (1-2 letter symbols, "al")
    stop_words: Sequence[str]  # extra, on top of DOMAIN_STOP_WORDS when use_domain_stop_words
    use_domain_stop_words: bool
    merge_plurals: bool  # "galaxies" -> "galaxy" when the singular is a training word


@dataclass
class TextNormaliser:
    """Prose tokens -> model tokens: filter, merge plurals, join bigrams.

    The plural map and bigram model are learned from training papers only and saved with the model
    (state()/from_state()), so inference on context words applies exactly what training applied.
    """

    settings: TextSettings
    plurals: dict[str, str] = field(default_factory=dict)
    phrases: Any = None  # gensim FrozenPhrases or None

    def __post_init__(self) -> None:
        stop = set(self.settings.stop_words)
        if self.settings.use_domain_stop_words:
            stop |= DOMAIN_STOP_WORDS
        self._stop = frozenset(stop)

    def filter(self, tokens: Iterable[str]) -> list[str]:
        """Lower-cased alphabetic tokens of min_len letters or more, not stop words, plurals merged."""
        out = []
        m, stop, plurals = self.settings.min_len, self._stop, self.plurals
        for t in tokens:
            t = t.lower()
            if len(t) < m or not t.isalpha() or t in stop:
                continue
            t = plurals.get(t, t)
            if t not in stop:
                out.append(t)
        return out

    def __call__(self, tokens: Iterable[str]) -> list[str]:
        toks = self.filter(tokens)
        if self.phrases is not None:
            toks = list(self.phrases[toks])
        return toks

    def split_words(self, text: str) -> list[str]:
        """A user's context string -> raw words (same letter runs the prose extractor keeps)."""
        return _LETTERS.findall(text.lower())


def plural_map(counts: Counter, min_count: int = 2) -> dict[str, str]:
    """Plural -> singular for words whose singular is itself a training word.

    Only merges when both forms occur, so "physics" is kept (no "physic") while "galaxies" ->
    "galaxy", "fields" -> "field". Cheap, data-driven, no lemmatiser dependency.
    """
    out: dict[str, str] = {}
    for w, c in counts.items():
        if c < min_count or len(w) < 4:
            continue
        if w.endswith("ies") and counts.get(w[:-3] + "y", 0) >= min_count:
            out[w] = w[:-3] + "y"
        elif w.endswith("es") and w[-3] in "sxz" and counts.get(w[:-2], 0) >= min_count:
            out[w] = w[:-2]  # fluxes, classes
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and counts.get(w[:-1], 0) >= min_count:
            out[w] = w[:-1]
    return out


# --- papers.jsonl -------------------------------------------------------------------------------

def iter_papers(path: Path, splits: Iterable[str] | None = None) -> Iterator[dict]:
    """Papers of papers.jsonl one at a time, optionally only those of the given splits.

    The split filter is applied to each line before its prose is handed on, so a caller that asks
    for ("train",) never sees a validation or test paper's words.
    """
    path = Path(path)
    want = None if splits is None else frozenset(splits)
    if not path.exists():
        raise FileNotFoundError(f"{path}: papers file not found; run `python -m pipeline stage=prepare` first "
                                "(or set topics.input)")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                p = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc}); re-run the prepare stage") from exc
            if "id" not in p or "split" not in p:
                raise ValueError(f"{path}:{n}: paper without `id` or `split`; re-run the prepare stage")
            if want is not None and p["split"] not in want:
                continue
            yield p


def cap_tokens(tokens: Sequence[str], max_words: int, pieces: int = 1) -> list[str]:
    """At most `max_words` tokens of a document (0 = all), as `pieces` evenly spaced runs from its first to its
    last part. A textbook then weighs no more than a paper in the topic-word estimates, and with more than
    one run what is kept samples the whole text, not only its opening pages."""
    tokens = list(tokens)
    if max_words <= 0 or len(tokens) <= max_words:
        return tokens
    pieces = max(1, min(pieces, max_words))
    run = max_words // pieces
    starts = [round(i * (len(tokens) - run) / max(pieces - 1, 1)) for i in range(pieces)]
    return [t for a in starts for t in tokens[a : a + run]]
