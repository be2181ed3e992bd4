"""Rewrites into the fixed preamble's own terms: package commands (data/package_rewrites.tsv) and
old-style TeX forms (`{a \\over b}`, `{\\rm x}`, ...). Rules are documented in docs/extraction.md.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pipeline.latex.macros import ExpansionError, substitute_params
from pipeline.latex.normalise import TEXT_COMMANDS
from pipeline.latex.scan import ends_with_control_word, read_arg, read_delimited, read_optional

# Package data (pipeline/data/, also reachable as the repository's data/): found the same way in a
# source checkout and in an installed wheel.
DEFAULT_TABLE = resources.files("pipeline") / "data" / "package_rewrites.tsv"


_SLOTS = re.compile(r"\[\]|\{\}|\(\)|\|\|")
_DELIMITED = {"()": ("(", ")"), "||": ("|", "|")}


@dataclass(frozen=True)
class Rule:
    package: str
    command: str  # without backslash
    slots: str  # "" or e.g. "[]{}{}"; also "()" and "||" for arguments written between those
    replacement: str
    example: str
    only_if_loaded: bool = False  # written `package!` in the table: a name other papers use otherwise

    def match(self, s: str, i: int, strict: bool) -> tuple[list[str], int] | None:
        args: list[str] = []
        for slot in _SLOTS.findall(self.slots):
            if slot in _DELIMITED:
                got = read_delimited(s, i, *_DELIMITED[slot])
                if got is None:
                    return None
                args.append(got[0])
                i = got[1]
            elif slot == "[]":
                opt, j = read_optional(s, i)
                if opt is None:
                    return None
                args.append(opt)
                i = j
            else:
                got = read_arg(s, i, braced_only=strict)
                if got is None:
                    return None
                args.append(got[0])
                i = got[1]
        return args, i

    def apply(self, args: list[str]) -> str:
        return substitute_params(self.replacement, args)


def load_rules(path: str | Path | Traversable = DEFAULT_TABLE) -> list[Rule]:
    rules: list[Rule] = []
    text = (Path(path) if isinstance(path, str) else path).read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 5 or not cols[1].startswith("\\"):
            raise ValueError(f"{path}:{n}: expected 5 tab-separated columns: package command args replacement example")
        pkg, cmd, slots, rep, example = cols
        rules.append(Rule(pkg.rstrip("!"), cmd[1:], "" if slots == "-" else slots, rep, example, pkg.endswith("!")))
    return rules


@lru_cache(maxsize=4)
def _default_rules() -> tuple[Rule, ...]:
    return tuple(load_rules())


_PACKAGE_USE = re.compile(r"\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")


def loaded_packages(latex: str, styles: Mapping[str, str] | None = None) -> set[str]:
    """Package names a paper loads (in its text or its own style files)."""
    names: set[str] = set()
    for text in [latex, *(styles or {}).values()]:
        for m in _PACKAGE_USE.finditer(text):
            names.update(p.strip() for p in m.group(1).split(",") if p.strip())
    return names


class PackageRewriter:
    """Applies the package table to equation bodies, for commands the preamble does not know."""

    def __init__(
        self,
        known: Collection[str],
        packages: Collection[str] = (),
        rules: list[Rule] | tuple[Rule, ...] | None = None,
        max_rewrites: int = 500,
    ) -> None:
        by_cmd: dict[str, list[Rule]] = {}
        for r in rules if rules is not None else _default_rules():
            if r.command not in known and (r.package in packages or not r.only_if_loaded):
                by_cmd.setdefault(r.command, []).append(r)
        for cmd, rs in by_cmd.items():
            rs.sort(key=lambda r: r.package not in packages)  # stable: file order otherwise
        self.by_cmd = by_cmd
        self.max_rewrites = max_rewrites
        words = sorted(by_cmd, key=len, reverse=True)
        self._rx = re.compile(r"\\\\|\\(" + "|".join(words) + r")(?![A-Za-z])") if words else None

    def rewrite(self, latex: str) -> str:
        if self._rx is None or "\\" not in latex:
            return latex
        out: list[str] = []
        buf, pos, count = latex, 0, 0
        while True:
            m = self._rx.search(buf, pos)
            if not m:
                out.append(buf[pos:])
                return "".join(out)
            if m.group(1) is None:
                out.append(buf[pos : m.end()])
                pos = m.end()
                continue
            rules = self.by_cmd[m.group(1)]
            hit = None
            for k, rule in enumerate(rules):
                got = rule.match(buf, m.end(), strict=k < len(rules) - 1)
                if got is not None:
                    hit = rule, got
                    break
            out.append(buf[pos : m.start()])
            if hit is None:
                out.append(m.group())
                pos = m.end()
                continue
            count += 1
            if count > self.max_rewrites:
                raise ExpansionError("too many package rewrites")
            rule, (args, end) = hit
            rep = rule.apply(args)
            # A replacement ending in a control word must not glue to a following letter.
            if end < len(buf) and buf[end].isalpha() and ends_with_control_word(rep):
                rep += " "
            buf = rep + buf[end:]
            pos = 0


_ENSUREMATH = re.compile(r"\\\\|(?P<script>[\^_]\s*)?\\ensuremath(?![A-Za-z@])")


def unwrap_ensuremath(latex: str) -> str:
    """`\\ensuremath{x}` inside math is `x` (TeX's own meaning there); after `^` or `_` it stays one
    group, `^{x}`, so the script keeps its whole argument."""
    if "ensuremath" not in latex:
        return latex
    out: list[str] = []
    pos = 0
    for m in _ENSUREMATH.finditer(latex):
        if m.group(0) == "\\\\" or m.start() < pos:
            continue
        got = read_arg(latex, m.end())
        if got is None:
            continue
        script = m.group("script")
        out.append(latex[pos : m.start()])
        out.append(script + "{" + got[0] + "}" if script else got[0])
        if not script and got[1] < len(latex) and latex[got[1]].isalpha() and ends_with_control_word(got[0]):
            out.append(" ")
        pos = got[1]
    out.append(latex[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Old-style forms

FONT_SWITCHES = {"rm": "mathrm", "bf": "mathbf", "it": "mathit", "sf": "mathsf", "tt": "mathtt", "cal": "mathcal"}
FRACTIONS = {"over": "\\frac", "choose": "\\binom", "atop": "\\genfrac{}{}{0pt}{}"}
_LEX = re.compile(
    r"\\(?:begin|end)\s*\{[^{}]*\}|\\(?:left|right)(?![A-Za-z])\s*(?:\\[A-Za-z]+|\\.|[^\s\\])"
    r"|\\[A-Za-z]+|\\.|\\|.",
    re.S,
)
_OLD = re.compile(r"\\(?:rm|bf|it|sf|tt|cal|over|choose|atop)(?![A-Za-z])")


_OPENER = re.compile(r"\\(?:begin|left)(?![a-z])")
_CLOSER = re.compile(r"\\(?:end|right)(?![a-z])")


class _Group(list):
    """A `{...}` group (or a \\left..\\right / \\begin..\\end span when `open_`, `close` are tokens)."""

    def __init__(self, open_: str = "{", close: str = "}", opaque: bool = False) -> None:
        super().__init__()
        self.open_, self.close, self.opaque = open_, close, opaque


def _parse(tokens: list[str]) -> _Group | None:
    root = _Group("", "")
    stack: list[_Group] = [root]
    i = 0
    n = len(tokens)
    while i < n:
        t = tokens[i]
        top = stack[-1]
        if t == "{":
            prev = _prev_token(top)
            g = _Group(opaque=prev is not None and prev[:1] == "\\" and prev[1:] in TEXT_COMMANDS)
            top.append(g)
            stack.append(g)
        elif t == "}":
            if len(stack) == 1 or stack[-1].open_ != "{":
                return None
            stack.pop()
        elif _OPENER.match(t):
            g = _Group(t, "")
            top.append(g)
            stack.append(g)
        elif _CLOSER.match(t):
            g = stack.pop()
            if not stack or g.open_[:3] != ("\\le" if t[:3] == "\\ri" else "\\be"):
                return None
            g.close = t
        else:
            top.append(t)
        i += 1
    return root if len(stack) == 1 else None


def _prev_token(items: list) -> str | None:
    for x in reversed(items):
        if isinstance(x, str) and x.isspace():
            continue
        return x if isinstance(x, str) else None
    return None


def _render(items: list) -> str:
    out: list[str] = []
    for x in items:
        if isinstance(x, _Group):
            out.append(x.open_ + _render(x) + x.close)
        else:
            out.append(x)
    return "".join(out)


def _cells(items: list) -> list[list]:
    cells: list[list] = [[]]
    for x in items:
        if isinstance(x, str) and x in ("&", "\\\\"):
            cells.append([x])
            cells.append([])
        else:
            cells[-1].append(x)
    return cells


def _process(items: list) -> list:
    out: list = []
    for cell in _cells(items):
        if len(cell) == 1 and isinstance(cell[0], str) and cell[0] in ("&", "\\\\"):
            out.append(cell[0])
            continue
        out.extend(_process_cell(cell))
    return out


def _process_cell(cell: list) -> list:
    # Font switch: it runs to the end of the cell (a group or an alignment cell), as in TeX.
    for k, x in enumerate(cell):
        if isinstance(x, str) and x[:1] == "\\" and x[1:] in FONT_SWITCHES:
            g = _Group()
            g.extend(cell[k + 1 :])
            head = _process_cell(cell[:k])
            return [*head, "\\" + FONT_SWITCHES[x[1:]], _fix(g)]
    fracs = [k for k, x in enumerate(cell) if isinstance(x, str) and x[1:] in FRACTIONS and x[:1] == "\\"]
    if len(fracs) == 1:
        k = fracs[0]
        num, den = _Group(), _Group()
        num.extend(cell[:k])
        den.extend(cell[k + 1 :])
        return [FRACTIONS[cell[k][1:]], _fix(num), _fix(den)]
    return [_fix(x) if isinstance(x, _Group) else x for x in cell]


def _fix(g: _Group) -> _Group:
    if g.opaque:
        return g
    new = _Group(g.open_, g.close)
    new.extend(_process(list(g)))
    return new


def _unbrace(items: list) -> list:
    """Drop the braces of a `{..}` group that now holds just one \\frac/\\mathrm-like construct,
    where the group is not an argument (of ^, _ or a command)."""
    out: list = []
    for x in items:
        if isinstance(x, _Group):
            inner = _unbrace(list(x))
            y = _Group(x.open_, x.close, x.opaque)
            y.extend(inner)
            x = y
            prev = _prev_token(out) if out else None
            bare = (
                x.open_ == "{"
                and not x.opaque
                and _is_construct(list(x))
                and (not out or (prev is not None and prev[:1] != "\\" and prev.rstrip()[-1:] not in "^_"))
            )
            if bare and out and not isinstance(out[-1], str):
                bare = False  # after a group: may be a command's further argument
            if bare:
                out.extend(list(x))
                continue
        out.append(x)
    return out


def _is_construct(items: list) -> bool:
    items = [x for x in items if not (isinstance(x, str) and x.isspace())]
    if len(items) == 3 and items[0] in FRACTIONS.values():
        return True
    return len(items) == 2 and isinstance(items[0], str) and items[0][1:] in FONT_SWITCHES.values()


_PLAIN_MATRIX = re.compile(r"\\\\|\\(matrix|pmatrix|cases)(?![A-Za-z@])")
_CR = re.compile(r"\\\\|\\cr(?![A-Za-z@])")


def plain_tex_matrices(latex: str) -> str:
    """Plain TeX's `\\matrix{a&b\\cr c&d}`, `\\pmatrix{..}`, `\\cases{..}` (amsmath refuses them: "Old
    form") as the environments: `\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix}`."""
    if "matrix" not in latex and "cases" not in latex:
        return latex
    out: list[str] = []
    pos = 0
    for m in _PLAIN_MATRIX.finditer(latex):
        if m.group(1) is None or m.start() < pos:
            continue
        got = read_arg(latex, m.end(), braced_only=True)
        if got is None:
            continue
        rows = _CR.sub(lambda c: c.group() if c.group() == "\\\\" else "\\\\", plain_tex_matrices(got[0]))
        rows = re.sub(r"(\\\\\s*)+$", "", rows.rstrip())
        out.append(latex[pos : m.start()])
        out.append(f"\\begin{{{m.group(1)}}}{rows}\\end{{{m.group(1)}}}")
        pos = got[1]
    out.append(latex[pos:])
    return "".join(out)


def modernise(latex: str) -> str:
    """`latex` with old-style forms in modern terms: `{a \\over b}` -> `\\frac{a}{b}`, `\\choose` ->
    `\\binom`, `\\atop` -> `\\genfrac{}{}{0pt}{}`, `{\\rm x}` -> `\\mathrm{x}` (also bf, it, sf, tt, cal),
    plain TeX's matrices (`plain_tex_matrices`). Unbalanced input, or a cell with two generalized
    fractions, is left as it is."""
    latex = plain_tex_matrices(latex)
    if not _OLD.search(latex):
        return latex
    tree = _parse(_LEX.findall(latex))
    if tree is None:
        return latex
    return _render(_unbrace(_process(list(tree))))
