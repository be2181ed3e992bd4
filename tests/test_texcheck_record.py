"""The equation record: which text the verdict typesets (pure Python, no TeX)."""
import pytest

from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.record import Equation, display_text, is_wrapped


def test_body_goes_in_starred_environment():
    assert display_text("a&=b\\\\c&=d", "align") == "\\begin{align*}\na&=b\\\\c&=d\n\\end{align*}"
    assert display_text("x", "displaymath") == "\\[x\\]"
    assert display_text("a&b&c&d", "alignat", 2).startswith("\\begin{alignat*}{2}\n")
    assert Equation("x").display == "\\begin{equation*}\nx\n\\end{equation*}"


def test_wrapped_display_is_typeset_as_it_stands():
    text = "\\begin{equation}\\label{a}\nx=1\n\\end{equation}\n\n"
    assert is_wrapped(text) and display_text(text, "align") == text
    assert is_wrapped("\\begin{align*} a \\end{align*}") and is_wrapped(" \\[ x \\] ")


def test_inner_structures_are_still_bodies():
    for inner in ("aligned", "split", "array", "cases", "gathered"):
        assert not is_wrapped("\\begin{%s}a\\end{%s}" % (inner, inner))
    assert not is_wrapped("\\begin{equation}a\\end{align}")


def test_unknown_env_is_refused():
    with pytest.raises(ValueError, match="display environment"):
        Equation("x", env="itemize")


def test_preamble_hash_and_lines():
    p = Preamble()
    assert p.text == "\\documentclass{article}\n\\usepackage{amsmath,amssymb,amsfonts,mathtools,bm}\n"
    assert p.line_count == 2 and len(p.hash) == 16
    assert Preamble(packages=("amsmath",)).hash != p.hash


def test_preamble_hash_names_the_tex_installation(monkeypatch):
    import pipeline.texcheck.preamble as P
    from pipeline.texcheck.installation import _first_line, tex_installation_id

    assert "pdfTeX" in _first_line(["pdftex", "--version"])  # the identity reads the real binary
    assert len(tex_installation_id()) == 16
    here = Preamble().hash
    monkeypatch.setattr(P, "tex_installation_id", lambda: "another-texlive")
    assert Preamble().hash != here  # caches of another TeX Live are not reused
