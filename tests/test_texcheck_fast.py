"""The fast mode gives the reference mode's verdicts, also on hostile and tricky equations mid-batch."""

from pipeline.texcheck import Equation, Preamble, check
from pipeline.texcheck.batch import run_batch
from pipeline.texcheck.classify import batchable
from pipeline.texcheck.fmt import format_path

P = Preamble()

# Each is judged between ordinary equations; many try to change what the next one sees.
TRICKY = [
    "\\frac{a",                                   # runaway argument: stops at the file's end
    "\\frac{a}{b",
    "x }",                                        # unbalanced brace
    "{ x",
    "\\catcode`\\$=11 $",                         # catcode change
    "\\global\\catcode`\\x=13 x",
    "\\gdef\\leak{y}",                            # a definition that would outlive the equation
    "\\leak",
    "\\def\\foo{z}\\foo",
    "\\end{align*}",                              # wrong \end
    "\\end{equation*} x \\begin{equation*}",
    "\\end{document}",                            # \end{document} inside an equation
    "\\makeatletter \\@@end",
    "\\iftrue x",                                 # an open conditional
    "\\iffalse x",
    "\\batchmode x",
    "\\errorstopmode \\undefinedcs",
    "\\aftergroup\\undefinedcs x",
    "\\begin{itemize}",
    "\\begin{aligned} a &= b",
    "\\left( x",
    "x \\right)",
    "a & b",
    "a \\\\ b",
    "\\text{unclosed $x}",
    "\\mbox{\\begin{verbatim}}",
    "\\verb|x|",
    "\\setcounter{page}{7} x",
    "\\stepcounter{equation}\\tag{\\theequation} x",
    "\\label{a}\\label{b}",
    "\\mathbf{x}\\mathsf{x}\\mathtt{x}\\mathit{x}\\mathfrak{x}\\bm{x}\\boldsymbol{x}\\mathbb{x}\\mathcal{x}",
    "\\fontsize{3000}{3000}\\selectfont x",
    "\\newpage x",
    "\\csname relax",
    "\\expandafter\\undefinedcs",
    "^^5cundefinedcs",
    "",
    "\\input{/etc/passwd}",
    "\\vspace{1cm}",
    "\\hbox{\\par}",
    "\\vadjust{\\kern1pt} x",
    "\\tag{1}\\tag{2}",
    "\\nonumber x",
    "x^2",
]


def interleave(cases):
    out = []
    for i, c in enumerate(cases):
        out += [Equation("a_%d+b" % i), Equation(c), Equation("\\alpha^{%d}" % i)]
    return out


def test_fast_equals_reference_on_tricky_cases():
    eqs = interleave(TRICKY)
    fast = check(eqs, P, mode="fast", workers=2, use_cache=False)
    ref = check(eqs, P, mode="reference", workers=2, use_cache=False)
    diff = [(e.latex, f, r) for e, f, r in zip(eqs, fast, ref) if f.compiles != r.compiles]
    assert diff == []
    # the ordinary neighbours all compile, whatever came before them
    assert all(v.compiles for e, v in zip(eqs, fast) if e.latex.startswith(("a_", "\\alpha^")))


def test_leak_attempts_in_either_order():
    for pair in (["\\gdef\\leak{y}", "\\leak"], ["\\global\\let\\leak\\relax", "\\leak"],
                 ["\\makeatletter\\gdef\\leak{}\\makeatother", "\\leak"]):
        vs = check([Equation(x) for x in pair], P, mode="fast", workers=1, use_cache=False)
        assert not vs[1].compiles and vs[1].error.startswith("Undefined control sequence")


def test_runaway_argument_mid_batch_is_attributed_to_its_equation(tmp_path):
    fmt = format_path(P, tmp_path)
    displays = [Equation(x).display for x in ("x", "y", "\\frac{a", "z", "w")]
    assert all(batchable(d) for d in displays)
    outs = run_batch(displays, P.line_count + 1, fmt, 10.0)
    assert [o.verdict.compiles for o in outs[:3]] == [True, True, False]
    assert outs[2].verdict.error.startswith("File ended while scanning use of")
    # the runaway left its display's group open: the batch stops there, the rest go to a fresh process
    assert len(outs) == 3
    vs = check([Equation(x) for x in ("x", "y", "\\frac{a", "z", "w")], P, workers=1, use_cache=False)
    assert [v.compiles for v in vs] == [True, True, False, True, True]


def test_errors_do_not_restart_the_batch(tmp_path):
    fmt = format_path(P, tmp_path)
    bodies = ["x", "\\undefinedcs", "a^b^c", "y", "x_", "\\left(", "z"]
    outs = run_batch([Equation(b).display for b in bodies], P.line_count + 1, fmt, 10.0)
    assert len(outs) == len(bodies)
    assert [o.verdict.compiles for o in outs] == [True, False, False, True, False, False, True]


def test_classifier_sends_state_changers_alone():
    assert batchable(Equation("\\frac{a}{b} + \\undefinedcs").display)
    for risky in ("\\def\\x{}", "\\catcode`x=12", "\\global\\let\\a\\b", "\\input{x}", "\\end{document}",
                  "\\begin{verbatim}", "\\csname x\\endcsname", "^^5c", "\\pdfobj{}", "\\everymath{}"):
        assert not batchable(Equation(risky).display), risky


def test_timeout_in_fast_mode():
    vs = check([Equation("x"), Equation("\\def\\x{\\x}\\x"), Equation("y")], P, mode="fast", workers=1,
               timeout_s=2, use_cache=False)
    assert [v.compiles for v in vs] == [True, False, True] and "time limit" in vs[1].error


def test_verdict_cache(tmp_path):
    eqs = [Equation("x"), Equation("\\undefinedcs")]
    first = check(eqs, P, cache_dir=tmp_path)
    from pipeline.texcheck import check_with_stats

    again, stats = check_with_stats(eqs, P, cache_dir=tmp_path)
    assert again == first and stats.cached == 2 and stats.judged == 0


def tex_children():
    """TeX processes whose parent is this test process."""
    import os
    from pathlib import Path

    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(x.split(":\t", 1) for x in status.read_text().splitlines() if ":\t" in x)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and "tex" in fields.get("Name", ""):
            found.append(status.parent.name)
    return found


def test_fast_mode_leaves_no_files_or_processes(tmp_path, monkeypatch):
    import os
    import tempfile

    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    hostile = ["x", "\\newwrite\\w\\immediate\\openout\\w=../escaped.tex \\immediate\\write\\w{x}",
               "\\immediate\\write18{touch escaped18}", "\\input{/etc/passwd}", "\\frac{a", "y",
               "\\loop\\iftrue\\repeat"]
    vs = check([Equation(h) for h in hostile], P, mode="fast", workers=2, timeout_s=2, cache_dir=tmp_path / "c")
    assert [v.compiles for v in vs] == [True, False, True, False, False, True, False]
    assert vs[1].error.startswith("I can't write on file `../escaped.tex'")  # openout_any=p
    assert list(work.iterdir()) == [] and not (tmp_path / "escaped.tex").exists()
    assert not os.path.exists("escaped18") and tex_children() == []
