"""Comment stripping and \\input flattening rules, on small texts."""
from __future__ import annotations

import pytest

from pipeline.latex.comments import strip_comments
from pipeline.latex.flatten import find_main, flatten, split_preamble
from pipeline.skips import Skip


@pytest.mark.parametrize("text, expected", [
    ("a % comment\n  b", "a b"),                              # newline and next line's indent go too
    ("50\\% off % comment", "50\\% off "),                    # an escaped % is text
    ("row\\\\%comment\nnext", "row\\\\next"),                  # \\ then a real comment
    ("\\alpha%\n beta", "\\alpha beta"),                      # a control word keeps its boundary
    ("\\verb|%x| y % z", "\\verb|%x| y "),                     # % inside \verb is text
    ("\\verb*+%+ z", "\\verb*+%+ z"),
    ("\\begin{verbatim}\n% kept\n\\end{verbatim}%gone\n", "\\begin{verbatim}\n% kept\n\\end{verbatim}"),
    ("\\begin{comment}\n\\input{x} hidden\n\\end{comment}after", "after"),
    ("%\\begin{document}\nx", "x"),
    ("\\[ a \\\\[2mm] b \\] % c", "\\[ a \\\\[2mm] b \\] "),
])
def test_strip_comments(text, expected):
    assert strip_comments(text) == expected


def test_inputs_in_verbatim_are_not_resolved():
    files = {"main.tex": "\\documentclass{article}\\begin{document}\n\\begin{verbatim}\\input{a}\\end{verbatim}"
                         "\\verb|\\input{a}| \\input{a}\n\\end{document}", "a.tex": "AAA"}
    out = flatten(files).latex
    assert out.count("AAA") == 1 and out.count("\\input{a}") == 2


def test_missing_inputs_are_listed_not_fatal():
    files = {"main.tex": "\\documentclass{article}\\begin{document}\\input{gone}\\input epsf ok\\end{document}"}
    flat = flatten(files)
    assert flat.missing_inputs == ["gone", "epsf"] and "ok" in flat.latex


def test_macro_parameter_input_is_left_alone():
    files = {"main.tex": "\\documentclass{article}\\newcommand{\\inc}[1]{\\input{#1}}\\begin{document}x\\end{document}"}
    assert "\\input{#1}" in flatten(files).latex


def test_cycle_and_depth():
    with pytest.raises(Skip) as e:
        flatten({"main.tex": "\\documentclass{article}\\begin{document}\\input{main}\\end{document}"})
    assert e.value.reason == "input_cycle"
    files = {"main.tex": "\\documentclass{article}\\begin{document}\\input{f0}\\end{document}"}
    files |= {f"f{i}.tex": f"\\input{{f{i + 1}}}" for i in range(30)}
    with pytest.raises(Skip) as e:
        flatten(files, max_depth=10)
    assert e.value.reason == "input_too_deep"


def test_repeated_inclusion_is_bounded():
    files = {"main.tex": "\\documentclass{article}\\begin{document}" + "\\input{big}" * 50 + "\\end{document}",
             "big.tex": "x" * 100_000}
    with pytest.raises(Skip) as e:
        flatten(files, max_chars=1_000_000)
    assert e.value.reason == "output_too_large"


def test_find_main_prefers_documentclass_then_top_level():
    files = {
        "sub/draft.tex": "\\documentclass{article}\\begin{document}a\\end{document}",
        "paper.tex": "\\documentclass{article}\\begin{document}b\\end{document}",
        "frag.tex": "\\begin{document}c\\end{document}",
    }
    assert find_main(files, "x") == "paper.tex"
    with pytest.raises(Skip):
        find_main({"a.tex": strip_comments("%\\begin{document}\n")}, "x")  # texts arrive stripped


def test_styles_are_kept_transitively():
    files = {
        "main.tex": "\\documentclass[a4]{mycls}\\usepackage{amsmath,mine}\\begin{document}x\\end{document}",
        "mycls.cls": "\\LoadClass{article}\\RequirePackage{deep}",
        "mine.sty": "\\newcommand{\\R}{\\mathbb{R}}",
        "sty/deep.sty": "\\def\\eps{\\epsilon}",
    }
    assert set(flatten(files).styles) == {"mycls.cls", "mine.sty", "deep.sty"}


def test_split_preamble():
    pre, body = split_preamble("\\documentclass{article}\\def\\x{y}\\begin{document}B\\end{document}")
    assert pre.endswith("\\def\\x{y}") and body == "B"
