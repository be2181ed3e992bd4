"""A paper's own macro definitions, and their expansion.

Definitions are read in document order from the paper's style files (first) and its flattened text:
`\\newcommand`, `\\renewcommand`, `\\providecommand`, `\\DeclareRobustCommand` (starred too, with an
argument count and an optional-argument default), `\\def`/`\\gdef`/`\\edef`/`\\xdef` with simple or
delimited parameter texts, `\\let`, `\\DeclareMathOperator(*)` and `\\newenvironment` aliases of
display-math environments. The rules for commands the fixed preamble already knows are in
docs/extraction.md (short form: `\\newcommand`/`\\providecommand` of a known command and every
definition from a style file of a known command are ignored, a paper's `\\renewcommand`, `\\def`
or `\\let` of it is taken, since the paper meant its own meaning).

No library does this: pylatexenc parses LaTeX but does not expand user macros, and TeX itself
cannot be asked to expand only the paper's own macros and leave the rest as source.

Expansion is bounded (expansion count and output size); past the bounds `ExpansionError` is
raised, so a recursive macro costs one equation, never a hang.

Names may contain `@` (definitions under `\\makeatletter` and in style files): `\\def\\make@small`
is read and expanded wherever a definition's body uses it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pipeline.latex.conditionals import remove_iffalse
from pipeline.latex.equations import DISPLAY_ENVS
from pipeline.latex.scan import (
    CONTROL_SEQUENCE_AT,
    ends_with_control_word,
    find_at_depth0,
    match_brace,
    read_arg,
    read_optional,
    replace_calls,
    skip_ws,
)
from pipeline.latex.shorthands import shorthand_pairs_in_use


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
    # xparse (\NewDocumentCommand) argument types in order: "m", "o", "s", or "O" + its default.
    spec: tuple[str, ...] = ()
    # mathtools' \DeclarePairedDelimiter(X): the left and right delimiters (the call takes a star or
    # an optional size first; `body` is the X form's body, "#1" for the plain form).
    paired: tuple[str, str] | None = None
    # LaTeX's own look-ahead tests, which paper macros call: "ifstar" (`\@ifstar{A}{B}`) and
    # "ifnextchar" (`\@ifnextchar[{A}{B}`); the branch taken is decided by the text after them.
    builtin: str | None = None

    def read_args(self, s: str, i: int) -> tuple[list[str], int] | None:
        """The macro's arguments at s[i:], and where they end; None if they are not there."""
        args: list[str] = []
        if self.builtin is not None:
            return self._read_lookahead(s, i)
        if self.spec or self.paired is not None:
            return self._read_typed_args(s, i)
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
                    i = _take_arg(s, i, args)
                    if i is None:
                        return None
            return args, i
        n = self.nargs
        if self.default is not None:
            opt, i = read_optional(s, i)
            args.append(self.default if opt is None else opt)
            n -= 1
        for _ in range(n):
            i = _take_arg(s, i, args)
            if i is None:
                return None
        return args, i

    def _read_lookahead(self, s: str, i: int) -> tuple[list[str], int] | None:
        want = "*"
        if self.builtin == "ifnextchar":
            c = read_arg(s, i)
            if c is None:
                return None
            want, i = c[0], c[1]
        a = read_arg(s, i)
        b = read_arg(s, a[1]) if a is not None else None
        if b is None:
            return None
        j = skip_ws(s, b[1])
        if s.startswith(want, j) and want:
            # \@ifstar eats the star; \@ifnextchar only looks
            return [a[0]], (j + len(want) if self.builtin == "ifstar" else b[1])
        return [b[0]], b[1]

    def _read_typed_args(self, s: str, i: int) -> tuple[list[str], int] | None:
        args: list[str] = []
        spec = self.spec if self.paired is None else ("s", "o", *("m" * self.nargs))
        for kind in spec:
            if kind == "s":
                j = skip_ws(s, i)
                star = s.startswith("*", j)
                args.append(_TRUE if star else _FALSE)
                i = j + 1 if star else i
            elif kind[0] in "oO":
                opt, i = read_optional(s, i)
                args.append(opt if opt is not None else kind[1:] if kind[0] == "O" else _NO_VALUE)
            else:
                i = _take_arg(s, i, args)
                if i is None:
                    return None
        return args, i

    def substitute(self, args: list[str]) -> str:
        if self.paired is not None:
            return _paired(self.paired, self.body, args)
        if not args and "#" not in self.body:
            return self.body
        out = substitute_params(self.body, args)
        return resolve_xparse_conditionals(out) if self.spec else out


