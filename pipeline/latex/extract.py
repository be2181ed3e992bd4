"""One flattened paper -> its kept equations (with reasons for the dropped ones) and prose tokens.

Steps (docs/extraction.md): strip comments and `\\iffalse` blocks; read the paper's macro
definitions (styles, then text); expand the macros that open/close display math and apply
environment aliases, document-wide; find display equations; drop diagrams (TikZ, xymatrix, ...);
per equation expand all macros and glossary entries, apply package rewrites and old-style rewrites,
normalise, then drop it if it turns out to be a diagram, if empty, if it still uses an undefined
command or environment, if its expansion failed, if it is too long, or if it repeats an equation
kept earlier in the same paper.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pipeline.latex.comments import strip_comments
from pipeline.latex.conditionals import remove_iffalse
from pipeline.latex.equations import DisplayEquation, find_display_equations
from pipeline.latex.flatten import document_body
from pipeline.latex.glossary import Entry, expand_glossary, read_entries
from pipeline.latex.macros import ExpansionError, MacroTable, build_table
from pipeline.latex.normalise import normalise
from pipeline.latex.prose import prose_sections
from pipeline.latex.rewrite import PackageRewriter, loaded_packages, modernise, unwrap_ensuremath
from pipeline.latex.scan import control_words
from pipeline.latex.siunitx import rewrite_units
from pipeline.latex.tokenizer import tokenize

# Environments usable inside math in the fixed preamble (amsmath, mathtools, LaTeX's array).
KNOWN_MATH_ENVS = frozenset(
    "array matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix cases dcases rcases "
    "aligned alignedat gathered split subarray multlined lgathered rgathered "
    "matrix* pmatrix* bmatrix* Bmatrix* vmatrix* Vmatrix* smallmatrix* cases* dcases* rcases* "
    "psmallmatrix bsmallmatrix Bsmallmatrix vsmallmatrix Vsmallmatrix psmallmatrix* bsmallmatrix* "
    "tabular minipage center".split()
)
# Control words that are always fine: the preamble's structure, not commands an author defines.
ALWAYS_KNOWN = frozenset(["begin", "end"])

_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
# `\\` is consumed whole, so `\\\\begin{x}` (a line break, then letters) names no environment.
_BEGIN = re.compile(r"\\\\|\\(?:begin|end)\s*\{([^{}]*)\}")

REASONS = ("empty", "too_long", "undefined", "macro_error", "duplicate", "diagram")

# Pictures and diagrams written in display math: drawing code, not equations. The construct's
# name is what stats.json counts them by.
_DIAGRAM = re.compile(
    r"\\\\|\\begin\s*\{(?P<env>tikzpicture|tikzcd|xy|xymatrix|CD|pspicture|picture|circuitikz|diagram"
    r"|pgfpicture|feynman|fmfgraph\*?|feynmandiagram|dynkinDiagram|forest|quantikz|adjustbox)\}"
    r"|\\(?P<cmd>xymatrix|xygraph|xy|tikz|Qcircuit|qcircuit|diagram|begindc|bfig|feynmandiagram|dynkin"
    r"|entrymodifiers|SelectTips|UseTips|xyoption|psmatrix|pstree|tikzfig|ctikzfig)(?![A-Za-z@])"
)


def diagram_construct(latex: str) -> str | None:
    """The first diagram construct in `latex` (`tikzcd`, `xymatrix`, `Qcircuit`, ...), None if none."""
    for m in _DIAGRAM.finditer(latex):
        if m.group("env"):
            return m.group("env")
        if m.group("cmd"):
            return m.group("cmd")
    return None


def undefined_commands(latex: str, known: Mapping[str, object] | Iterable[str]) -> set[str]:
    """Control words in `latex` (names without backslash) that the preamble does not define, read as
    TeX reads them: in `a\\\\f` the `\\\\` is a line break and `f` a letter, not a command `\\f`."""
    return {w for w in control_words(latex) if w not in known and w not in ALWAYS_KNOWN}


def undefined_environments(latex: str, known_envs: Iterable[str] = KNOWN_MATH_ENVS) -> set[str]:
    envs = known_envs if isinstance(known_envs, (set, frozenset)) else set(known_envs)
    return {m.group(1).strip() for m in _BEGIN.finditer(latex)
            if m.group(1) is not None and m.group(1).strip() not in envs}


def cut_at_end_document(text: str) -> str:
    """`text` up to and including its first `\\end{document}`: LaTeX stops reading there, so what
    follows (a second copy of the paper, a template, notes) is not part of the document."""
    m = _END_DOCUMENT.search(text)
    return text if m is None else text[: m.end()]


def display_equations(
    flat_latex: str,
    styles: Mapping[str, str],
    known: Mapping[str, object],
    shorthands: bool = True,
) -> tuple[list[DisplayEquation], MacroTable, str]:
    """Steps 1-4 of extraction: the paper's display equations (bodies not yet expanded), its macro
    table, and the structurally expanded text they were found in."""
    text = cut_at_end_document(remove_iffalse(strip_comments(flat_latex)))
    styles = {k: strip_comments(v) for k, v in styles.items()}
    table, text = build_table(text, styles, known, shorthands=shorthands)
    text = table.apply_env_aliases(table.expand(text, structural_only=True))
    # Only the body is typeset: displays in the preamble (a truncated copy of the paper, say) are not.
    return find_display_equations(document_body(text)), table, text


@dataclass
class BodyExpander:
    """Step 5 before normalisation: one display body in the fixed preamble's terms."""

    table: MacroTable
    rewriter: PackageRewriter
    glossary: dict[str, Entry]

    @classmethod
    def for_paper(cls, flat_latex: str, text: str, styles: Mapping[str, str], table: MacroTable,
                  known: Mapping[str, object]) -> "BodyExpander":
        """`text` is the paper as `display_equations` returned it (definitions read out)."""
        return cls(table, PackageRewriter(known, loaded_packages(flat_latex, styles)),
                   read_entries([text, *styles.values()]))

    def expand(self, body: str) -> str:
        """The paper's macros and glossary entries expanded, siunitx units, package commands and
        old-style forms rewritten; ExpansionError past the expansion bounds."""
        body = self.table.expand(body)
        body = self.rewriter.rewrite(rewrite_units(expand_glossary(body, self.glossary)))
        return modernise(unwrap_ensuremath(body))


