"""normalise keeps the compile verdict, judged by real pdflatex, on bodies where whitespace matters."""
from __future__ import annotations

from pathlib import Path

from pipeline.latex.normalise import normalise
from pipeline.texcheck import Equation, Preamble, check

CASES = [
    ("equation", "\\begin{aligned} &\\sin x \\\\ &\\dim y\\end{aligned}"),   # blank before & matters
    ("equation", "\\begin{aligned}&\\sin x\\end{aligned}"),                 # fails before and after
    ("align", "a &= b \\\\ [2mm] c &= d"),                                  # \\ then a literal [
    ("align", "a &= b \\\\[2mm] c &= d"),                                   # \\[2mm] is a skip
    ("equation", "\\alpha x + \\beta\\gamma \\label{e1} \\nonumber ."),
    ("equation", "\\text{for all  } x \\in \\mathrm{ A B }\\quad ,"),
    ("equation", "\\left. \\frac{d f}{d x} \\right. ."),
    ("multline", "a + b \\\\\n c + d \\tag{3}"),
]


def test_normalise_keeps_the_verdict(tmp_path: Path):
    before = check([Equation(b, env) for env, b in CASES], Preamble(), cache_dir=tmp_path)
    after = check([Equation(normalise(b), env) for env, b in CASES], Preamble(), cache_dir=tmp_path)
    assert [v.compiles for v in before] == [v.compiles for v in after]
    assert [v.compiles for v in before] == [True, False, True, True, True, True, True, True]
