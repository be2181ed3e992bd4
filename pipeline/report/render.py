"""Typeset equations to SVG with the project's own TeX: one DVI page an equation, dvisvgm per page.

`latex` (DVI mode) in the sandbox (no shell escape, file access confined to a temporary folder, a
time limit), the fixed preamble plus an empty page style, each equation in its own display
environment (starred, so no equation numbers) on its own page; then `dvisvgm --bbox=min` with glyphs
as paths (`--no-fonts`), so an SVG needs no font and can be inlined in a self-contained HTML page.
Neither `standalone` nor `preview` is needed (Debian's base TeX set lacks them). Equations are
rendered in chunks: one that breaks its chunk is retried alone, and one that fails alone gets None.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.sandbox import run_tex, tex_env

_SVG_OPEN = re.compile(r"<svg\b")


def available() -> str | None:
    """None when latex and dvisvgm are installed, else what is missing (scripts/setup.sh installs them)."""
    missing = [t for t in ("latex", "dvisvgm") if shutil.which(t) is None]
    return ", ".join(missing) if missing else None


def display(latex: str, env: str, env_arg: str | None) -> str:
    """The equation as a starred display environment (`\\[..\\]` for displaymath)."""
    if env == "displaymath":
        return "\\[" + latex + "\\]"
    arg = "{" + env_arg + "}" if env_arg else ""
    return f"\\begin{{{env}*}}{arg}{latex}\\end{{{env}*}}"


def render_svgs(equations: Sequence[tuple[str, str, str | None]], preamble: Preamble, timeout_s: float = 60.0,
                chunk: int = 40, alone_on_failure: bool = True) -> list[str | None]:
    """One SVG (text) per (latex, env, env_arg), None where TeX or dvisvgm could not make one.
    Without `alone_on_failure`, a chunk that fails is not retried equation by equation: all of it is
    None (for a caller that typesets before it knows which equations compile, and retries those that do)."""
    out: list[str | None] = [None] * len(equations)
    for start in range(0, len(equations), chunk):
        part = list(range(start, min(start + chunk, len(equations))))
        svgs = _render_chunk([equations[i] for i in part], preamble, timeout_s)
        if svgs is None and not alone_on_failure:
            continue
        if svgs is None:  # one bad equation broke the document: alone, each
            svgs = [(_render_chunk([equations[i]], preamble, timeout_s) or [None])[0] for i in part]
        for i, s in zip(part, svgs):
            out[i] = s
    return out


def _render_chunk(eqs: Sequence[tuple[str, str, str | None]], preamble: Preamble, timeout_s: float) -> list[str | None] | None:
    with tempfile.TemporaryDirectory(prefix="report-render-") as tmp:
        d = Path(tmp)
        pages = "\n\\newpage\n".join(display(*e) for e in eqs)
        (d / "eqs.tex").write_text(preamble.text + "\\pagestyle{empty}\n\\begin{document}\n" + pages
                                   + "\n\\end{document}\n", encoding="utf-8")
        run = run_tex("latex", ["eqs.tex"], d, timeout_s)
        log = (d / "eqs.log").read_text(encoding="latin-1") if (d / "eqs.log").exists() else ""
        if run.timed_out or not (d / "eqs.dvi").exists() or "\n! " in log:
            return None
        try:
            # --no-specials: a paper's equation may carry `\special{dvisvgm:raw ...}` or `html:` specials,
            # which would copy markup of its choosing (a script) into a page we inline it in
            subprocess.run(["dvisvgm", "--page=1-", "--bbox=min", "--no-fonts", "--exact-bbox",
                            "--no-specials=dvisvgm,html", "--output=eq-%p", "eqs.dvi"], cwd=d, env=tex_env(),
                           capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = sorted(d.glob("eq-*.svg"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
        if len(found) != len(eqs):
            return None
        return [_safe(_clean(p.read_text(encoding="utf-8"))) for p in found]


_WIDTH = re.compile(r"""<svg\b[^>]*?\bwidth=['"]([\d.]+)pt['"]""")


def svg_width_pt(svg: str | None) -> float | None:
    """The typeset width (TeX points) of an SVG made here: how wide the equation really is."""
    m = _WIDTH.search(svg or "")
    return float(m.group(1)) if m else None


_ACTIVE = re.compile(r"<script|<foreignObject|\son\w+\s*=|javascript:|<iframe|<object|<embed", re.IGNORECASE)


def _safe(svg: str) -> str | None:
    """The SVG, or None (shown as LaTeX source instead) if it holds anything that could run in a page."""
    return None if _ACTIVE.search(svg) else svg


def _clean(svg: str) -> str:
    """The <svg> element alone (no XML declaration or comments), ready to inline."""
    m = _SVG_OPEN.search(svg)
    return svg[m.start():] if m else svg