def unique_by_latex(records: Iterable[dict]) -> list[dict]:
    """Records whose `latex` differs from every earlier one (first occurrence kept)."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r["latex"] not in seen:
            seen.add(r["latex"])
            out.append(r)
    return out


@dataclass
class PaperExtraction:
    equations: list[dict] = field(default_factory=list)  # {env, env_arg, latex, tokens}
    found: int = 0  # display equations found
    found_by_env: Counter = field(default_factory=Counter)  # `equation*`, `\\[`, `$$` ... -> found
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    undefined: Counter = field(default_factory=Counter)  # command name (or "{env}") -> equations
    diagrams: Counter = field(default_factory=Counter)  # diagram construct -> equations dropped
    prose: list[str] = field(default_factory=list)
    prose_sections: list[list[str]] = field(default_factory=list)


def extract_paper(
    flat_latex: str,
    styles: Mapping[str, str],
    known: Mapping[str, int | None],
    max_tokens: int,
    title: str | None = None,
    abstract: str | None = None,
    prose: bool = True,
    shorthands: bool = True,
) -> PaperExtraction:
    """Equations and prose of one flattened paper (see the module docstring)."""
    res = PaperExtraction()
    found, table, text = display_equations(flat_latex, styles, known, shorthands)
    res.found = len(found)
    res.found_by_env = Counter(eq.written for eq in found)
    expander = BodyExpander.for_paper(flat_latex, text, styles, table, known)
    seen: set[str] = set()
    for eq in found:
        diagram = diagram_construct(eq.latex)
        if diagram is None:
            try:
                body = expander.expand(eq.latex)
            except ExpansionError:
                res.dropped["macro_error"] += 1
                continue
            diagram = diagram_construct(body)  # drawn through the paper's own macros
        if diagram is not None:
            res.dropped["diagram"] += 1
            res.diagrams[diagram] += 1
            continue
        latex = normalise(body)
        if not latex:
            res.dropped["empty"] += 1
            continue
        bad = undefined_commands(latex, known) | {"{" + e + "}" for e in undefined_environments(latex)}
        if bad:
            res.dropped["undefined"] += 1
            res.undefined.update(sorted(bad))  # sorted: the shard is the same bytes run to run
            continue
        tokens = tokenize(latex)
        if len(tokens) > max_tokens:
            res.dropped["too_long"] += 1
            continue
        if latex in seen:
            res.dropped["duplicate"] += 1
            continue
        seen.add(latex)
        res.equations.append({"env": eq.env, "env_arg": eq.env_arg, "latex": latex, "tokens": tokens})
    if prose:
        res.prose_sections = prose_sections(text, title, abstract)
        res.prose = [t for s in res.prose_sections for t in s]
    return res
