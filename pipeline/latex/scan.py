"""Reading LaTeX source the way TeX reads it: control sequences, brace groups, arguments.

Every module that looks for command names goes through here, because the one rule that is easy to
get wrong is TeX's: a backslash and the character after it form one token. `\\\\` is the control
symbol "line break", so in `a\\\\f` there is no command `\\f`; a regex that searches for
`\\\\[A-Za-z]+` anywhere finds one. The scanners here read left to right, consuming `\\\\` (and
every other control symbol) whole.

Letters are `A-Za-z` (TeX's catcode 11 in a document); where `@` is a letter too (style files,
`\\makeatletter` blocks), the caller says so with `at_letter=True`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

_WS = re.compile(r"\s*")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.S)
_BRACKET_TOKEN = re.compile(r"\\.|[{}\]]", re.S)
CONTROL_SEQUENCE = re.compile(r"\\(?:[A-Za-z]+|.)", re.S)
CONTROL_SEQUENCE_AT = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
# A control word at the end of a text: the backslash before it is not itself escaped (`\\\\abc`
# ends in the line break then letters, not in the control word `\\abc`).
_ENDS_CONTROL_WORD = re.compile(r"(?<!\\)(?:\\\\)*\\[A-Za-z]+$")
_ENDS_CONTROL_WORD_AT = re.compile(r"(?<!\\)(?:\\\\)*\\[A-Za-z@]+$")


def control_sequences(text: str, at_letter: bool = False) -> Iterator[re.Match[str]]:
    """Every control sequence of `text` in order (`\\\\name` or a control symbol `\\\\x`), as matches."""
    return (CONTROL_SEQUENCE_AT if at_letter else CONTROL_SEQUENCE).finditer(text)


def command_names(text: str, at_letter: bool = True) -> Iterator[str]:
    """Names (without backslash) of the control sequences in `text`, in order."""
    return (m.group()[1:] for m in control_sequences(text, at_letter))


def control_words(text: str, at_letter: bool = False) -> Iterator[str]:
    """Names of the control words (letters only) of `text`, in order; control symbols are skipped."""
    for m in control_sequences(text, at_letter):
        name = m.group()[1:]
        if name[:1].isalpha() or name[:1] == "@" and at_letter:
            yield name


def ends_with_control_word(text: str, at_letter: bool = False) -> bool:
    """Whether `text` ends in a control word, so that a letter appended to it would join its name."""
    return (_ENDS_CONTROL_WORD_AT if at_letter else _ENDS_CONTROL_WORD).search(text[-64:]) is not None


def skip_ws(s: str, i: int) -> int:
    return _WS.match(s, i).end()


def match_brace(s: str, i: int) -> int:
    """Index just past the `}` matching the `{` at s[i]; -1 when unbalanced."""
    depth = 0
    for m in _BRACE_TOKEN.finditer(s, i):
        t = m.group()
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def read_arg(s: str, i: int, braced_only: bool = False) -> tuple[str, int] | None:
    """A TeX undelimited argument at s[i:] (after blanks): a group's content or one token."""
    i = skip_ws(s, i)
    if i >= len(s):
        return None
    c = s[i]
    if c == "{":
        j = match_brace(s, i)
        return None if j < 0 else (s[i + 1 : j - 1], j)
    if braced_only or c == "}":
        return None
    if c == "\\":
        m = CONTROL_SEQUENCE_AT.match(s, i)
        return m.group(), m.end()
    return c, i + 1


def first_at_depth0(tokens: Iterable[re.Match[str]], stop: str) -> tuple[re.Match[str] | None, bool]:
    """The first of `tokens` (matches of `{`, `}` and others) that is `stop` at brace depth 0, with
    False; or the `}` that closes a group opened before them, with True; (None, False) if neither."""
    depth = 0
    for m in tokens:
        t = m.group()
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth < 0:
                return m, True
        elif t == stop and depth == 0:
            return m, False
    return None, False


def replace_calls(text: str, rx: re.Pattern[str], handle: Callable[[re.Match[str]], tuple[str, int] | None]) -> str:
    """`text` with each match of `rx` that `handle` takes replaced: `handle(m)` gives (replacement,
    where the call ends) or None (the match stays as written and scanning goes on after it)."""
    out: list[str] = []
    pos = for_pos = 0
    while True:
        m = rx.search(text, for_pos)
        if not m:
            break
        got = handle(m)
        if got is None:
            for_pos = m.end()
            continue
        out.append(text[pos : m.start()])
        out.append(got[0])
        pos = for_pos = got[1]
    out.append(text[pos:])
    return "".join(out)


def read_optional(s: str, i: int) -> tuple[str | None, int]:
    """An optional `[...]` argument (brackets inside braces do not close it); (None, i) if absent."""
    j = skip_ws(s, i)
    if j >= len(s) or s[j] != "[":
        return None, i
    m, closed_outer = first_at_depth0(_BRACKET_TOKEN.finditer(s, j + 1), "]")
    if m is None or closed_outer:
        return None, i
    return s[j + 1 : m.start()], m.end()


def _at_depth0(s: str, k: int) -> Iterator[int]:
    """The positions k, k+1, ... of `s` at brace depth 0 (an escaped character is stepped over with
    its backslash), until a `}` closes a group opened before k."""
    depth = 0
    n = len(s)
    while k < n:
        if depth == 0:
            yield k
        c = s[k]
        if c == "\\":
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return
        k += 1


def read_delimited(s: str, i: int, open_: str, close: str) -> tuple[str, int] | None:
    """An argument written between `open_` and `close` at s[i:] (after blanks), such as physics'
    `\\qty(x)` or `\\qty|x|`: the text up to the first `close` at brace depth 0, nested `open_`..`close`
    pairs counted when the two differ."""
    j = skip_ws(s, i)
    if not s.startswith(open_, j):
        return None
    nest = 0
    for k in _at_depth0(s, j + len(open_)):
        if s[k] in "\\{}":  # a control sequence or a brace is never the delimiter
            continue
        if s.startswith(close, k):
            if nest == 0:
                return s[j + len(open_) : k], k + len(close)
            nest -= 1
        elif open_ != close and s.startswith(open_, k):
            nest += 1
    return None


def find_at_depth0(s: str, needle: str, i: int) -> int:
    """Index of the first `needle` at brace depth 0 in s[i:], -1 if none (for delimited \\def args)."""
    return next((k for k in _at_depth0(s, i) if s.startswith(needle, k)), -1)
