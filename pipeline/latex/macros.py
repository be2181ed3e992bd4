"""A paper's own macro definitions, and their expansion.

Definitions are read in document order from the paper's style files (first) and its flattened text:
`\\newcommand`, `\\renewcommand`, `\\providecommand`, `\\DeclareRobustCommand` (starred too, with an
argument count and an optional-argument default), `\\def`/`\\gdef`/`\\edef`/`\\xdef` with simple or
delimited parameter texts, `\\let`, `\\DeclareMathOperator(*)` and `\\newenvironment` aliases of
display-math environments. The rules for commands the fixed preamble already knows are in
docs/extraction.md (short form: `\\newcommand`/`\\providecommand` of a known command and every
definition from a style file of a known command are ignored, a paper's `\\renewcommand`, `\\def`
or `\\let` of it is taken, since the paper meant its own meaning).

Expansion is bounded (expansion count and output size); past the bounds `ExpansionError` is
raised, so a recursive macro costs one equation, never a hang.

This module also holds the small scanning helpers (brace groups, arguments) the other modules share.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Scanning helpers

_WS = re.compile(r"\s*")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.S)
_BRACKET_TOKEN = re.compile(r"\\.|[{}\]]", re.S)
_CS = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
_ENDS_CONTROL_WORD = re.compile(r"(?<!\\)(?:\\\\)*\\[A-Za-z]+$")


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
        m = _CS.match(s, i)
        return m.group(), m.end()
    return c, i + 1


def read_optional(s: str, i: int) -> tuple[str | None, int]:
    """An optional `[...]` argument (brackets inside braces do not close it); (None, i) if absent."""
    j = skip_ws(s, i)
    if j >= len(s) or s[j] != "[":
        return None, i
    depth = 0
    for m in _BRACKET_TOKEN.finditer(s, j + 1):
        t = m.group()
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if depth < 0:
                return None, i
        elif t == "]" and depth == 0:
            return s[j + 1 : m.start()], m.end()
    return None, i


def find_at_depth0(s: str, needle: str, i: int) -> int:
    """Index of the first `needle` at brace depth 0 in s[i:], -1 if none (for delimited \\def args)."""
    depth = 0
    n = len(s)
    while i < n:
        if depth == 0 and s.startswith(needle, i):
            return i
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return -1
        i += 1
    return -1


# ---------------------------------------------------------------------------------------------
# \iffalse blocks

_IF_TOKENS = re.compile(r"\\\\|\\newif\s*\\if[A-Za-z@]*|\\(if[A-Za-z@]*|fi)(?![A-Za-z@])")
_IFFALSE = re.compile(r"\\iffalse(?![A-Za-z@])")


def remove_iffalse(text: str) -> str:
    """`text` without its `\\iffalse ... \\fi` blocks (nested conditionals counted, `\\newif` not)."""
    if "\\iffalse" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        m = _IFFALSE.search(text, pos)
        if not m:
            break
        depth = 0
        end = -1
        for t in _IF_TOKENS.finditer(text, m.start()):
            name = t.group(1)
            if name is None:
                continue
            depth += -1 if name == "fi" else 1
            if depth == 0:
                end = t.end()
                break
        if end < 0:  # unterminated: TeX would skip to the end of the file
            out.append(text[pos : m.start()])
            pos = len(text)
            break
        out.append(text[pos : m.start()])
        pos = end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Macros

DISPLAY_ENVS = frozenset(
    "equation align gather multline flalign alignat eqnarray displaymath".split()
)

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
    from bisect import bisect_right

    from pipeline.latex.equations import inline_math_spans

    defined = set(defined)
    names = {n for pair in SHORTHAND_PAIRS for n in pair[:2]}
    if not re.search(r"\\(?:" + "|".join(sorted(names, key=len, reverse=True)) + r")(?![A-Za-z@])", text):
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
               for m in re.finditer(r"\\(" + b + "|" + e + r")(?![A-Za-z@])", text)]
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


class ExpansionError(ValueError):
    """A macro expansion went past its bounds (recursion, or output too large)."""


_PARAM = re.compile(r"#(#|[1-9])")


@dataclass
class Macro:
    name: str
    body: str
    nargs: int = 0
    default: str | None = None  # \newcommand's optional first argument
    # \def parameter text: literal prefix, then for each parameter the literal text delimiting it.
    prefix: str = ""
    delimiters: tuple[str, ...] = ()
    frozen: bool = False  # a \let to a primitive/known command: its output is not expanded again

    def read_args(self, s: str, i: int) -> tuple[list[str], int] | None:
        """The macro's arguments at s[i:], and where they end; None if they are not there."""
        args: list[str] = []
        if self.delimiters:
            if self.prefix:
                j = skip_ws(s, i)
                if not s.startswith(self.prefix, j):
                    return None
                i = j + len(self.prefix)
            for delim in self.delimiters:
                if delim:
                    j = find_at_depth0(s, delim, i)
                    if j < 0:
                        return None
                    arg = s[i:j].strip()
                    # One braced group as a whole argument loses its braces, as in TeX.
                    if arg.startswith("{") and match_brace(arg, 0) == len(arg):
                        arg = arg[1:-1]
                    args.append(arg)
                    i = j + len(delim)
                else:
                    r = read_arg(s, i)
                    if r is None:
                        return None
                    args.append(r[0])
                    i = r[1]
            return args, i
        n = self.nargs
        if self.default is not None:
            opt, i = read_optional(s, i)
            args.append(self.default if opt is None else opt)
            n -= 1
        for _ in range(n):
            r = read_arg(s, i)
            if r is None:
                return None
            args.append(r[0])
            i = r[1]
        return args, i

    def substitute(self, args: list[str]) -> str:
        if not args and "#" not in self.body:
            return self.body
        return substitute_params(self.body, args)


