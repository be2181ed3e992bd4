"""One report, two renderings: Markdown (report.md) and a self-contained HTML page (report.html).

Sections are built once as blocks (headings, paragraphs, tables, figures, equation tables), so both
files show the same numbers. Figures are inline SVG in the HTML (no network, no files beside it) and
are named, not embedded, in the Markdown; typeset equations are inline SVG in the HTML and LaTeX
source in the Markdown.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Sequence

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
        self._svg_count = 0

    # building ---------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Block("heading", {"text": text, "level": level}))

    def para(self, text: str) -> None:
        """Text with **bold** and `code` marks (rendered in both formats)."""
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

    # Markdown ---------------------------------------------------------------------------
    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                out += ["#" * d["level"] + " " + d["text"], ""]
            elif b.kind == "para":
                out += [d["text"], ""]
            elif b.kind == "table":
                out += _md_table(d["headers"], d["rows"], d["align"]) + [""]
            elif b.kind == "figure":
                out += [f"*Figure ({d['name']}, in report.html): {d['caption']}*", ""]
            elif b.kind == "equations":
                rows = [[_md_cell(c) for c in r] for r in d["rows"]]
                out += _md_table(d["headers"], rows, "l" * len(d["headers"])) + [""]
            elif b.kind == "details":
                out += [f"<details><summary>{d['summary']}</summary>", "", "```", d["text"].rstrip(), "```", "",
                        "</details>", ""]
        return "\n".join(out).rstrip() + "\n"

    # HTML -------------------------------------------------------------------------------
    def html(self) -> str:
        body = [f"<h1>{_inline_html(self.title)}</h1>"]
        toc = [b.data["text"] for b in self.blocks if b.kind == "heading" and b.data["level"] == 2]
        if toc:
            body.append("<nav><ol>" + "".join(f'<li><a href="#{_anchor(t)}">{html.escape(t)}</a></li>' for t in toc)
                        + "</ol></nav>")
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                lv = d["level"]
                body.append(f'<h{lv} id="{_anchor(d["text"])}">{html.escape(d["text"])}</h{lv}>')
            elif b.kind == "para":
                body.append(f"<p>{_inline_html(d['text'])}</p>")
            elif b.kind == "table":
                body.append(self._html_table(d["headers"], d["rows"], d["align"]))
            elif b.kind == "figure":
                svg = self._svg(d["svg"]) if d["svg"] else "<em>(no data for this figure)</em>"
                body.append(f'<figure>{svg}<figcaption>{_inline_html(d["caption"])}</figcaption></figure>')
            elif b.kind == "equations":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in d["headers"])
                rows = "".join("<tr>" + "".join(f"<td>{self._html_cell(c)}</td>" for c in r) + "</tr>" for r in d["rows"])
                body.append(f'<table class="eqs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
            elif b.kind == "details":
                body.append(f"<details><summary>{html.escape(d['summary'])}</summary><pre>{html.escape(d['text'])}</pre>"
                            "</details>")
        return _PAGE.format(title=html.escape(self.title), body="\n".join(body))

    def _svg(self, svg: str) -> str:
        self._svg_count += 1
        return scope_svg_ids(svg, f"s{self._svg_count}-")

    def _html_table(self, headers: list[str], rows: list[list[str]], align: str) -> str:
        def td(tag: str, i: int, text: str) -> str:
            cls = ' class="num"' if i < len(align) and align[i] == "r" else ""
            return f"<{tag}{cls}>{_inline_html(text)}</{tag}>"
        head = "".join(td("th", i, h) for i, h in enumerate(headers))
        body = "".join("<tr>" + "".join(td("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _html_cell(self, c: object) -> str:
        if isinstance(c, list):
            parts = []
            for e in c:
                if isinstance(e, Equation):
                    inner = (f'<div class="eq">{self._svg(e.svg)}</div>' if e.svg
                             else f'<pre class="src">{html.escape(e.latex)}</pre>')
                    if e.note:
                        inner += f'<div class="note">{html.escape(e.note)}</div>'
                    parts.append(inner)
                else:
                    parts.append(_inline_html(str(e)))
            return "".join(parts)
        return _inline_html(_cell(c))


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


def _md_table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")
    sep = ["---:" if a == "r" else "---" for a in align]
    return (["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "|".join(sep) + "|"]
            + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows])


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline_html(text: str) -> str:
    parts = _CODE.split(text)
    out = []
    for i, p in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(p)}</code>")
        else:
            out.append(_BOLD.sub(r"<strong>\1</strong>", html.escape(p)))
    return "".join(out)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1b1b1b; line-height: 1.45; }}
h1 {{ border-bottom: 2px solid #444; padding-bottom: .2em; }}
h2 {{ margin-top: 2em; border-bottom: 1px solid #bbb; }}
table {{ border-collapse: collapse; margin: .8em 0; font-size: .92em; }}
th, td {{ border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; text-align: left; }}
th {{ background: #f1f1f1; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.eqs td {{ min-width: 12em; }}
table.eqs .eq {{ margin: .35em 0; overflow-x: auto; }}
table.eqs .eq svg {{ max-width: none; }}  /* natural size; a long equation scrolls */
.note {{ color: #666; font-size: .85em; }}
pre.src {{ white-space: pre-wrap; word-break: break-all; font-size: .85em; background: #f7f7f7; padding: .3em; }}
figure {{ margin: 1em 0; }}
figure svg {{ max-width: 100%; height: auto; }}
figcaption {{ color: #444; font-size: .9em; }}
code {{ background: #f3f3f3; padding: 0 .2em; }}
nav ol {{ columns: 2; }}
details pre {{ background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .85em; }}
</style></head>
<body>
{body}
</body></html>
"""