# How an xparse body sees its star and missing optional arguments; its conditionals are decided
# on these markers once the arguments are in place.
_TRUE, _FALSE, _NO_VALUE = "\\BooleanTrue", "\\BooleanFalse", "-NoValue-"
_XPARSE_IF = re.compile(r"\\(If(?:Boolean|NoValue|Value)(?:TF|T|F))(?![A-Za-z@])")


def _take_arg(s: str, i: int, args: list[str]) -> int | None:
    """Append the mandatory argument at s[i:] to `args`; where it ends, None if there is none."""
    r = read_arg(s, i)
    if r is None:
        return None
    args.append(r[0])
    return r[1]


def resolve_xparse_conditionals(text: str) -> str:
    """`text` with xparse's `\\IfBooleanTF{..}{..}{..}`, `\\IfNoValueTF`, `\\IfValueTF` (and the T and F
    forms) replaced by the branch their tested argument selects."""
    for _ in range(64):
        m = _XPARSE_IF.search(text)
        if m is None:
            return text
        name = m.group(1)
        test = read_arg(text, m.end())
        if test is None:
            return text
        form = "TF" if name.endswith("TF") else name[-1]
        branches: list[str] = []
        end = test[1]
        for _b in range(len(form)):
            r = read_arg(text, end)
            if r is None:
                return text
            branches.append(r[0])
            end = r[1]
        value = test[0].strip()
        if "Boolean" in name:
            truth = value == _TRUE
        elif "NoValue" in name:
            truth = value == _NO_VALUE
        else:
            truth = value != _NO_VALUE
        if form == "TF":
            chosen = branches[0] if truth else branches[1]
        elif form == "T":
            chosen = branches[0] if truth else ""
        else:
            chosen = "" if truth else branches[0]
        text = text[: m.start()] + chosen + text[end:]
    return text


_SIZES = ("big", "Big", "bigg", "Bigg")


def _paired(delims: tuple[str, str], body: str, args: list[str]) -> str:
    """A \\DeclarePairedDelimiter(X) call: starred -> `\\left`..`\\right`, `[\\big]` -> `\\bigl`..`\\bigr`,
    plain -> the delimiters as written; `\\delimsize` in an X body follows the same size."""
    star, size, rest = args[0] == _TRUE, args[1], args[2:]
    inner = substitute_params(body, rest)
    left, right = delims
    size = size.strip().lstrip("\\") if size != _NO_VALUE else ""
    if star:
        inner = re.sub(r"\\delimsize(?![A-Za-z@])\s*", r"\\middle", inner)
        return f"\\left{left} {inner}\\right{right}"
    if size in _SIZES:
        inner = re.sub(r"\\delimsize(?![A-Za-z@])\s*", lambda _m: "\\" + size + " ", inner)
        return f"\\{size}l{left} {inner}\\{size}r{right}"
    inner = re.sub(r"\\delimsize(?![A-Za-z@])\s*", "", inner)
    return f"{left} {inner}{right}"


