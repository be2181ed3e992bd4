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


def find_display_equations(text: str) -> list[DisplayEquation]:
    """The display equations of `text`, in order."""
    found: list[DisplayEquation] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _SCAN.search(text, pos)
        if not m:
            break
        if m.group("skip") is not None:
            pos = m.end()
            continue
        env = m.group("env")
        if env is not None:
            end = _end_regex(env, m.group("star")).search(text, m.end())
            if not end:
                pos = m.end()
                continue
            body_start = m.end()
            arg = None
            if env == "alignat":
                got = read_arg(text, body_start, braced_only=True)
                if got is not None and got[1] <= end.start():
                    arg, body_start = got[0].strip(), got[1]
            found.append(DisplayEquation(env, arg, text[body_start : end.start()], env + m.group("star")))
            pos = end.end()
            continue
        if m.group("bracket") is not None:
            close = _close(_CLOSE_BRACKET, text, m.end())
            kind = "displaymath"
            written = "\\["
        elif m.group("dd") is not None:
            close = _close(_CLOSE_DD, text, m.end())
            kind = "displaymath"
            written = "$$"
        elif m.group("paren") is not None:
            close = _close(_CLOSE_PAREN, text, m.end())
            kind = written = None
        else:
            close = _close(_CLOSE_D1, text, m.end())
            kind = written = None
        if close is None:
            pos = m.end()
            continue
        if kind is not None:
            found.append(DisplayEquation(kind, None, text[m.end() : close[0]], written))
        pos = close[1]
    return found


def inline_math_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every math span (inline and display) in `text`, for removing math from prose."""
    spans: list[tuple[int, int]] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _SCAN.search(text, pos)
        if not m:
            break
        if m.group("skip") is not None:
            if m.group("venv") is not None:
                spans.append((m.start(), m.end()))
            pos = m.end()
            continue
        env = m.group("env")
        if env is not None:
            end = _end_regex(env, m.group("star")).search(text, m.end())
            if not end:
                pos = m.end()
                continue
            spans.append((m.start(), end.end()))
            pos = end.end()
            continue
        if m.group("bracket") is not None:
            close = _close(_CLOSE_BRACKET, text, m.end())
        elif m.group("dd") is not None:
            close = _close(_CLOSE_DD, text, m.end())
        elif m.group("paren") is not None:
            close = _close(_CLOSE_PAREN, text, m.end())
        else:
            close = _close(_CLOSE_D1, text, m.end())
        if close is None:
            pos = m.end()
            continue
        spans.append((m.start(), close[1]))
        pos = close[1]
    return spans
