from pipeline.latex.equations import find_display_equations


def envs(text):
    return [(e.env, e.env_arg, e.latex) for e in find_display_equations(text)]


def test_named_environments_and_stars():
    t = r"""a \begin{equation} x=1 \end{equation} b \begin{align*} y&=2 \end{align*}
    \begin{alignat}{2} a&=b & c&=d \end{alignat} \begin{eqnarray*} u&=&v \end{eqnarray*}
    \begin{displaymath} z \end{displaymath} \begin{multline} m \end{multline} \begin{gather} g \end{gather}
    \begin{flalign} f \end{flalign}"""
    assert envs(t) == [
        ("equation", None, " x=1 "), ("align", None, " y&=2 "), ("alignat", "2", " a&=b & c&=d "),
        ("eqnarray", None, " u&=&v "), ("displaymath", None, " z "), ("multline", None, " m "),
        ("gather", None, " g "), ("flalign", None, " f "),
    ]


def test_brackets_dollars_and_linebreak_with_skip():
    t = r"text \\[2mm] more \[ a \\[3pt] b \] and $$ c $$ end"
    assert envs(t) == [("displaymath", None, r" a \\[3pt] b "), ("displaymath", None, " c ")]


def test_inline_math_is_not_display():
    t = r"$a$$b$ and \( x \) and $x$ \$ 5 \$ \[ y \]"
    assert envs(t) == [("displaymath", None, " y ")]


def test_aligned_inside_equation_stays_in_body_and_subequations_unwrapped():
    t = r"\begin{subequations}\begin{equation}\begin{aligned} a&=b\\ c&=d \end{aligned}\end{equation}\end{subequations}"
    assert envs(t) == [("equation", None, r"\begin{aligned} a&=b\\ c&=d \end{aligned}")]


def test_comments_verbatim_and_comment_env_are_skipped():
    t = "% \\begin{equation} no \\end{equation}\n\\verb|$$ x $$| \\begin{verbatim}\\[ v \\]\\end{verbatim}" \
        "\\begin{comment}\\[ c \\]\\end{comment} \\[ ok \\]"
    assert envs(t) == [("displaymath", None, " ok ")]


def test_percent_inside_verb_does_not_start_a_comment():
    t = "\\verb|%| \\begin{equation} x \\end{equation}"
    assert envs(t) == [("equation", None, " x ")]


def test_stray_dollar_does_not_swallow_the_document():
    t = "costs 5$ only.\n\n\\begin{equation} x \\end{equation}"
    assert envs(t) == [("equation", None, " x ")]


def test_unterminated_environment_is_skipped():
    assert envs(r"\begin{equation} x ") == []


def test_dollars_in_a_box_or_across_a_blank_line_are_not_display():
    # `{$$}` in a box is an empty inline formula: it must not swallow the text up to the next `$$`
    text = r"\put(1,2){\makebox(0,0){$$}} text \begin{equation} x \end{equation} \makebox{$$}"
    assert [e.written for e in find_display_equations(text)] == ["equation"]
    assert find_display_equations("$$ a \n\n b $$") == []
    assert [e.written for e in find_display_equations(r"$$ {a} $$ \[ b \]")] == ["$$", "\\["]
