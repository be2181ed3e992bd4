"""Stripping TeX comments the way TeX reads them.

A `%` not escaped by a backslash ends the line: it, the rest of the line, the newline and the next
line's leading blanks go (TeX skips those blanks anyway, and keeping the newline would turn
`foo%\\nbar` into two words). An escaped `\\%` stays, but `\\\\%` is a line break followed by a
comment. A comment right after a control word leaves one space, so `\\alpha%` + newline +
`beta` stays two tokens. Verbatim material (`verbatim`, `lstlisting`, `minted`, `Verbatim` environments and `\\verb`)
is kept exactly: a `%` there is text. A `comment` environment goes entirely.
"""
from __future__ import annotations

import re

from pipeline.latex.scan import ends_with_control_word

VERBATIM_ENVS = r"verbatim\*?|Verbatim\*?|BVerbatim|LVerbatim|lstlisting|minted|filecontents\*?"

_STRIP = re.compile(
    r"(?P<keep>\\begin\{(?P<venv>" + VERBATIM_ENVS + r")\}.*?\\end\{(?P=venv)\}"
    r"|\\verb\*?(?P<d>[^a-zA-Z\s*])[^\n]*?(?P=d)"
    r"|\\[\\%])"
    r"|(?P<drop>\\begin\{comment\}.*?\\end\{comment\}"
    r"|%[^\n]*(?:\n[ \t]*)?)",
    re.S,
)


def _replace(m: re.Match) -> str:
    if m.group("keep") is not None:
        return m.group("keep")
    # `\alpha%\nbeta` must not become `\alphabeta`: a space after a control word is what TeX
    # would skip anyway, so it keeps the word boundary without changing the meaning.
    start = m.start()
    if start and m.string[start - 1].isalpha() and ends_with_control_word(m.string[max(0, start - 64) : start], at_letter=True):
        return " "
    return ""


def strip_comments(text: str) -> str:
    """`text` with its comments removed (see the module docstring for the rules)."""
    if "%" not in text and "comment" not in text:
        return text
    return _STRIP.sub(_replace, text)
