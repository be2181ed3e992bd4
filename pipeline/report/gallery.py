"""gallery.pdf: the generated equations typeset by LaTeX, grouped by topic, like the lecture's slides.

Each topic is a section with a two-column table of cells; every cell is a `minipage` holding the
equation in its own display environment (starred), so `align` and `eqnarray` bodies fit. Equations
that did not compile go to an appendix, verbatim with line breaking (listings), each with its error.
Compiled with pdflatex in the sandbox; only equations that compiled on their own are typeset.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.report.render import display
from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.sandbox import run_pdflatex

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                 "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def escape_text(s: str) -> str:
    return "".join(_TEXT_ESCAPES.get(c, c) for c in s)


def text_width_pt(margin_cm: float) -> float:
    """The text width of A4 paper with these margins, in TeX points."""
    return (210 - 2 * 10 * margin_cm) / 25.4 * 72.27


def _cell(r: dict, width: str, box_pt: float) -> str:
    """One equation in a minipage of `width`; wider than the cell (`_width_pt`, measured by the
    renderer), it is typeset at its natural width and scaled down to fit, so cells never overlap."""
    eq = display(r["latex"], r["env"], r.get("env_arg"))
    w = r.get("_width_pt")
    if w is not None and w > box_pt:
        eq = (f"\\resizebox{{\\linewidth}}{{!}}{{\\begin{{minipage}}{{{w + 6:.1f}pt}}" + eq + "\\end{minipage}}")
    return f"\\begin{{minipage}}[t]{{{width}}}\\small\n" + eq + "\n\\end{minipage}"


def gallery_tex(groups: Sequence[tuple[str, Sequence[dict]]], failures: Sequence[dict], preamble: Preamble,
                title: str, margin_cm: float) -> str:
    """The document: per (topic name, samples) a section of minipage cells, two a row, or a row of
    its own for an equation wider than half the page (`_width_pt` when known); then the failures."""
    text_pt = text_width_pt(margin_cm)
    half_pt = 0.48 * text_pt  # a two-column cell is a bit under half the text width
    pre = preamble.text.rstrip("\n") + "\n" + (
        f"\\usepackage[a4paper,margin={margin_cm:g}cm]{{geometry}}\n"
        "\\usepackage{graphicx}\n\\usepackage{listings}\n"
        "\\lstset{basicstyle=\\ttfamily\\small,breaklines=true,breakatwhitespace=false,columns=fullflexible}\n"
        "\\setlength{\\parindent}{0pt}\n")
    body = [f"\\section*{{{escape_text(title)}}}"]
    for name, rows in groups:
        body.append(f"\\subsection*{{{escape_text(name)}}}")
        pending: list[dict] = []

        def flush() -> None:
            if pending:
                body.append("\\noindent " + "\\hfill\n".join(_cell(r, "0.48\\textwidth", half_pt) for r in pending)
                            + "\\par\\medskip")
                pending.clear()
        for r in rows:
            if (r.get("_width_pt") or 0) > half_pt:
                flush()
                body.append("\\noindent " + _cell(r, "\\textwidth", text_pt) + "\\par\\medskip")
            else:
                pending.append(r)
                if len(pending) == 2:
                    flush()
        flush()
    if failures:
        body.append("\\appendix\\section*{Samples that did not compile}")
        for r in failures:
            err = escape_text((r.get("error") or "")[:300])
            body.append(f"\\textbf{{{escape_text(r.get('name', ''))}}} ({escape_text(r['env'])}): {err}\n"
                        "\\begin{lstlisting}\n" + r["latex"].replace("\\end{lstlisting}", "\\end {lstlisting}")
                        + "\n\\end{lstlisting}")
    return pre + "\\begin{document}\n" + "\n\n".join(body) + "\n\\end{document}\n"


def build_gallery(groups: Sequence[tuple[str, Sequence[dict]]], failures: Sequence[dict], preamble: Preamble,
                  target: Path, title: str, timeout_s: float, margin_cm: float) -> str | None:
    """Write gallery.pdf (and gallery.tex beside it); returns None, or why the PDF could not be made."""
    tex = gallery_tex(groups, failures, preamble, title, margin_cm)
    target.with_suffix(".tex").write_text(tex, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="report-gallery-") as tmp:
        d = Path(tmp)
        (d / "gallery.tex").write_text(tex, encoding="utf-8")
        run = run_pdflatex(["gallery.tex"], d, timeout_s)
        pdf = d / "gallery.pdf"
        if run.timed_out or not pdf.exists():
            log = (d / "gallery.log").read_text(encoding="latin-1") if (d / "gallery.log").exists() else ""
            first = next((line for line in log.splitlines() if line.startswith("! ")), "no PDF written")
            return f"pdflatex failed on gallery.tex: {first}"
        shutil.copyfile(pdf, target)
    return None
