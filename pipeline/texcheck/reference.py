"""The slow reference mode: one whole document per equation, exactly as the verdict is defined."""
from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.texcheck.logparse import first_error, pages_written, read_log
from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.sandbox import run_pdflatex
from pipeline.texcheck.verdict import Verdict


def reference_document(preamble: Preamble, display: str) -> str:
    return preamble.text + "\\begin{document}\n" + display + "\n\\end{document}\n"


def judge_log(log: bytes | None, returncode: int | None, timed_out: bool, timeout_s: float,
              terminal: bytes = b"") -> Verdict:
    """The verdict from one whole-document run: exit 0, no `! ` line, at least one page."""
    if timed_out:
        return Verdict.timeout(timeout_s)
    if log is None:
        tail = read_log(terminal).strip().splitlines()[-3:]
        return Verdict(False, "TeX wrote no log: " + " / ".join(tail))
    lines = read_log(log).splitlines()
    err = first_error(lines)
    if err is not None:
        return Verdict(False, err)
    if returncode != 0:
        return Verdict(False, f"pdflatex exited with status {returncode} without an error message")
    if pages_written(lines) < 1:
        return Verdict(False, "No pages of output.")
    return Verdict(True, None)


def check_reference(preamble: Preamble, display: str, timeout_s: float = 10.0,
                    fmt: Path | None = None) -> Verdict:
    """Compile `display` alone; with `fmt`, the preamble comes from that dumped format instead."""
    with tempfile.TemporaryDirectory(prefix="texcheck-") as tmp:
        d = Path(tmp)
        if fmt is None:
            (d / "eq.tex").write_text(reference_document(preamble, display), encoding="utf-8")
            args = ["eq.tex"]
        else:
            # Comment lines in place of the preamble keep every `l.N` equal to the reference's.
            pad = "%\n" * preamble.line_count
            (d / "eq.tex").write_text(pad + "\\begin{document}\n" + display + "\n\\end{document}\n",
                                      encoding="utf-8")
            (d / "pre.fmt").symlink_to(fmt)
            args = ["&pre", "eq.tex"]
        run = run_pdflatex(args, d, timeout_s)
        log = d / "eq.log"
        return judge_log(log.read_bytes() if log.exists() else None, run.returncode, run.timed_out,
                         timeout_s, (d / "terminal.txt").read_bytes())