def substitute_params(body: str, args: list[str]) -> str:
    """`body` with #1.. replaced by `args` (## by #). In TeX a parameter is a token list of its own,
    so `\\langle#1` with `X` is `\\langle` then `X`: a space keeps them apart in the text."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "#":
            return "#"
        k = int(m.group(1))
        arg = args[k - 1] if k <= len(args) else ""
        if arg[:1].isalpha() and ends_with_control_word(body[max(0, m.start() - 40) : m.start()]):
            arg = " " + arg
        if body[m.end() : m.end() + 1].isalpha() and ends_with_control_word(arg):
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


_AT_WORD = re.compile(r"[A-Za-z@]+")
_DEFINITION = re.compile(
    r"\\\\"
    r"|(?:\\(?:long|global|outer|protected)\s*)*"
    r"\\(?P<cmd>newcommand|renewcommand|providecommand|DeclareRobustCommand|def|gdef|edef|xdef|let"
    r"|DeclareMathOperator|newenvironment|renewenvironment|mathchardef"
    r"|NewDocumentCommand|RenewDocumentCommand|ProvideDocumentCommand|DeclareDocumentCommand"
    r"|DeclarePairedDelimiter|DeclarePairedDelimiterX|DeclarePairedDelimiterXPP)(?P<star>\*?)(?![A-Za-z@])"
)
_XPARSE = {"NewDocumentCommand": "newcommand", "RenewDocumentCommand": "renewcommand",
           "ProvideDocumentCommand": "providecommand", "DeclareDocumentCommand": "renewcommand"}
# xparse argument types read here: m, o, O{default}, s (with `+` for long arguments); other types
# (delimited, embellishments, verbatim) leave the command undefined rather than misread.
_XPARSE_ARG = re.compile(r"\s*\+?\s*(?:(m|o|s)|O\s*(?=\{))")
_MATHCHAR = re.compile(r"\s*=?\s*(\"[0-9A-Fa-f]+|'[0-7]+|[0-9]+)")
_NAME_BRACED = re.compile(r"\{\s*(\\(?:[A-Za-z@]+|.))\s*\}", re.S)
_NAME_BARE = re.compile(r"\\(?:[A-Za-z@]+|.)", re.S)
_ENV_NAME = re.compile(r"\{\s*([A-Za-z@*]+)\s*\}")
_ENV_COMMAND = re.compile(r"\\(end)?([a-z]+)(\*?)")
# TeX programming or drawing in a style's definition: class and package internals, not the paper's notation.
# `@` in a name is not programming by itself: a paper's own style writes `\\def\\make@small#1{..}`
# and calls it from `\\newcommand{\\soplus}{\\mathbin{\\make@small\\oplus}}`.
_PROGRAMMING = re.compile(
    r"\\(?:csname|expandafter|if[a-zA-Z@]*|let|def|edef|gdef|xdef|relax|noexpand|futurelet|afterassignment"
    r"|begingroup|endgroup|global|long|protected|unexpanded|detokenize|string|romannumeral|number|the|advance"
    r"|setbox|count[a-z@]*|dimen[a-z@]*|skip[a-z@]*|toks[a-z@]*|box|ProvidesPackage|ProvidesFile|NeedsTeXFormat"
    r"|DeclareOption|ProcessOptions|PackageError|PackageWarning|ClassError|ClassWarning|typeout|message"
    # drawing code (TikZ, PGF): a style's pictures are not notation either
    r"|draw|node|path|fill|foreach|pgf[A-Za-z@]*|tikz[A-Za-z@]*)(?![A-Za-z@])"
)
# LaTeX kernel macros that paper helpers written under \makeatletter use, with their kernel meanings.
_KERNEL_AT = {
    "mathpalette": Macro("mathpalette", "\\mathchoice{#1\\displaystyle{#2}}{#1\\textstyle{#2}}"
                                        "{#1\\scriptstyle{#2}}{#1\\scriptscriptstyle{#2}}", 2),
    "m@th": Macro("m@th", "\\mathsurround=0pt ", 0),
}
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
        if from_style and (name in known or _PROGRAMMING.search(macro.body)):
            return  # a style's internals and its tweaks of standard commands are not the paper's math
        if kind in ("newcommand", "providecommand", "DeclareMathOperator") and name in known:
            return  # LaTeX keeps (provide) or refuses (new) a defined name: the preamble's meaning holds
        if kind == "providecommand" and name in self.macros:
            return
        self.macros[name] = macro

    def read_definitions(self, text: str, known: Mapping[str, object], from_style: bool = False) -> str:
        """Register the definitions in `text`; return `text` without them."""
        def definition(m: re.Match[str]) -> tuple[str, int] | None:
            if m.group("cmd") is None:  # `\\`
                return None
            end = self._read_one(text, m, known, from_style)
            return None if end is None else ("", end)

        return replace_calls(text, _DEFINITION, definition)

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
            env = nm.group(1)
            if env.isalpha() and env not in self.env_aliases:
                # LaTeX defines the command `\env` too, and papers call it (`\resp{x}` for a
                # `resp` environment whose begin code is `\texttt{#1}`).
                try:
                    nargs = int(_n.strip()) if _n is not None else 0
                except ValueError:
                    return end[1]
                kind = "newcommand" if cmd == "newenvironment" else "renewcommand"
                self.define(Macro(env, begin[0], nargs, _d if nargs else None), kind, known, from_style)
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
                macro = replace(self.macros[target], name=name)
            else:
                macro = Macro(name, t.group(), frozen=True)
            self.define(macro, "let", known, from_style)
            return t.end()
        if cmd == "mathchardef":
            # `\mathchardef\mdash="2D`: the same math character, written with the primitive.
            num = _MATHCHAR.match(s, i)
            if not num:
                return None
            self.define(Macro(name, "\\mathchar" + num.group(1), frozen=True), "def", known, from_style)
            return num.end()
        if cmd in _XPARSE:
            return self._read_xparse(s, i, name, _XPARSE[cmd], known, from_style)
        if cmd.startswith("DeclarePairedDelimiter"):
            return self._read_paired(s, i, name, cmd, known, from_style)
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

    def _read_xparse(self, s: str, i: int, name: str, kind: str, known: Mapping[str, object],
                     from_style: bool) -> int | None:
        spec_arg = read_arg(s, i, braced_only=True)
        if spec_arg is None:
            return None
        spec: list[str] = []
        text, k = spec_arg[0], 0
        while skip_ws(text, k) < len(text):
            a = _XPARSE_ARG.match(text, k)
            if a is None:
                body = read_arg(s, spec_arg[1], braced_only=True)
                return None if body is None else body[1]  # an argument type not read here
            if a.group(1):
                spec.append(a.group(1))
                k = a.end()
            else:
                default = read_arg(text, a.end(), braced_only=True)
                if default is None:
                    return None
                spec.append("O" + default[0])
                k = default[1]
        body = read_arg(s, spec_arg[1], braced_only=True)
        if body is None:
            return None
        self.define(Macro(name, body[0], len(spec), spec=tuple(spec)), kind, known, from_style)
        return body[1]

    def _read_paired(self, s: str, i: int, name: str, cmd: str, known: Mapping[str, object],
                     from_style: bool) -> int | None:
        nargs = 1
        if cmd != "DeclarePairedDelimiter":
            n, i = read_optional(s, i)
            try:
                nargs = int(n.strip()) if n is not None else 0
            except ValueError:
                return None
        parts: list[str] = []
        for _ in range({"DeclarePairedDelimiter": 2, "DeclarePairedDelimiterX": 3}.get(cmd, 5)):
            r = read_arg(s, i, braced_only=False)
            if r is None:
                return None
            parts.append(r[0].strip())
            i = r[1]
        if cmd == "DeclarePairedDelimiterXPP":  # {pre}{left}{right}{post}{body}
            pre, left, right, post, body = parts
            if pre or post:
                return i  # code around the delimiters: not a plain pair
            parts = [left, right, body]
        body = parts[2] if len(parts) == 3 else "#1"
        if _PROGRAMMING.search(body):
            return i  # a body that computes (`\ifnum\currentgrouptype`) is not notation to copy
        self.define(Macro(name, body, nargs, paired=(parts[0], parts[1])), "newcommand", known, from_style)
        return i

    def _env_alias(self, name: str, begin: str, end: str) -> None:
        begin = self.expand(begin, structural_only=True) if "\\" in begin else begin
        end = self.expand(end, structural_only=True) if "\\" in end else end
        b = _ENV_BEGIN_ONLY.fullmatch(begin)
        e = _ENV_END_ONLY.fullmatch(end)
        if b and e and b.group(1) == e.group(1) and b.group(1).rstrip("*") in DISPLAY_ENVS:
            self.env_aliases[name] = b.group(1)

    def add_lookahead_tests(self) -> None:
        """Define `\\@ifstar` and `\\@ifnextchar` where the paper's macros call them, and the
        kernel macros that hand a paper's `@` helper its arguments or sit in its body."""
        for name, kind in (("@ifstar", "ifstar"), ("@ifnextchar", "ifnextchar"), ("kernel@ifnextchar", "ifnextchar")):
            if name not in self.macros and any("\\" + name in m.body for m in self.macros.values()):
                self.macros[name] = Macro(name, "#1", 1, builtin=kind)
                self._regexes.clear()
        # A body written under \makeatletter holds `@` names as single control sequences, and keeps
        # them wherever it is expanded (TeX tokenised it where `@` was a letter). Text cannot say
        # that in the document's catcodes: `\make@small` there reads `\make` + `@small`. So every
        # `@` name a paper macro's body leaves behind is expanded too: the paper's own helpers
        # (defined), the kernel's that pass them arguments (`\mathpalette\make@small\oplus`, whose
        # #1 is the helper), and the kernel's that are plain settings (`\m@th`).
        for name, macro in _KERNEL_AT.items():
            if name not in self.macros and any("\\" + name in m.body for m in self.macros.values()):
                self.macros[name] = macro
                self._regexes.clear()

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
                    if any(c.group()[1:] in names for c in CONTROL_SEQUENCE_AT.finditer(m.body)):
                        names.add(n)
                        changed = True
        return frozenset(names)

    def _regex(self, names: frozenset[str] | None) -> re.Pattern[str] | None:
        if names in self._regexes:
            return self._regexes[names]
        pool = self.macros.keys() if names is None else names
        # `@` names too: a body written under \makeatletter calls its helpers (`\make@small`).
        words = sorted((n for n in pool if _AT_WORD.fullmatch(n)), key=len, reverse=True)
        others = sorted(n for n in pool if len(n) == 1 and not _AT_WORD.fullmatch(n))
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
            if rep[:1].isalpha() and ends_with_control_word(_last(out)):
                rep = " " + rep
            # ... and its last control word must not glue to a letter after the call
            # (`\brak{f}S` with `\brak` ending in `\rvert` is `\rvert S`, not `\rvertS`).
            if buf[end : end + 1].isalpha() and ends_with_control_word(rep):
                rep += " "
            buf = rep + buf[end:]
            pos = 0
            if out_len + len(buf) > self.max_chars:
                raise ExpansionError(f"expansion longer than {self.max_chars} characters (\\{macro.name})")

    def _expand_isolated(self, text: str, rx: re.Pattern[str]) -> str:
        # Document-wide pass: each call's replacement is expanded on its own, so the cost stays
        # linear in the document; a failing call is left as written.
        def call(m: re.Match[str]) -> tuple[str, int] | None:
            if m.group(1) is None:
                return None
            macro = self.macros[m.group(1)]
            got = macro.read_args(text, m.end())
            if got is None:
                return None
            args, end = got
            try:
                rep = self._expand_rescan(macro.substitute(args), rx) if not macro.frozen else macro.substitute(args)
            except ExpansionError:
                return None
            # A control word before the call must not glue to the replacement's first letter.
            if rep[:1].isalpha() and ends_with_control_word(text[max(0, m.start() - 40) : m.start()]):
                rep = " " + rep
            if text[end : end + 1].isalpha() and ends_with_control_word(rep):
                rep += " "
            return rep, end

        return replace_calls(text, rx, call)

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
    table.add_lookahead_tests()
    if shorthands:
        table.add_shorthands(known, text)
    return table, text
