"""Display equations of a (macro-expanded) LaTeX text.

Display math is: the environments equation, align, gather, multline, flalign, alignat, eqnarray
(each also starred), displaymath, and `\\[...\\]`, `$$...$$`. A record holds the environment's
BODY; `\\[..\\]` and `$$..$$` count as displaymath; alignat keeps its column count in `env_arg`.
Inline math (`$..$`, `\\(..\\)`) is skipped as a whole, so a `$$` inside it or a `$` inside a
display is never misread; `\\\\[2mm]` is a line break, not `\\[`; escaped `\\$`, `%` comments and
verbatim material (environments, `\\verb`) are skipped. Environments nested inside a display
(aligned, split, cases, ...) stay in its body; `subequations` is transparent.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from pipeline.latex.scan import read_arg

DISPLAY_ENVS = frozenset(
    "equation align gather multline flalign alignat eqnarray displaymath".split()
)

_ENV_ALT = "|".join(sorted(DISPLAY_ENVS))

_SCAN = re.compile(
    r"(?P<skip>\\begin\s*\{(?P<venv>verbatim\*?|Verbatim\*?|BVerbatim|LVerbatim|lstlisting|minted|comment)\}"
    r".*?\\end\s*\{(?P=venv)\}"
    r"|\\verb\*?(?P<d>[^a-zA-Z\s*]).*?(?P=d)"
    r"|\\[\\$%{}]"
    r"|%[^\n]*)"
    r"|\\begin\s*\{(?P<env>" + _ENV_ALT + r")(?P<star>\*?)\}"
    r"|(?P<bracket>\\\[)"
    r"|(?P<paren>\\\()"
    r"|(?P<dd>\$\$)"
    r"|(?P<d1>\$)",
    re.S,
)
# A display's body is one group: a `}` closing a group opened before it, or a blank line (a TeX
# error in math), means the opener was not a display (`\\makebox{$$}` is an empty inline formula).
_CLOSE_BRACKET = re.compile(r"\\[\\${}]|(\\\])|(\n[ \t]*\n)|([{}])")
_CLOSE_PAREN = re.compile(r"\\[\\$]|(\\\))")
_CLOSE_DD = re.compile(r"\\.|(\$\$)|(\n[ \t]*\n)|([{}])", re.S)
# An inline `$` closes at the next unescaped `$`; a blank line before it means a stray `$`.
_CLOSE_D1 = re.compile(r"\\.|(\$)|(\n[ \t]*\n)", re.S)
_END_CACHE: dict[str, re.Pattern[str]] = {}


@dataclass(frozen=True)
class DisplayEquation:
    env: str
    env_arg: str | None
    latex: str
    # How it was written: the environment's name with its star (`equation*`), or `\\[` / `$$`.
    written: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _end_regex(env: str, star: str) -> re.Pattern[str]:
    key = env + star
    rx = _END_CACHE.get(key)
    if rx is None:
        rx = _END_CACHE[key] = re.compile(r"\\end\s*\{" + re.escape(key) + r"\}")
    return rx


def _close(rx: re.Pattern[str], text: str, i: int) -> tuple[int, int] | None:
    """(start, end) of the first closing delimiter (group 1) after i at brace depth 0, skipping
    escapes; None at a blank line (group 2) or a `}` closing a group opened before i (group 3)."""
    depth = 0
    for m in rx.finditer(text, i):
        if m.lastindex == 2:
            return None
        if m.lastindex == 3:
            depth += 1 if m.group(3) == "{" else -1
            if depth < 0:
                return None
            continue
        if m.group(1) is not None and depth == 0:
            return m.start(), m.end()
    return None


def _math_constructs(text: str) -> Iterator[tuple[re.Match[str], tuple[int, int] | None]]:
    """Every construct `_SCAN` finds in `text`, in order, with where it ends: the (start, end) of an
    environment's `\\end{..}` or of the closing delimiter; None for skipped text and for an opener
    never closed (scanning goes on after it)."""
    pos = 0
    n = len(text)
    while pos < n:
        m = _SCAN.search(text, pos)
        if not m:
            return
        if m.group("skip") is not None:
            yield m, None
            pos = m.end()
            continue
        env = m.group("env")
        if env is not None:
            end = _end_regex(env, m.group("star")).search(text, m.end())
            close = end.span() if end else None
        else:
            closer = (_CLOSE_BRACKET if m.group("bracket") is not None else _CLOSE_DD if m.group("dd") is not None
                      else _CLOSE_PAREN if m.group("paren") is not None else _CLOSE_D1)
            close = _close(closer, text, m.end())
        yield m, close
        pos = close[1] if close else m.end()


def find_display_equations(text: str) -> list[DisplayEquation]:
    """The display equations of `text`, in order."""
    found: list[DisplayEquation] = []
    for m, close in _math_constructs(text):
        if close is None or m.group("skip") is not None:
            continue
        env = m.group("env")
        if env is not None:
            body_start = m.end()
            arg = None
            if env == "alignat":
                got = read_arg(text, body_start, braced_only=True)
                if got is not None and got[1] <= close[0]:
                    arg, body_start = got[0].strip(), got[1]
            found.append(DisplayEquation(env, arg, text[body_start : close[0]], env + m.group("star")))
        elif m.group("bracket") is not None:
            found.append(DisplayEquation("displaymath", None, text[m.end() : close[0]], "\\["))
        elif m.group("dd") is not None:
            found.append(DisplayEquation("displaymath", None, text[m.end() : close[0]], "$$"))
    return found


def inline_math_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every math span (inline and display) in `text`, for removing math from prose."""
    spans: list[tuple[int, int]] = []
    for m, close in _math_constructs(text):
        if m.group("skip") is not None:
            if m.group("venv") is not None:
                spans.append((m.start(), m.end()))
        elif close is not None:
            spans.append((m.start(), close[1]))
    return spans
