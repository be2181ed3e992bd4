"""Canonical form of an equation body (rules in docs/extraction.md, "Normalisation").

1. `%` comments go (input normally arrives without them).
2. `\\label{..}`, `\\tag{..}`, `\\tag*{..}`, `\\nonumber`, `\\notag` go, and so does plain TeX's
   `\\eqno`/`\\leqno` with the number after it (up to the end of its line or group).
3. Whitespace: none in math, except one space where a control word is followed by a letter
   (`\\alpha x`); a control space (`\\` + any blank) is `\\ `; a blank between `\\\\` and `[` becomes
   `{}` (so the bracket is not read as the line break's optional argument), and so does a blank
   between `\\begin{aligned}` and `&` (without it `\\begin{aligned}&\\sin` fails to compile). Inside the braced
   argument of a text-mode command (TEXT_COMMANDS) every run of blanks is one space.
4. Trailing sentence punctuation (`.` `,` `;`), trailing spacing commands and a trailing `\\\\` go,
   repeatedly; a `.` that is a `\\right.`-style null delimiter stays.

Written without the tokenizer, which relies on the same TEXT_COMMANDS and space rule.
"""
from __future__ import annotations

import re

from pipeline.latex.scan import first_at_depth0, match_brace

# Commands whose braced argument is typeset in text mode, where blanks are meaningful.
TEXT_COMMANDS = frozenset(
    "text mbox textrm textit textbf textsf texttt textnormal textup textsl textsc textmd emph "
    "hbox intertext shortintertext fbox".split()
)

_COMMENT = re.compile(r"\\[\\%]|(%[^\n]*)")
# Group 1 is a `\\\\` line break, read whole so that `\\\\nonumber...` (a break, then letters) stays.
_DROP = re.compile(
    r"(\\\\)|\\(?:label|tag\*?)\s*\{[^{}]*\}|\\(?:nonumber|notag)(?![A-Za-z])"
)
_EQNO = re.compile(r"\\(?:l?eqno)(?![A-Za-z])")
_EQNO_SCAN = re.compile(r"\\\\|\\.|[{}]", re.S)
_LEX = re.compile(
    r"(?P<cw>\\[A-Za-z]+)|(?P<cs>\\[^A-Za-z\s])|(?P<ctrlspace>\\\s)|(?P<ws>\s+)|(?P<other>[^\\\s]+|\\)"
)
# TeX letters (catcode 11) are ASCII only: `\\Aº` is `\\A` then `º`, no separator needed.
ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_BLANKS = re.compile(r"\s+")
_TAIL_LEX = re.compile(r"\\[A-Za-z]+|\\.|\s+|[^\\\s]|\\", re.S)
_TAIL_DROP = frozenset(["\\,", "\\;", "\\:", "\\!", "\\>", "\\ ", "\\quad", "\\qquad", "~", "\\\\"])
_NULL_DELIM = re.compile(r"\\(?:right|left|middle|[bB]igg?[lrm]?)")


def _strip_comments(s: str) -> str:
    if "%" not in s:
        return s
    return _COMMENT.sub(lambda m: "" if m.group(1) else m.group(), s)


def _canonical_spaces(s: str) -> str:
    out: list[str] = []
    prev_word = False  # the last emitted token is a control word
    prev_newline = False  # the last emitted token is `\\`
    pos = 0
    n = len(s)
    while pos < n:
        m = _LEX.match(s, pos)
        kind = m.lastgroup
        tok = m.group()
        pos = m.end()
        if kind == "ws":
            if prev_word and pos < n and s[pos] in ASCII_LETTERS:
                out.append(" ")
            elif prev_newline and pos < n and s[pos] == "[":
                out.append("{}")
            elif pos < n and s[pos] == "&" and out[-2:] == ["\\begin", "{aligned}"]:
                # `\begin{aligned}&\sin x` fails (aligned's look-ahead for [t] meets the & and
                # \sin's mathcode change), `\begin{aligned} &\sin x` compiles: keep a separator.
                out.append("{}")
            continue
        if kind == "cw" and tok[1:] in TEXT_COMMANDS:
            j = pos
            while j < n and s[j].isspace():
                j += 1
            if j < n and s[j] == "{":
                k = match_brace(s, j)
                if k > 0:
                    out.append(tok)
                    out.append("{" + _BLANKS.sub(" ", s[j + 1 : k - 1]) + "}")
                    pos = k
                    prev_word = prev_newline = False
                    continue
        if kind == "ctrlspace":
            tok = "\\ "
        out.append(tok)
        prev_word = kind == "cw"
        prev_newline = tok == "\\\\"
    return "".join(out)


def _strip_tail(s: str) -> str:
    toks = [m.group() for m in _TAIL_LEX.finditer(s)]
    k = len(toks)
    while k:
        t = toks[k - 1]
        if t.isspace() or t in _TAIL_DROP:
            k -= 1
        elif t in ".,;":
            if t == "." and k >= 2 and _NULL_DELIM.fullmatch(toks[k - 2]):
                break  # `\right.` is a delimiter, not punctuation
            k -= 1
        else:
            break
    return s if k == len(toks) else "".join(toks[:k])


def _drop_eqno(s: str) -> str:
    """`s` without plain TeX's equation numbers: `\\eqno` or `\\leqno` and what follows it up to the
    end of its line (`\\\\` at its brace depth), its group, or the formula: that text is the number."""
    out: list[str] = []
    pos = 0
    while True:
        m = _EQNO.search(s, pos)
        while m is not None and not _is_command_at(s, m.start()):
            m = _EQNO.search(s, m.start() + 1)
        if m is None:
            out.append(s[pos:])
            return "".join(out)
        out.append(s[pos : m.start()])
        # the number ends at the line's `\\\\`, its group's `}`, or the formula's end
        stop, _ = first_at_depth0(_EQNO_SCAN.finditer(s, m.end()), "\\\\")
        pos = stop.start() if stop is not None else len(s)


def _is_command_at(s: str, i: int) -> bool:
    """Whether the backslash at s[i] starts a control sequence (is not the second half of `\\\\`)."""
    k = i
    while k > 0 and s[k - 1] == "\\":
        k -= 1
    return (i - k) % 2 == 0


def normalise(latex: str) -> str:
    """The canonical form of one equation body (see the module docstring)."""
    s = _strip_comments(latex)
    if "\\" in s:
        s = _DROP.sub(lambda m: m.group(1) or " ", s)
        if "eqno" in s:
            s = _drop_eqno(s)
    s = _canonical_spaces(s)
    return _strip_tail(s)