def substitute_params(body: str, args: list[str]) -> str:
    """`body` with #1.. replaced by `args` (## by #). In TeX a parameter is a token list of its own,
    so `\\langle#1` with `X` is `\\langle` then `X`: a space keeps them apart in the text."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "#":
            return "#"
        k = int(m.group(1))
        arg = args[k - 1] if k <= len(args) else ""
        if arg[:1].isalpha() and _ENDS_CONTROL_WORD.search(body, max(0, m.start() - 40), m.start()):
            arg = " " + arg
        if body[m.end() : m.end() + 1].isalpha() and _ENDS_CONTROL_WORD.search(arg):
            arg += " "
        return arg

    return _PARAM.sub(one, body)


_DEF_PARAMS = re.compile(r"#([1-9])")


def parse_def_params(params: str) -> tuple[int, str, tuple[str, ...]] | None:
    """(#params, literal prefix, delimiters) of a \\def parameter text; None if not understood."""
    parts = _DEF_PARAMS.split(params)
    prefix = parts[0].strip()
    nums = [int(x) for x in parts[1::2]]
    if nums != list(range(1, len(nums) + 1)):
        return None
    delims = tuple(p.strip() if p.strip() else "" for p in parts[2::2])
    if "{" in params or "}" in params:
        return None
    return len(nums), prefix, delims


_DEFINITION = re.compile(
    r"\\\\"
    r"|(?:\\(?:long|global|outer|protected)\s*)*"
    r"\\(?P<cmd>newcommand|renewcommand|providecommand|DeclareRobustCommand|def|gdef|edef|xdef|let"
    r"|DeclareMathOperator|newenvironment|renewenvironment)(?P<star>\*?)(?![A-Za-z@])"
)
_NAME_BRACED = re.compile(r"\{\s*(\\(?:[A-Za-z@]+|.))\s*\}", re.S)
_NAME_BARE = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
_ENV_NAME = re.compile(r"\{\s*([A-Za-z@*]+)\s*\}")
_ENV_COMMAND = re.compile(r"\\(end)?([a-z]+)(\*?)")
_PROGRAMMING = re.compile(r"@|\\(?:csname|expandafter|if[a-z]*|let|def|edef|gdef|relax|noexpand|futurelet|afterassignment)(?![A-Za-z])")
_STRUCTURAL = re.compile(r"\\(?:begin|end)(?![A-Za-z])|\\\[|\\\]|\$\$")
_ENV_BEGIN_ONLY = re.compile(r"\s*\\begin\s*\{(\w+\*?)\}\s*")
_ENV_END_ONLY = re.compile(r"\s*\\end\s*\{(\w+\*?)\}\s*")


@dataclass
class MacroTable:
    """A paper's macros and display-environment aliases."""

    macros: dict[str, Macro] = field(default_factory=dict)
    env_aliases: dict[str, str] = field(default_factory=dict)  # own env name -> display env
    max_expansions: int = 2000
    max_chars: int = 100_000
    _regexes: dict[frozenset[str] | None, re.Pattern[str]] = field(default_factory=dict, repr=False)

    # -- definition ------------------------------------------------------------------------

    def define(self, macro: Macro, kind: str, known: Mapping[str, object], from_style: bool) -> None:
        name = macro.name
        self._regexes.clear()
        env = _ENV_COMMAND.fullmatch(macro.body.strip())
        if env and macro.nargs == 0 and env.group(2) in DISPLAY_ENVS:
            # `\let\bea\eqnarray`, `\def\ee{\endequation}`: the environment's own begin/end code.
            what = "end" if env.group(1) else "begin"
            macro = Macro(name, f"\\{what}{{{env.group(2)}{env.group(3)}}}")
        if from_style and ("@" in name or name in known or _PROGRAMMING.search(macro.body)):
            return  # a style's internals and its tweaks of standard commands are not the paper's math
        if kind in ("newcommand", "providecommand", "DeclareMathOperator") and name in known:
            return  # LaTeX keeps (provide) or refuses (new) a defined name: the preamble's meaning holds
        if kind == "providecommand" and name in self.macros:
            return
        self.macros[name] = macro

    def read_definitions(self, text: str, known: Mapping[str, object], from_style: bool = False) -> str:
        """Register the definitions in `text`; return `text` without them."""
        out: list[str] = []
        pos = 0
        for_pos = 0
        while True:
            m = _DEFINITION.search(text, for_pos)
            if not m:
                break
            if m.group("cmd") is None:  # `\\`
                for_pos = m.end()
                continue
            end = self._read_one(text, m, known, from_style)
            if end is None:
                for_pos = m.end()
                continue
            out.append(text[pos : m.start()])
            pos = for_pos = end
        out.append(text[pos:])
        return "".join(out)

    def _read_one(self, s: str, m: re.Match[str], known: Mapping[str, object], from_style: bool) -> int | None:
        cmd, star = m.group("cmd"), m.group("star")
        i = skip_ws(s, m.end())
        if cmd in ("newenvironment", "renewenvironment"):
            nm = _ENV_NAME.match(s, i)
            if not nm:
                return None
            i = nm.end()
            _n, i = read_optional(s, i)
            _d, i = read_optional(s, i)
            begin = read_arg(s, i, braced_only=True)
            if begin is None:
                return None
            end = read_arg(s, begin[1], braced_only=True)
            if end is None:
                return None
            self._env_alias(nm.group(1), begin[0], end[0])
            return end[1]
        nm = _NAME_BRACED.match(s, i) or (_NAME_BARE.match(s, i))
        if not nm:
            return None
        name = (nm.group(1) if nm.re is _NAME_BRACED else nm.group())[1:]
        i = nm.end()
        if cmd == "let":
            j = skip_ws(s, i)
            if j < len(s) and s[j] == "=":
                j = skip_ws(s, j + 1)
            t = _NAME_BARE.match(s, j)
            if not t:
                return None
            target = t.group()[1:]
            if target in self.macros:
                src = self.macros[target]
                macro = Macro(name, src.body, src.nargs, src.default, src.prefix, src.delimiters, src.frozen)
            else:
                macro = Macro(name, t.group(), frozen=True)
            self.define(macro, "let", known, from_style)
            return t.end()
        if cmd == "DeclareMathOperator":
            body = read_arg(s, i, braced_only=True)
            if body is None:
                return None
            op = "\\operatorname*" if star else "\\operatorname"
            self.define(Macro(name, op + "{" + body[0] + "}"), cmd, known, from_style)
            return body[1]
        if cmd in ("def", "gdef", "edef", "xdef"):
            brace = s.find("{", i)
            if brace < 0 or brace - i > 200:
                return None
            parsed = parse_def_params(s[i:brace])
            if parsed is None:
                return None
            j = match_brace(s, brace)
            if j < 0:
                return None
            nargs, prefix, delims = parsed
            if not prefix and not any(delims):
                macro = Macro(name, s[brace + 1 : j - 1], nargs)
            else:
                macro = Macro(name, s[brace + 1 : j - 1], nargs, prefix=prefix, delimiters=delims)
            self.define(macro, "def", known, from_style)
            return j
        # \newcommand family
        n, i = read_optional(s, i)
        default, i = read_optional(s, i)
        body = read_arg(s, i, braced_only=False)
        if body is None:
            return None
        try:
            nargs = int(n.strip()) if n is not None else 0
        except ValueError:
            return None
        if default is not None and nargs == 0:
            return None
        kind = "newcommand" if cmd == "DeclareRobustCommand" else cmd
        self.define(Macro(name, body[0], nargs, default), kind, known, from_style)
        return body[1]

    def _env_alias(self, name: str, begin: str, end: str) -> None:
        begin = self.expand(begin, structural_only=True) if "\\" in begin else begin
        end = self.expand(end, structural_only=True) if "\\" in end else end
        b = _ENV_BEGIN_ONLY.fullmatch(begin)
        e = _ENV_END_ONLY.fullmatch(end)
        if b and e and b.group(1) == e.group(1) and b.group(1).rstrip("*") in DISPLAY_ENVS:
            self.env_aliases[name] = b.group(1)

    def add_shorthands(self, known: Mapping[str, object], text: str) -> None:
        """Define the shorthand pairs `text` uses as display environments (`shorthand_pairs_in_use`)."""
        defined = set(self.macros) | set(known)
        for b, e, env in shorthand_pairs_in_use(text, defined):
            self.macros[b] = Macro(b, f"\\begin{{{env}}}")
            self.macros[e] = Macro(e, f"\\end{{{env}}}")
        self._regexes.clear()

    # -- expansion -------------------------------------------------------------------------

    def structural_names(self) -> frozenset[str]:
        """Macros whose expansion opens or closes environments or display math."""
        names = {n for n, m in self.macros.items() if _STRUCTURAL.search(m.body)}
        changed = True
        while changed:  # through other macros: \def\be{\beq} with \beq structural
            changed = False
            for n, m in self.macros.items():
                if n not in names and "\\" in m.body:
                    if any(c.group()[1:] in names for c in _CS.finditer(m.body)):
                        names.add(n)
                        changed = True
        return frozenset(names)

    def _regex(self, names: frozenset[str] | None) -> re.Pattern[str] | None:
        if names in self._regexes:
            return self._regexes[names]
        pool = self.macros.keys() if names is None else names
        words = sorted((n for n in pool if n.isalpha()), key=len, reverse=True)
        others = sorted(n for n in pool if len(n) == 1 and not n.isalpha())
        alts = []
        if words:
            alts.append("(?:" + "|".join(words) + r")(?![A-Za-z@])")
        if others:
            alts.append("[" + "".join(re.escape(c) for c in others) + "]")
        rx = re.compile(r"\\\\|\\(" + "|".join(alts) + ")") if alts else None
        self._regexes[names] = rx
        return rx

    def expand(self, text: str, structural_only: bool = False) -> str:
        """`text` with the macros expanded (rescanning their output, TeX-like), within the bounds."""
        if not self.macros or "\\" not in text:
            return text
        rx = self._regex(self.structural_names() if structural_only else None)
        if rx is None:
            return text
        if structural_only:
            return self._expand_isolated(text, rx)
        return self._expand_rescan(text, rx)

    def _expand_rescan(self, text: str, rx: re.Pattern[str]) -> str:
        out: list[str] = []
        out_len = 0
        buf, pos, count = text, 0, 0
        while True:
            m = rx.search(buf, pos)
            if not m:
                out.append(buf[pos:])
                return "".join(out)
            if m.group(1) is None:  # `\\`
                continue_at = m.end()
                out.append(buf[pos:continue_at])
                out_len += continue_at - pos
                pos = continue_at
                continue
            macro = self.macros[m.group(1)]
            got = macro.read_args(buf, m.end())
            out.append(buf[pos : m.start()])
            out_len += m.start() - pos
            if got is None:  # arguments missing: leave the call as it is
                out.append(m.group())
                out_len += len(m.group())
                pos = m.end()
                continue
            count += 1
            if count > self.max_expansions:
                raise ExpansionError(f"more than {self.max_expansions} expansions (recursive \\{macro.name}?)")
            args, end = got
            rep = macro.substitute(args)
            if macro.frozen:
                if end < len(buf) and buf[end].isalpha() and rep[-1:].isalpha():
                    rep += " "
                out.append(rep)
                out_len += len(rep)
                pos = end
                continue
            # Rescanning the replacement together with what follows lets a macro's last command
            # take its arguments from the text after the call, as in TeX. Bounded by max_chars.
            if rep[:1].isalpha() and _ENDS_CONTROL_WORD.search(_last(out)):
                rep = " " + rep
            buf = rep + buf[end:]
            pos = 0
            if out_len + len(buf) > self.max_chars:
                raise ExpansionError(f"expansion longer than {self.max_chars} characters (\\{macro.name})")

    def _expand_isolated(self, text: str, rx: re.Pattern[str]) -> str:
        # Document-wide pass: each call's replacement is expanded on its own, so the cost stays
        # linear in the document; a failing call is left as written.
        out: list[str] = []
        pos = 0
        for_pos = 0
        while True:
            m = rx.search(text, for_pos)
            if not m:
                break
            if m.group(1) is None:
                for_pos = m.end()
                continue
            macro = self.macros[m.group(1)]
            got = macro.read_args(text, m.end())
            if got is None:
                for_pos = m.end()
                continue
            args, end = got
            try:
                rep = self._expand_rescan(macro.substitute(args), rx) if not macro.frozen else macro.substitute(args)
            except ExpansionError:
                for_pos = m.end()
                continue
            out.append(text[pos : m.start()])
            # A control word before the call must not glue to the replacement's first letter.
            if rep[:1].isalpha() and _ENDS_CONTROL_WORD.search(text, max(0, m.start() - 40), m.start()):
                rep = " " + rep
            out.append(rep)
            pos = for_pos = end
        out.append(text[pos:])
        return "".join(out)

    def apply_env_aliases(self, text: str) -> str:
        if not self.env_aliases:
            return text
        rx = re.compile(
            r"\\(begin|end)\s*\{(" + "|".join(re.escape(n) for n in self.env_aliases) + r")\}"
        )
        return rx.sub(lambda m: "\\" + m.group(1) + "{" + self.env_aliases[m.group(2)] + "}", text)


def _last(pieces: list[str]) -> str:
    for p in reversed(pieces):
        if p:
            return p[-40:]
    return ""


def build_table(
    text: str,
    styles: Mapping[str, str],
    known: Mapping[str, object],
    shorthands: bool = True,
) -> tuple[MacroTable, str]:
    """A paper's macro table (styles first, then `text` in order) and `text` without definitions."""
    table = MacroTable()
    for name in sorted(styles):
        table.read_definitions(remove_iffalse(styles[name]), known, from_style=True)
    text = table.read_definitions(text, known)
    if shorthands:
        table.add_shorthands(known, text)
    return table, text


def command_names(latex: str) -> Iterable[str]:
    """Names (without backslash) of the control sequences in `latex`, in order."""
    return (m.group()[1:] for m in _CS.finditer(latex))
