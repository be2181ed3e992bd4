import gzip
import io
import random
import tarfile

import pytest

from pipeline.latex.extract import extract_paper, undefined_commands, unique_by_latex
from pipeline.latex.tokenizer import detokenize, tokenize
from tests.conftest import CORPUS

KNOWN = {n: None for n in (
    "frac alpha beta gamma mu nu partial sum int left right langle rangle mathrm mathbf mathcal mathbb text "
    "label nonumber quad cdot operatorname begin end not binom sqrt in psi").split()}


def test_extract_paper_small():
    flat = r"""\documentclass{article}\usepackage{braket}
    \newcommand{\R}{\mathbb{R}}\def\nn{\nonumber}
    \newcommand{\norm}[2][2]{\|#2\|_{#1}}
    \begin{document}
    \iffalse \begin{equation} hidden \end{equation} \fi
    \be x\in\R, \nn \label{a} \ee
    \begin{equation} \norm{v} = \norm[1]{w} . \end{equation}
    \begin{equation} x\in\R \end{equation}
    \begin{equation} \ket{\psi} = {1\over 2} \end{equation}
    \begin{equation} \undefinedthing + \alpha \end{equation}
    \begin{equation} \end{equation}
    $$ a + b + c + d + e + f + g + h + i + j + k + l $$
    \end{document}"""
    r = extract_paper(flat, {}, KNOWN, max_tokens=20)
    assert r.found == 7
    assert [e["latex"] for e in r.equations] == [r"x\in\mathbb{R}", r"\|v\|_{2}=\|w\|_{1}", r"|\psi\rangle=\frac{1}{2}"]
    assert dict(r.dropped) == {"duplicate": 1, "undefined": 1, "empty": 1, "too_long": 1}
    assert r.undefined == {"undefinedthing": 1}
    assert "hidden" not in r.prose


def test_recursive_macro_costs_one_equation():
    flat = r"\def\a{\a a}\begin{equation}\a\end{equation}\begin{equation}x\end{equation}"
    r = extract_paper(flat, {}, KNOWN, max_tokens=50, prose=False)
    assert r.dropped["macro_error"] == 1 and [e["latex"] for e in r.equations] == ["x"]


def test_undefined_commands_and_unique():
    assert undefined_commands(r"\alpha+\foo\,\{x\}\begin{x}", KNOWN) == {"foo"}
    assert unique_by_latex([{"latex": "a"}, {"latex": "b"}, {"latex": "a"}]) == [{"latex": "a"}, {"latex": "b"}]


def _sample_papers(n: int, seed: int = 0):
    """Main .tex texts of a seeded sample of corpus papers (no \\input resolution: enough here)."""
    tars = sorted((CORPUS / "arxiv").glob("arXiv_src_*.tar"))
    rng = random.Random(seed)
    out = []
    for tar in rng.sample(tars, min(4, len(tars))):
        with tarfile.open(tar) as t:
            members = [m for m in t.getmembers() if m.isfile()]
            for m in rng.sample(members, min(n, len(members))):
                data = gzip.decompress(t.extractfile(m).read())
                try:
                    with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                        texs = [x for x in inner.getmembers() if x.name.endswith(".tex") and x.isfile()]
                        out += [inner.extractfile(x).read().decode("utf-8", "replace") for x in texs]
                except tarfile.TarError:
                    out.append(data.decode("utf-8", "replace"))
    return out


@pytest.mark.slow
@pytest.mark.corpus
def test_round_trip_on_real_equations(known):
    total = 0
    for text in _sample_papers(8):
        r = extract_paper(text, {}, known, max_tokens=10_000, prose=False)
        for e in r.equations:
            assert detokenize(e["tokens"]) == e["latex"]
            assert tokenize(detokenize(e["tokens"])) == e["tokens"]
            total += 1
    assert total > 50


def test_only_the_document_body_is_searched():
    from pipeline.latex.extract import display_equations

    text = (r"\documentclass{article}\newcommand{\X}{y} \begin{equation} a= \begin{document}"
            r"\begin{equation} \X \end{equation} \end{document} \begin{document} \begin{equation} b \end{equation}")
    found, table, _ = display_equations(text, {}, {})
    assert [e.latex.strip() for e in found] == [r"\X"]
    assert "X" in table.macros  # preamble definitions still read
