"""One TeX process judging many equations: the core of the fast mode.

No library does this: TeX wrappers (latexmk, pylatex) compile one document at a time, about
0.1 s each here, and their verdict is per document; judging thousands of equations a second needs
one process per batch with the reference verdict kept for each equation.

The driver (drv.tex) starts from the dumped format, runs `\\begin{document}`, then for each equation
writes a start marker to the log, reads the equation's own file `e<i>.tex` (its display, padded with
comment lines so that `l.N` equals the reference document's) inside a group, ends the paragraph,
ships the page out with `\\clearpage`, and writes an end marker carrying the state TeX is left in:
pages shipped, group and conditional levels, mode, interaction level and current environment.
Markers carry a random nonce so that no equation can forge one. Reading each equation from its own
file makes the file's end a firewall: a runaway argument stops there ("File ended while scanning...").

An outcome is final only when it is certain to equal the reference verdict; otherwise the equation
is marked for a run of its own and every later equation of the batch for a fresh process.
"""
from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.texcheck.logparse import first_error, read_log
from pipeline.texcheck.sandbox import run_pdflatex
from pipeline.texcheck.verdict import Verdict

# First errors that depend only on the equation's own text, never on what ran before it in the same
# process; any other error (fonts, math alphabets, capacity, ...) is re-judged alone.
TRUSTED_ERRORS = re.compile(r"^(" + "|".join([
    r"Undefined control sequence\.",
    r"Missing \$ inserted\.",
    r"Missing [{}] inserted\.",
    r"Extra \}, or forgotten [$\\].*",
    r"Extra \\(right|else|fi|or)\.?.*",
    r"Missing \\right\. inserted\.",
    r"Missing delimiter \(\. inserted\)\.",
    r"Double (superscript|subscript)\.",
    r"Misplaced (alignment tab character &|\\cr|\\noalign|\\omit|\\span)\.",
    r"Extra alignment tab has been changed to \\cr\.",
    r"Display math should end with \$\$\.",
    r"Missing number, treated as zero\.",
    r"Illegal unit of measure \(.*\)\.",
    r"You can't use `.*' (in|after) .*",
    r"Paragraph ended before .* was complete\.",
    r"File ended while scanning .*",
    r"Argument of .* has an extra \}\.",
    r"Missing control sequence inserted\.",
    r"Limit controls must follow a math operator\.",
    r"Please use \\mathaccent for accents in math mode\.",
    r"Ambiguous; you need another \{ and \}\.",
    r"Improper \\halign inside \$\$'s\.",
    r"Use of .* doesn't match its definition\.",
    r"Illegal parameter number in definition of .*",
    r"Bad math environment delimiter\.",
    r"LaTeX Error: (Command .* invalid in math mode|Bad math environment delimiter"
    r"|\\begin\{.*\} on input line \d+ ended by \\end\{.*\}|There's no line here to end"
    r"|Environment .* undefined|Lonely \\item--perhaps a missing list environment"
    r"|Something's wrong--perhaps a missing \\item|.* allowed only in math mode"
    r"|Missing @-exp in array|Illegal character in array arg|Unknown option .* for package .*"
    r"|Command .* unavailable in encoding .*)\.",
    r"Package amsmath Error: .*",
    r"Package mathtools Error: .*",
    r"Missing \\endcsname inserted\.",
    r"Missing \\cr inserted\.",
    r"Extra \\endcsname\.",
    r"Text line contains an invalid character\.",
    r"Bad character code \(.*\)\.",
    r"Number too big\.",
    r"Dimension too large\.",
    r"Arithmetic overflow\.",
    r"Missing = inserted for \\ifnum\.",
    r"Incomplete \\if.*",
    r"Illegal math \\discretionary\.",
    r"Bad delimiter code\.",
    r"Missing \\(endgroup|right)\.? inserted.*",
]) + r")$")

_STATE = re.compile(r"P(\d+) G(\d+) I(\d+) M(\w+) N(\d+) V(.*)$")


@dataclass(frozen=True)
class Outcome:
    """What a batch learned about one equation: a final verdict, or None (judge it alone)."""
    verdict: Verdict | None


def driver_text(nonce: str, count: int) -> str:
    calls = "".join("\\csname vc:eq\\endcsname{%d}\n" % i for i in range(count))
    return (
        "\\makeatletter\\catcode`\\:=11\n"
        "\\def\\vc:tag{%s}\n" % nonce +
        # the end marker's state; a clean run keeps it equal to the baseline written before equation 0
        "\\def\\vc:state{G\\the\\currentgrouplevel\\space I\\the\\currentiflevel"
        "\\space M\\ifvmode v\\else o\\fi\\ifinner i\\fi\\space N\\the\\interactionmode\\space V\\@currenvir}\n"
        "\\def\\vc:init{\\begingroup\\def\\@elt##1{\\global\\csname c@##1\\endcsname=\\the\\csname c@##1\\endcsname\\relax}"
        "\\xdef\\vc:restore{\\cl@@ckpt}\\endgroup\\xdef\\vc:base{\\vc:state}"
        "\\xdef\\vc:G{\\the\\numexpr\\currentgrouplevel+1\\relax}"
        "\\immediate\\write-1{\\vc:tag B P\\the\\c@page\\space\\vc:base}}\n"
        "\\def\\vc:eq#1{\\immediate\\write-1{\\vc:tag S#1}\\begingroup\\@@input e#1.tex \\relax"
        "\\immediate\\write-1{\\vc:tag F#1 G\\the\\currentgrouplevel}\\endgroup"
        "\\par\\clearpage\\edef\\vc:now{\\vc:state}\\immediate\\write-1{\\vc:tag E#1 P\\the\\c@page\\space\\vc:now}"
        "\\ifx\\vc:now\\vc:base\\else\\expandafter\\@@end\\fi\\vc:restore}\n"
        "\\catcode`\\:=12\\makeatother\n"
        "\\begin{document}\n\\csname vc:init\\endcsname\n" + calls + "\\end{document}\n")


