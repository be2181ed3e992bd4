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

    here = Preamble().hash
    monkeypatch.setattr(P, "tex_installation_id", lambda: "another-texlive")
    assert Preamble().hash != here  # caches of another TeX Live are not reused


def test_installation_id_follows_version_format_and_package_database(monkeypatch, tmp_path):
    import pipeline.texcheck.installation as I

    fmt, lsr = tmp_path / "pdflatex.fmt", tmp_path / "ls-R"
    fmt.write_text("format")
    lsr.write_text("db")
    answers = {"pdftex": "pdfTeX 3.14 (TeX Live 2022)", "-engine=pdftex": str(fmt), "-var-value=TEXMFDIST": str(tmp_path)}
    monkeypatch.setattr(I, "_first_line", lambda cmd: answers[cmd[0] if cmd[0] == "pdftex" else cmd[1]])
    ident = I.tex_installation_id.__wrapped__
    first = ident()
    assert len(first) == 16 and ident() == first
    lsr.write_text("db after mktexlsr")  # a package upgraded
    second = ident()
    fmt.write_text("rebuilt format!")
    third = ident()
    answers["pdftex"] = "pdfTeX 3.15 (TeX Live 2024)"
    assert len({first, second, third, ident()}) == 4


def test_installation_id_of_this_machine():
    from pipeline.texcheck.installation import _first_line, tex_installation_id

    assert "pdfTeX" in _first_line(["pdftex", "--version"])  # setup.sh installs TeX Live
    assert len(tex_installation_id()) == 16
