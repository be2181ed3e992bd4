import pytest

from pipeline.latex.conditionals import remove_iffalse
from pipeline.latex.macros import ExpansionError, build_table

KNOWN = {n: None for n in "frac alpha beta vec mathbf langle rangle operatorname begin end left right sum".split()}


def expand(defs: str, use: str, styles=None, known=KNOWN) -> str:
    table, rest = build_table(defs, styles or {}, known)
    return table.expand(use)


def test_newcommand_with_args_and_optional_default():
    d = r"\newcommand{\pair}[3][0]{(#1,#2,#3)}"
    assert expand(d, r"\pair{a}{b}") == "(0,a,b)"
    assert expand(d, r"\pair[x]{a}{b}") == "(x,a,b)"


def test_starred_renew_provide_and_braceless_name():
    d = r"\newcommand*\R{\mathbb{R}} \providecommand{\R}{X} \renewcommand{\eps}{\epsilon}"
    assert expand(d, r"x\in\R, \eps") == r"x\in\mathbb{R}, \epsilon"


def test_def_simple_and_delimited():
    d = r"\def\ip#1#2{\langle #1|#2\rangle}\def\pt(#1,#2){P_{#1}^{#2}}"
    assert expand(d, r"\ip{a}{b}") == r"\langle a|b\rangle"
    assert expand(d, r"\pt(x,y)") == r"P_{x}^{y}"


def test_parameter_does_not_glue_to_control_word():
    assert expand(r"\newcommand{\ip}[1]{\langle#1\rangle}", r"\ip{X}") == r"\langle X\rangle"


def test_let_alias_and_declare_math_operator():
    d = r"\let\eps=\varepsilon \DeclareMathOperator{\Tr}{Tr} \DeclareMathOperator*{\argmax}{arg\,max}"
    assert expand(d, r"\eps \Tr A \argmax_x") == r"\varepsilon \operatorname{Tr} A \operatorname*{arg\,max}_x"


def test_known_command_policy():
    # \newcommand of a known name: LaTeX refuses it, the preamble's meaning holds.
    assert expand(r"\newcommand{\vec}[1]{\mathbf{#1}}", r"\vec{x}") == r"\vec{x}"
    # \renewcommand of a known name: the paper meant its own meaning.
    assert expand(r"\renewcommand{\vec}[1]{\mathbf{#1}}", r"\vec{x}") == r"\mathbf{x}"
    # ...also when it refers to the old meaning through \let.
    d = r"\let\oldvec\vec \renewcommand{\vec}[1]{\oldvec{\mathbf{#1}}}"
    assert expand(d, r"\vec{x}") == r"\vec{\mathbf{x}}"


def test_style_definitions_taken_but_not_internals():
    styles = {"my.sty": r"\newcommand{\R}{\mathbb{R}} \def\x@y{z} \def\frac#1#2{#1/#2} \def\q{\csname foo\endcsname}"}
    table, _ = build_table("", styles, KNOWN)
    # `@` names are the style's helpers, taken so the paper's commands that call them expand;
    # known names and TeX programming are not taken.
    assert set(table.macros) - set(SHORTHANDS_NAMES) == {"R", "x@y"}


from pipeline.latex.shorthands import SHORTHANDS  # noqa: E402

SHORTHANDS_NAMES = list(SHORTHANDS)


def test_recursive_macro_is_an_error_not_a_hang():
    table, _ = build_table(r"\newcommand{\a}{\a x}\def\b{\b}", {}, KNOWN)
    with pytest.raises(ExpansionError):
        table.expand(r"\a")
    with pytest.raises(ExpansionError):
        table.expand(r"\b")


def test_exponential_macro_is_bounded():
    d = r"\def\a{xx}\def\b{\a\a\a\a\a\a\a\a}\def\c{\b\b\b\b\b\b\b\b}\def\d{\c\c\c\c\c\c\c\c}\def\e{\d\d\d\d\d\d\d\d}"
    table, _ = build_table(d, {}, KNOWN)
    with pytest.raises(ExpansionError):
        table.expand(r"\e\e\e")


def test_definitions_removed_from_text():
    table, rest = build_table(r"\newcommand{\R}{\mathbb{R}}Hello \def\x{y}world", {}, KNOWN)
    assert rest == "Hello world"


def test_shorthands_and_structural_pass():
    table, rest = build_table(r"\be x=1 \ee \bea a&=&b \eea", {}, KNOWN)
    expected = r"\begin{equation} x=1 \end{equation} \begin{eqnarray} a&=&b \end{eqnarray}"
    assert table.expand(rest, structural_only=True) == expected
    # a paper's own definition wins over the shorthand
    table, rest = build_table(r"\def\be{\begin{align}}\def\ee{\end{align}}\be x \ee", {}, KNOWN)
    assert table.expand(rest, structural_only=True) == r"\begin{align} x \end{align}"


def test_let_to_environment_primitives():
    table, rest = build_table(r"\let\bea\eqnarray \let\eea\endeqnarray \bea a \eea", {}, KNOWN)
    assert table.expand(rest, structural_only=True).strip() == r"\begin{eqnarray} a \end{eqnarray}"


def test_newenvironment_alias_of_math_environment():
    table, rest = build_table(r"\newenvironment{eq}{\begin{equation}}{\end{equation}}\begin{eq}x\end{eq}", {}, KNOWN)
    assert table.apply_env_aliases(rest) == r"\begin{equation}x\end{equation}"


def test_iffalse_removed_with_nesting():
    assert remove_iffalse(r"a\iffalse b \ifx\a\b c\fi d\fi e") == "a e"
    assert remove_iffalse(r"\newif\ifdraft a\iffalse x\fi b") == r"\newif\ifdraft a b"


def test_macro_glue_in_expansion():
    assert expand(r"\def\n{n}", r"\alpha\n") == r"\alpha n"


def test_shorthands_only_as_begin_end_pairs_around_display_math():
    from pipeline.latex.shorthands import shorthand_pairs_in_use

    assert shorthand_pairs_in_use(r"\be x \ee and \bea a&=&b \eea") == [("be", "ee", "equation"), ("bea", "eea", "eqnarray")]
    # \ba{l}..\ea inside display math is an array, not an eqnarray
    text = r"\begin{equation} \ba{l} x \ea \end{equation} \be \ba{c} y \ea \ee"
    assert shorthand_pairs_in_use(text) == [("be", "ee", "equation")]
    assert shorthand_pairs_in_use(r"$\ba{l} x \ea$") == []
    # not a pair (begin without end), a blank line inside, or a name the paper defines
    assert shorthand_pairs_in_use(r"\beq x \beq y \beq z") == []
    assert shorthand_pairs_in_use("\\be x \n\n y \\ee") == []
    assert shorthand_pairs_in_use(r"\be x \ee", defined={"be"}) == []
    table, rest = build_table(r"\begin{equation} \ba{l} x \ea \end{equation}", {}, KNOWN)
    assert table.expand(rest, structural_only=True) == rest
