"""Patterns of real arXiv papers outside the shared corpus, as fixtures of realistic papers.

Each paper below is written the way authors write them (preambles with `\\makeatletter` blocks,
mathtools and xparse definitions, physics, siunitx and glossaries commands, diagrams in display
math). Every display equation must come out (or be dropped as a diagram), expanded into the fixed
preamble's terms, and compile there.
"""
from __future__ import annotations

import pytest

from pipeline.latex.extract import extract_paper
from pipeline.texcheck import Equation, Preamble, check

MULTILINE = r"""\documentclass{article}
\usepackage{amsmath}
\begin{document}
The field equations read
\begin{eqnarray}
a &=& b + c \\
f &=& g\,h \\
n &=& \frac{p}{q}
\end{eqnarray}
and
\begin{align}
x &= y \\ beta &= \gamma \\[2pt]
e^{i\pi} &= -1 \nonumber\\
m &= 2
\end{align}
\begin{displaymath} u = v \\ w \end{displaymath}
\end{document}
"""

MAKEATLETTER = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\makeatletter
\def\make@small#1{\vcenter{\hbox{$\scriptstyle#1$}}}
\newcommand{\soplus}{\mathbin{\make@small\oplus}}
\newcommand{\sotimes}{\mathbin{\make@small\otimes}}
\def\vec@bold#1{\boldsymbol{#1}}
\newcommand{\V}[1]{\vec@bold{#1}}
\makeatother
\begin{document}
\begin{equation} A \soplus B = \V{x} \sotimes C \end{equation}
\end{document}
"""

MY_STY = r"""\NeedsTeXFormat{LaTeX2e}
\ProvidesPackage{mymacros}
\def\op@name#1{\operatorname{#1}}
\newcommand{\Tr}{\op@name{Tr}}
\newcommand{\ad}{\op@name{ad}}
"""
STYLE_PAPER = r"""\documentclass{article}
\usepackage{mymacros}
\begin{document}
\begin{equation} \Tr\rho = 1, \quad \ad_X Y = [X,Y] \end{equation}
\end{document}
"""

COMMANDS = r"""\documentclass{article}
\usepackage{amsmath,physics,siunitx,glossaries,xspace,hyperref}
\newacronym{snr}{SNR}{signal-to-noise ratio}
\newglossaryentry{lr}{name={learning rate}, symbol={\ensuremath{\eta}}, description={step size}}
\newcommand{\R}{\ensuremath{\mathbb{R}}\xspace}
\begin{document}
\begin{equation} \qty(\frac{a}{b}) + \qty[x+y] + \qty|z|^2 = \abs{w} \end{equation}
\begin{equation} M = \mqty(a & b \\ c & d), \qquad \dv{f}{x} = \pdv{g}{y} \end{equation}
\begin{equation} \gls{snr} = 10 \log_{10} \frac{P_s}{P_n}, \quad \theta_{t+1} = \theta_t - \glssymbol{lr} \nabla L \end{equation}
\begin{equation} v = \SI{3.0e8}{\meter\per\second}, \qquad g = \SI{9.81}{\meter\per\second\squared} \end{equation}
\begin{equation} f\colon \R \to \R \end{equation}
$$ E = mc^2 \eqno(1.1) $$
\begin{equation} x = y \quad \text{by \hyperref[thm:main]{Theorem 1}} \end{equation}
\end{document}
"""

DEFINERS = r"""\documentclass{article}
\usepackage{amsmath,mathtools,xparse}
\DeclarePairedDelimiter\abs{\lvert}{\rvert}
\DeclarePairedDelimiter\norm{\lVert}{\rVert}
\DeclarePairedDelimiterX\infdivx[2]{(}{)}{#1\;\delimsize\|\;#2}
\makeatletter
\let\oldabs\abs
\def\abs{\@ifstar{\oldabs}{\oldabs*}}
\makeatother
\NewDocumentCommand\om{m}{\omega^{#1}}
\NewDocumentCommand\E{s o m}{\IfBooleanTF{#1}{\mathbb{E}}{E}\IfNoValueTF{#2}{}{_{#2}}\left[#3\right]}
\newenvironment{resp}[1]{\texttt{#1}}{}
\begin{document}
\begin{equation} \abs{x} + \abs*{y} + \norm{v} + \norm*{w} + \norm[\big]{u} \end{equation}
\begin{equation} D_{\mathrm{KL}}\infdivx{p}{q} = \om{\alpha} + \om{\beta} \end{equation}
\begin{equation} \E*[q]{X} + \E{Y} \end{equation}
\begin{equation} P(\text{\resp{yes}}) = 0.3 \end{equation}
\end{document}
"""

DIAGRAMS = r"""\documentclass{article}
\usepackage{amsmath,tikz-cd,xy,qcircuit}
\xyoption{all}
\begin{document}
\begin{equation} \begin{tikzcd} A \arrow[r] & B \end{tikzcd} \end{equation}
\[ \xymatrix{ A \ar[r] & B } \]
\[ \Qcircuit @C=1em { & \gate{H} & \qw } \]
\begin{equation} a = b \end{equation}
\end{document}
"""


def _compiles(eqs: list[dict]) -> list[bool]:
    return [v.compiles for v in check([Equation(e["latex"], e["env"], e["env_arg"]) for e in eqs], Preamble())]


def test_lines_starting_with_a_letter_are_kept(known):
    r = extract_paper(MULTILINE, {}, known, max_tokens=400, prose=False)
    assert r.found == 3 and not r.dropped, (r.dropped, r.undefined)
    assert [e["latex"] for e in r.equations] == [
        r"a&=&b+c\\f&=&g\,h\\n&=&\frac{p}{q}",
        r"x&=y\\beta&=\gamma\\[2pt]e^{i\pi}&=-1\\m&=2",
        r"u=v\\w",
    ]
    assert all(_compiles(r.equations))


def test_definitions_with_at_in_their_names_are_expanded(known):
    r = extract_paper(MAKEATLETTER, {}, known, max_tokens=400, prose=False)
    assert [e["latex"] for e in r.equations] == [
        r"A\mathbin{\vcenter{\hbox{$\scriptstyle\oplus$}}}B=\boldsymbol{x}\mathbin{\vcenter{\hbox{$\scriptstyle\otimes$}}}C"
    ]
    assert all(_compiles(r.equations))
    r = extract_paper(STYLE_PAPER, {"mymacros.sty": MY_STY}, known, max_tokens=400, prose=False)
    assert [e["latex"] for e in r.equations] == [r"\operatorname{Tr}\rho=1,\quad\operatorname{ad}_XY=[X,Y]"]


def test_package_commands_mean_what_the_author_meant(known):
    r = extract_paper(COMMANDS, {}, known, max_tokens=400, prose=False)
    assert not r.dropped, (r.dropped, r.undefined)
    assert [e["latex"] for e in r.equations] == [
        r"\left(\frac{a}{b}\right)+\left[x+y\right]+\left|z\right|^2=\left|w\right|",
        r"M=\begin{pmatrix}a&b\\c&d\end{pmatrix},\qquad\frac{df}{dx}=\frac{\partial g}{\partial y}",
        r"\text{SNR}=10\log_{10}\frac{P_s}{P_n},\quad\theta_{t+1}=\theta_t-\eta\nabla L",
        r"v=3.0e8\,\mathrm{m\,s^{-1}},\qquad g=9.81\,\mathrm{m\,s^{-2}}",
        r"f\colon\mathbb{R}\to\mathbb{R}",
        r"E=mc^2",
        r"x=y\quad\text{by Theorem 1}",
    ]
    assert all(_compiles(r.equations))


def test_mathtools_xparse_and_environment_commands(known):
    r = extract_paper(DEFINERS, {}, known, max_tokens=400, prose=False)
    assert not r.dropped, (r.dropped, r.undefined)
    assert [e["latex"] for e in r.equations] == [
        # the \@ifstar idiom swaps the star: \abs sizes, \abs* does not
        r"\left\lvert x\right\rvert+\lvert y\rvert+\lVert v\rVert+\left\lVert w\right\rVert+\bigl\lVert u\bigr\rVert",
        r"D_{\mathrm{KL}}(p\;\|\;q)=\omega^{\alpha}+\omega^{\beta}",
        r"\mathbb{E}_{q}\left[X\right]+E\left[Y\right]",
        r"P(\text{\texttt{yes}})=0.3",
    ]
    assert all(_compiles(r.equations))


def test_diagrams_are_dropped_with_their_own_reason(known):
    r = extract_paper(DIAGRAMS, {}, known, max_tokens=400, prose=False)
    assert [e["latex"] for e in r.equations] == ["a=b"]
    assert dict(r.dropped) == {"diagram": 3}
    assert dict(r.diagrams) == {"tikzcd": 1, "xymatrix": 1, "Qcircuit": 1}
    assert not r.undefined


@pytest.mark.parametrize("latex,expected", [
    (r"a\\f", set()),                 # a line break, then the letter f
    (r"a\\\foo", {"foo"}),            # a line break, then \foo
    (r"\\\\g", set()),                # two line breaks
    (r"\alpha\beta\gamma\undefinedthing", {"undefinedthing"}),
])
def test_control_sequences_are_read_as_tex_reads_them(known, latex, expected):
    from pipeline.latex.extract import undefined_commands

    assert undefined_commands(latex, known) == expected


# A helper under \makeatletter that a kernel macro hands its arguments to (`\mathpalette` passes
# the math style), with a kernel `@` setting in its body: as one paper writes its `\soplus`.
MATHPALETTE = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\makeatletter
\def\make@small#1#2{\vcenter{\hbox{$\m@th#1\scriptscriptstyle#2$}}}
\newcommand{\soplus}{\mathbin{\mathpalette\make@small\oplus}}
\newcommand{\sotimes}{\mathbin{\mathpalette\make@small\otimes}}
\makeatother
\begin{document}
\begin{equation} A \soplus B = C \sotimes D \end{equation}
\begin{equation} \bigoplus_i V_i \soplus W \end{equation}
\end{document}
"""

# tikzit: string diagrams drawn from .tikz files through `\tikzfig`, defined in the paper's own
# tikzit.sty (which loads TikZ libraries: programming, never read as notation).
TIKZIT_STY = r"""\RequirePackage{tikz}
\usetikzlibrary{backgrounds}
\newcommand{\tikzfig}[1]{{\tikzstyle{every picture}=[tikzfig]\IfFileExists{#1.tikz}{\input{#1.tikz}}{\input{./figures/#1.tikz}}}}
\newcommand{\ctikzfig}[1]{\begin{center}\rm\tikzfig{#1}\end{center}}
"""
TIKZIT_PAPER = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{tikzit}
\begin{document}
\begin{equation} \tikzfig{copy-rule} \ = \ \tikzfig{copy-rule-2} \end{equation}
\begin{equation*} \tikzfig{spider} \end{equation*}
\begin{equation} f \circ g = h \end{equation}
\end{document}
"""


def test_at_helpers_called_through_the_kernel_keep_their_names(known):
    r = extract_paper(MATHPALETTE, {}, known, max_tokens=400, prose=False)
    assert not r.dropped and not r.undefined, (r.dropped, r.undefined)
    assert len(r.equations) == 2
    for e in r.equations:
        assert "@" not in e["latex"] and "\\make" not in e["latex"]  # no `\make` + `@small` left
        assert "\\mathchoice{\\vcenter{\\hbox{$\\mathsurround=0pt \\displaystyle\\scriptscriptstyle\\oplus$}}}" in e["latex"]
    assert all(_compiles(r.equations))


def test_tikzit_figures_are_diagrams(known):
    r = extract_paper(TIKZIT_PAPER, {"tikzit.sty": TIKZIT_STY}, known, max_tokens=400, prose=False)
    assert [e["latex"] for e in r.equations] == [r"f\circ g=h"]
    assert dict(r.dropped) == {"diagram": 2} and dict(r.diagrams) == {"tikzfig": 2}
    assert not r.undefined
