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


def gallery_tex(groups: Sequence[tuple[str, Sequence[dict]]], failures: Sequence[dict], preamble: Preamble,
                title: str) -> str:
    """The document: per (topic name, samples) a section of minipage cells; then the failures."""
    pre = preamble.text.rstrip("\n") + "\n" + (
        "\\usepackage[margin=1.6cm]{geometry}\n\\usepackage{listings}\n"
        "\\lstset{basicstyle=\\ttfamily\\small,breaklines=true,breakatwhitespace=false,columns=fullflexible}\n"
        "\\setlength{\\parindent}{0pt}\n")
    body = [f"\\section*{{{escape_text(title)}}}"]
    for name, rows in groups:
        body.append(f"\\subsection*{{{escape_text(name)}}}")
        for i in range(0, len(rows), 2):
            cells = []
            for r in rows[i : i + 2]:
                cells.append("\\begin{minipage}[t]{0.48\\textwidth}\\small\n" + display(r["latex"], r["env"], r.get("env_arg"))
                             + "\n\\end{minipage}")
            body.append("\\noindent " + "\\hfill\n".join(cells) + "\\par\\medskip")
    if failures:
        body.append("\\appendix\\section*{Samples that did not compile}")
        for r in failures:
            err = escape_text((r.get("error") or "")[:300])
            body.append(f"\\textbf{{{escape_text(r.get('name', ''))}}} ({escape_text(r['env'])}): {err}\n"
                        "\\begin{lstlisting}\n" + r["latex"].replace("\\end{lstlisting}", "\\end {lstlisting}")
                        + "\n\\end{lstlisting}")
    return pre + "\\begin{document}\n" + "\n\n".join(body) + "\n\\end{document}\n"


def build_gallery(groups: Sequence[tuple[str, Sequence[dict]]], failures: Sequence[dict], preamble: Preamble,
                  target: Path, title: str, timeout_s: float = 120.0) -> str | None:
    """Write gallery.pdf (and gallery.tex beside it); returns None, or why the PDF could not be made."""
    tex = gallery_tex(groups, failures, preamble, title)
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
