"""The report stage on a tiny run: it builds from the stages' files, shows what they hold, and
names the stage to run when one is missing."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from pipeline.report.document import scope_svg_ids
from tests.conftest import copy_run, run_pipeline


@pytest.fixture(scope="module")
def reported(tiny_judged):
    outputs, common = tiny_judged
    copy_run(outputs, "reported", ("prepared", "validate", "topics", "train", "samples", "judge"), source="judged")
    r = run_pipeline("stage=report", "run=reported", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    return outputs / "reported", common


@pytest.mark.slow  # the stage through the CLI
def test_report_builds_from_a_tiny_run(reported):
    run, _ = reported
    out = run / "report"
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", html)
    assert "<script" not in html and "<link" not in html
    assert html.count("<svg") >= 4  # plots and typeset equations
    names = json.loads((run / "topics" / "names.json").read_text())["names"]
    summary = json.loads((run / "samples" / "summary.json").read_text())
    metrics = json.loads((run / "train" / "metrics.json").read_text())
    for text in (html, md):
        assert all(n in text for n in names)
        assert f"{100 * summary['grid']['T=1,syntax']['compile_rate']:.1f}%" in text
        assert f"{metrics['test']['true']['perplexity']:.3f}" in text
    for section in ("Data", "Topics in scientific texts", "Model", "Samples", "Generated equations by topic",
                    "Topic fidelity", "Which is fake?", "How this run was made"):
        assert f"## {section}" in md
    assert (out / "gallery.pdf").read_bytes()[:5] == b"%PDF-"
    tex = (out / "gallery.tex").read_text(encoding="utf-8")
    assert "\\begin{minipage}" in tex and tex.count("\\subsection*") >= 1
    fid = json.loads((out / "report.json").read_text())["figures"]["fidelity"]
    assert fid["real_test"]["n"] > 0 and 0 <= fid["real_test"]["balanced_accuracy"] <= 1
    # the quiz: self-contained, its rounds as many as the report says
    quiz = (out / "quiz.html").read_text(encoding="utf-8")
    assert not re.search(r"""src=["'](https?:|//|file:)""", quiz) and "Score: 0 of 0" in quiz
    assert quiz.count('<div class="round"') == json.loads((out / "report.json").read_text())["quiz_rounds"]
    assert "quiz.html" in html and "Which is fake?" in md


@pytest.mark.slow  # the stage through the CLI
def test_a_changed_stage_output_changes_the_report_and_unchanged_ones_reuse_it(reported):
    run, common = reported
    r = run_pipeline("stage=report", "run=reported", *common)
    assert r.returncode == 0 and "report: reused" in r.stderr + r.stdout
    path = run / "train" / "metrics.json"
    saved = path.read_text()
    m = json.loads(saved)
    m["test"]["true"]["perplexity"] = 987.654321
    path.write_text(json.dumps(m))
    try:
        r = run_pipeline("stage=report", "run=reported", *common)
        assert r.returncode == 0, r.stderr[-2000:]
        for f in ("report.md", "report.html"):
            assert "987.654" in (run / "report" / f).read_text(encoding="utf-8")
    finally:
        path.write_text(saved)


@pytest.mark.slow  # the stage through the CLI
def test_a_missing_stage_output_names_the_stage_to_run(reported):
    run, common = reported
    copy_run(run.parent, "partial", ("prepared", "validate", "topics", "train"), source="reported")
    r = run_pipeline("stage=report", "run=partial", *common)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "stage=sample" in r.stderr and "samples/summary.json" in r.stderr
    shutil.rmtree(run.parent / "partial")


def test_svg_ids_are_scoped_so_inlined_equations_do_not_share_glyphs():
    svg = "<svg><defs><path id='g0-1' d='M0 0'/></defs><use xlink:href='#g0-1' x='1'/><g clip-path='url(#c1)'/></svg>"
    a, b = scope_svg_ids(svg, "s1-"), scope_svg_ids(svg, "s2-")
    assert "id='s1-g0-1'" in a and "xlink:href='#s1-g0-1'" in a and "url(#s1-c1)" in a
    assert "s1-" not in b and "id='s2-g0-1'" in b


def test_both_renderings_show_the_same_blocks_and_escape_what_they_hold():
    from pipeline.report.document import Document, Equation

    doc = Document("run `x`")
    doc.heading("Data <script>alert(1)</script>")
    doc.para("**bold** and `a<b` & more")
    doc.table(["name", "n"], [["a|b", 3], ["<i>", 1.23456]])
    doc.equations(["topic", "samples"], [["t", [Equation(r"\[ a<b \]", None, "note <x>"),
                                               Equation("e", "<svg><path id='g0-1'/></svg>")]]])
    doc.details("config", "seed: 1\n<tag>\n")
    page, md = doc.html(), doc.markdown()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<strong>bold</strong>" in page and "<code>a&lt;b</code>" in page and "&amp; more" in page
    assert '<td class="num">3</td>' in page and "&lt;i&gt;" in page and "1.235" in page
    assert "<pre class=\"src\">\\[ a&lt;b \\]</pre>" in page and "note &lt;x&gt;" in page
    assert "id='s1-g0-1'" in page  # the inline SVG, its ids scoped
    assert '<nav><ol><li><a href="#data-script-alert-1-script">' in page
    assert md.startswith("# run `x`\n\n## Data <script>alert(1)</script>\n\n**bold** and `a<b` & more\n")
    assert "| a\\|b | 3 |" in md and "|---|---:|" in md and "`\\[ a<b \\]`<br>`e`" in md
    assert "<details><summary>config</summary>\n\n```\nseed: 1\n<tag>\n```\n\n</details>\n" in md


def test_a_tex_special_cannot_put_markup_into_the_page():
    """The quiz inlines papers' own equations: dvisvgm's raw and html specials would copy markup of the
    paper's choosing into the SVG; they are ignored, and an SVG with anything active is not used."""
    from pipeline.report.render import _safe, available, render_svgs
    from pipeline.texcheck.preamble import Preamble

    assert _safe("<svg><script>alert(1)</script></svg>") is None
    assert _safe("<svg><g onload='x()'/></svg>") is None and _safe("<svg><path d='M0 0'/></svg>")
    if available():
        pytest.skip(f"{available()} not installed (scripts/setup.sh installs them)")
    svgs = render_svgs([(r"x\special{dvisvgm:raw <script>alert(1)</script>}y", "equation", None),
                        (r"x\special{html:<a href='javascript:alert(1)'>}y", "equation", None), ("x+y", "equation", None)],
                       Preamble(), 60)
    assert svgs[2] is not None and all(s is None or ("<script" not in s and "javascript" not in s) for s in svgs)