def run_batch(displays: list[str], pad_lines: int, fmt: Path, timeout_s: float) -> list[Outcome]:
    """Judge `displays` in one pdflatex run. The result may be shorter than the input: those after
    the first uncertain outcome were not judged (they need a fresh process)."""
    nonce = "VCK" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="texcheck-batch-") as tmp:
        d = Path(tmp)
        pad = "%\n" * pad_lines
        for i, disp in enumerate(displays):
            (d / f"e{i}.tex").write_text(pad + disp + "\n", encoding="utf-8")
        (d / "drv.tex").write_text(driver_text(nonce, len(displays)), encoding="utf-8")
        (d / "pre.fmt").symlink_to(Path(fmt).resolve())
        run_pdflatex(["&pre", "drv.tex"], d, timeout_s)
        log = d / "drv.log"
        lines = read_log(log.read_bytes()).splitlines() if log.exists() else []
    return parse_batch_log(lines, nonce, len(displays))


@dataclass
class _Segment:
    inside: list[str]           # log lines while the equation's own file was being read
    after: list[str]            # log lines from the driver's closing work (paragraph end, shipout)
    left_open: bool = False     # the file ended with groups of its own still open
    state: str | None = None    # the end marker's state (None: TeX stopped first)


def _segments(lines: list[str], nonce: str) -> tuple[str | None, dict[int, _Segment]]:
    base = None
    segs: dict[int, _Segment] = {}
    cur: _Segment | None = None
    in_file = False
    pb, ps, pf, pe = nonce + "B ", nonce + "S", nonce + "F", nonce + "E"
    for line in lines:
        if line.startswith(pb):
            base = line[len(pb):]
        elif line.startswith(ps) and line[len(ps):].isdigit():
            cur = segs[int(line[len(ps):])] = _Segment([], [])
            in_file = True
        elif cur is not None and line.startswith(pf):
            in_file = False
            level = line.rpartition(" G")[2]
            cur.left_open = not (level.isdigit() and base is not None and int(level) == _group(base) + 1)
        elif cur is not None and line.startswith(pe):
            cur.state = line[len(pe):].partition(" ")[2]
            cur = None
        elif cur is not None:
            (cur.inside if in_file else cur.after).append(line)
    return base, segs


def parse_batch_log(lines: list[str], nonce: str, count: int) -> list[Outcome]:
    """Outcomes in order, up to the first equation after which the run cannot be trusted.

    An error met while the equation's own file was read started from the same state as the
    reference document's, so a trusted one is final even if the equation then left groups open.
    Without such an error the verdict depends on how the document ends, which the batch imitates
    only when the equation left nothing open: otherwise it is judged alone."""
    base, segs = _segments(lines, nonce)
    out: list[Outcome] = []
    if base is None:
        return out
    for i in range(count):
        seg = segs.get(i)
        if seg is None:
            break
        if seg.state is None:
            out.append(Outcome(None))  # it was running when TeX stopped: judge it alone
            break
        clean = _without_pages(seg.state) == _without_pages(base)
        # a runaway argument's context is the driver's line, which the reference document lacks
        inside = first_error([ln for ln in seg.inside if "vc:eq" not in ln])
        after = first_error(seg.after)
        untrusted = False
        if inside is not None:
            untrusted = not _trusted(inside)
            out.append(Outcome(None if untrusted else Verdict(False, inside)))
        elif seg.left_open:
            out.append(Outcome(None))
        elif after is not None:
            untrusted = not (_trusted(after) and clean)
            out.append(Outcome(None if untrusted else Verdict(False, after)))
        elif not clean:
            out.append(Outcome(None))
        elif _pages(seg.state, base) >= 1:
            out.append(Outcome(Verdict(True, None)))
        else:
            out.append(Outcome(Verdict(False, "No pages of output.")))
        if not clean or untrusted or seg.left_open:
            # what it left behind (open groups, amsmath's global flags of an environment cut short,
            # fonts) may reach the next: later equations get a fresh process
            break
    return out


def _trusted(error: str) -> bool:
    return bool(TRUSTED_ERRORS.match(error.split(" | ", 1)[0]))


def _group(state: str) -> int:
    m = re.search(r"\bG(\d+)", state)
    return int(m.group(1)) if m else -1


def _pages(state: str, base: str) -> int:
    m, b = _STATE.match(state), _STATE.match(base)
    if not m or not b:
        return 0
    return int(m.group(1)) - int(b.group(1))


def _without_pages(state: str) -> str:
    return state.split(" ", 1)[1] if " " in state else state
