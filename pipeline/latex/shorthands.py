"""Shorthands papers use for display environments without defining them (`\\be ... \\ee`).

Often the definitions were in a preamble that was lost (the 2003 hep-th sources); a pair is taken
only where the paper evidently uses it as a begin/end pair around display math.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from pipeline.latex.equations import inline_math_spans

# Shorthands papers use for display environments, often defined in a lost preamble: (begin, end,
# environment). Used only when the paper does not define the names itself and uses them as a
# begin/end pair around display math (see `shorthand_pairs_in_use`).
SHORTHAND_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("be", "ee", "equation"),
    ("beq", "eeq", "equation"),
    ("beqn", "eeqn", "equation"),
    ("begeq", "endeq", "equation"),
    ("bea", "eea", "eqnarray"),
    ("beqa", "eeqa", "eqnarray"),
    ("beqna", "eeqna", "eqnarray"),
    ("bean", "eean", "eqnarray"),
    ("beqarr", "eeqarr", "eqnarray"),
    ("bear", "eear", "eqnarray"),
    ("ba", "ea", "eqnarray"),  # last: in many papers \ba..\ea is an array inside display math
)
SHORTHANDS: dict[str, str] = {
    **{b: f"\\begin{{{env}}}" for b, _e, env in SHORTHAND_PAIRS},
    **{e: f"\\end{{{env}}}" for _b, e, env in SHORTHAND_PAIRS},
}
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def shorthand_pairs_in_use(text: str, defined: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """The shorthand pairs `text` uses as display environments. A pair counts when neither name is
    in `defined` and the paper writes it as a begin/end pair around display math: its occurrences
    alternate begin, end (nearly all of them: one stray name is tolerated per ten), no blank line
    (a TeX error inside display math) lies between a begin and its end, and no begin lies inside
    math (inline or display, or inside a pair already taken): there it is something else, typically
    `\\ba{l}..\\ea` for an array."""
    defined = set(defined)
    names = {n for pair in SHORTHAND_PAIRS for n in pair[:2]}
    if not re.search(r"(?<!\\)(?:\\\\)*\\(?:" + "|".join(sorted(names, key=len, reverse=True)) + r")(?![A-Za-z@])", text):
        return []
    spans = sorted(inline_math_spans(text))
    starts = [a for a, _b in spans]

    def in_spans(i: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
        k = bisect_right(starts, i) - 1
        return k >= 0 and spans[k][0] < i < spans[k][1]

    taken: list[tuple[str, str, str]] = []
    taken_spans: list[tuple[int, int]] = []
    for b, e, env in SHORTHAND_PAIRS:
        if b in defined or e in defined:
            continue
        occ = [(m.start(), m.group(1) == b, m.end())
               for m in re.finditer(r"\\\\|\\(" + b + "|" + e + r")(?![A-Za-z@])", text) if m.group(1)]
        if not occ:
            continue
        pairs: list[tuple[int, int]] = []
        k = 0
        while k < len(occ) - 1:
            if occ[k][1] and not occ[k + 1][1]:
                pairs.append((occ[k][0], occ[k + 1][2]))
                k += 2
            else:
                k += 1
        if not pairs or len(occ) - 2 * len(pairs) > max(0, len(occ) // 10):
            continue
        tstarts = [a for a, _b in taken_spans]
        if any(_BLANK_LINE.search(text, a, z) or in_spans(a, spans, starts) or in_spans(a, taken_spans, tstarts)
               for a, z in pairs):
            continue
        taken.append((b, e, env))
        taken_spans = sorted(taken_spans + pairs)
    return taken
