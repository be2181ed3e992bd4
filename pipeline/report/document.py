"""One report, two renderings: Markdown (report.md) and a self-contained HTML page (report.html).

Sections are built once as blocks (headings, paragraphs, tables, figures, equation tables), so both
files show the same numbers. Figures are inline SVG in the HTML (no network, no files beside it) and
are named, not embedded, in the Markdown; typeset equations are inline SVG in the HTML and LaTeX
source in the Markdown. The pages' markup is Jinja2 templates (templates/report.html.j2 with
autoescaping, report.md.j2, report.css); this module holds the blocks and what the templates cannot
do well: scoping each inline SVG's ids and the **bold**/`code` inline marks.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import jinja2
from markupsafe import Markup

_ID = re.compile(r"""(\bid=|xlink:href=|href=)(['"])(#?)([^'"]+)\2""")
_URL_REF = re.compile(r"url\(#([^)]+)\)")


def scope_svg_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and reference to one) in an SVG: dvisvgm names glyphs g0-43 in every file, and
    inlined into one page the first definition would win for all."""
    def sub(m: re.Match) -> str:
        attr, q, hash_, name = m.groups()
        if attr.startswith("id") or hash_:
            return f"{attr}{q}{hash_}{prefix}{name}{q}"
        return m.group(0)
    return _URL_REF.sub(lambda m: f"url(#{prefix}{m.group(1)})", _ID.sub(sub, svg))


@dataclass
class Equation:
    latex: str                 # as shown in report.md (the display environment and its body)
    svg: str | None            # None: not typeset (yet, or TeX could not): the LaTeX is shown instead
    note: str = ""
    source: tuple[str, str, str | None] | None = None  # (body, env, env_arg) for the renderer


@dataclass
class Block:
    kind: str
    data: dict = field(default_factory=dict)


class Document:
    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[Block] = []

    # building ---------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Block("heading", {"text": text, "level": level}))

    def para(self, text: str) -> None:
        """Text with **bold**, `code` and [link](target) marks (rendered in both formats)."""
        self.blocks.append(Block("para", {"text": text}))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> None:
        """`align`: one letter a column, l or r (default: r for numbers, l otherwise)."""
        rows = [[_cell(c) for c in r] for r in rows]
        if align is None:
            align = "".join("r" if rows and all(_numeric(r[i]) for r in rows) else "l" for i in range(len(headers)))
        self.blocks.append(Block("table", {"headers": list(headers), "rows": rows, "align": align}))

    def figure(self, svg: str | None, caption: str, name: str) -> None:
        self.blocks.append(Block("figure", {"svg": svg, "caption": caption, "name": name}))

    def equations(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """A table whose cells may be text or lists of `Equation`s (the lecture's equation tables)."""
        self.blocks.append(Block("equations", {"headers": list(headers), "rows": [list(r) for r in rows]}))

    def details(self, summary: str, text: str) -> None:
        """A folded block of preformatted text (the run's configuration)."""
        self.blocks.append(Block("details", {"summary": summary, "text": text}))

    # rendering --------------------------------------------------------------------------
    def markdown(self) -> str:
        blocks = []
        for b in self.blocks:
            d = dict(b.data, kind=b.kind)
            if b.kind == "table":
                d["separators"] = ["---:" if a == "r" else "---" for a in d["align"]]
            elif b.kind == "equations":
                d["rows"] = [[_md_cell(c) for c in r] for r in d["rows"]]
                d["separators"] = ["---"] * len(d["headers"])
            blocks.append(d)
        return templates().get_template("report.md.j2").render(title=self.title, blocks=blocks).rstrip() + "\n"

    def html(self) -> str:
        """The page; SVG ids are scoped in block order (s1-, s2-, ...), so each figure keeps its glyphs."""
        count = 0

        def svg(s: str) -> Markup:
            nonlocal count
            count += 1
            return Markup(scope_svg_ids(s, f"s{count}-"))

        blocks = []
        for b in self.blocks:
            d = dict(b.data, kind=b.kind)
            if b.kind == "figure":
                d["svg"] = svg(d["svg"]) if d["svg"] else None
            elif b.kind == "equations":
                d["rows"] = [[{"parts": _html_items(c, svg)} for c in r] for r in d["rows"]]
            blocks.append(d)
        toc = [b.data["text"] for b in self.blocks if b.kind == "heading" and b.data["level"] == 2]
        return templates().get_template("report.html.j2").render(title=self.title, blocks=blocks, toc=toc)


def _html_items(c: object, svg) -> list[dict]:
    """A cell of an equations table as items: text, or an equation (scoped SVG or its LaTeX) and its note."""
    if not isinstance(c, list):
        return [{"text": _cell(c)}]
    return [{"text": None, "svg": svg(e.svg) if e.svg else None, "latex": e.latex, "note": e.note}
            if isinstance(e, Equation) else {"text": str(e)} for e in c]


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(inline=lambda t: Markup(_inline_html(str(t))), anchor=_anchor, rstrip=str.rstrip,
                       md_escape=lambda s: s.replace("|", "\\|").replace("\n", " "))
    return env


def _cell(c: object) -> str:
    if c is None:
        return "–"
    if isinstance(c, float):
        return f"{c:.4g}"
    return str(c)


def _numeric(s: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,.]+\s*%?(\s*\[.*\])?|–", s.strip()))


def _md_cell(c: object) -> str:
    if isinstance(c, list):
        return "<br>".join(f"`{e.latex}`" if isinstance(e, Equation) else str(e) for e in c)
    return _cell(c)


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
# [text](target): a link to a file beside the report or a web page; nothing else becomes a link
_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://)?[\w./#-]+)\)")


def _inline_html(text: str) -> str:
    parts = _CODE.split(text)
    out = []
    for i, p in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(p)}</code>")
        else:
            out.append(_LINK.sub(r'<a href="\2">\1</a>', _BOLD.sub(r"<strong>\1</strong>", html.escape(p))))
    return "".join(out)
