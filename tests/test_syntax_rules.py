"""The syntax-aware decoder's rules one at a time, on a small synthetic vocabulary and training set
(pipeline/model/syntax.py): each test walks the grammar token by token and asks what it allows
next. Needs neither the shared corpus nor TeX, except the last test, which judges sampled
equations with an independent parser (pylatexenc) and with pdflatex."""
from __future__ import annotations

import pytest
import torch

from pipeline.latex.tokenizer import Vocabulary, env_token, tokenize
from pipeline.model.syntax import Grammar, derive_rules

# (environment, LaTeX) of the "training equations" the rules are read off
TRAIN = [
    ("equation", r"x^{2}+y_{i}=\frac{a}{b}"),
    ("equation", r"\frac12+\sqrt[3]{x}+\sqrt{y}+z'"),
    ("align", r"a&=b\\c&=d"),
    ("equation", r"\begin{cases}a&b\\c&d\end{cases}"),
    ("equation", r"\begin{array}{c|l}a&b\end{array}"),
    ("equation", r"\hspace{2em}x\quad\text{if } y\hspace*{1pt}"),
    ("equation", r"\sum\limits_{i}x_{i}+\alpha\beta"),
    ("equation", r"\left(a\middle|b\right)"),
    ("equation", r"\mathrm{d}x\,\hat{x}"),
    ("equation", r"a\mkern-3mu b\hskip 2pt c"),
    ("equation", "abcdefghijklmnopqrstuvwxyz"),  # every letter (the units of dimensions among them)
]
KNOWN = {"frac": 2, "sqrt": 1, "hat": 1, "mathrm": 1, "text": 1, "hspace": 1}


def _grammar(script_ok_from_tex: bool = False, cache_dir=None) -> Grammar:
    eqs = [(env, tokenize(latex)) for env, latex in TRAIN]
    vocab = Vocabulary.build([[env_token(env), *toks] for env, toks in eqs] + [["<eos>"]])
    rules = derive_rules(eqs, KNOWN)
    if script_ok_from_tex:  # as the sample stage does: which tokens TeX takes unbraced after ^ and _
        from pipeline.model.generation import probe_script_arguments

        rules.script_ok = probe_script_arguments(vocab, rules, cache_dir=cache_dir)
    return Grammar(vocab, rules)


@pytest.fixture(scope="module")
def g() -> Grammar:
    return _grammar()


def _walk(g: Grammar, env: str, latex: str | list[str]):
    """The state after `env`'s token and the tokens of `latex`, each checked to be allowed."""
    st = g.start(1)
    toks = [env_token(env)] + (tokenize(latex) if isinstance(latex, str) else list(latex))
    for t in toks:
        i = g.vocab.stoi[t]
        assert bool(g.allowed(st)[0, i]), f"{t!r} refused after {toks[:toks.index(t)]}"
        st = g.advance(st, torch.tensor([i]))
    return st


def _next(g: Grammar, env: str, latex: str | list[str]) -> set[str]:
    st = _walk(g, env, latex)
    return {g.vocab.itos[i] for i in torch.nonzero(g.allowed(st)[0]).flatten().tolist()}


def test_the_first_token_is_an_environment(g):
    first = {g.vocab.itos[i] for i in torch.nonzero(g.allowed(g.start(1))[0]).flatten().tolist()}
    assert first == {env_token("equation"), env_token("align")}


def test_special_tokens_are_never_written(g):
    for latex in ("", "x+", r"\frac{a"):
        assert not _next(g, "equation", latex) & {"<pad>", "<bos>", "<unk>"}


def test_braces_nest(g):
    assert "}" not in _next(g, "equation", "x")
    assert "}" in _next(g, "equation", r"\mathrm{d")
    assert "}" not in _next(g, "equation", r"\mathrm{d}")


def test_eos_only_when_nothing_is_open_or_owed(g):
    assert "<eos>" not in _next(g, "equation", "") and "<eos>" not in _next(g, "equation", [" "])  # empty
    assert "<eos>" in _next(g, "equation", "x+y")
    assert "<eos>" not in _next(g, "equation", r"\mathrm{d")        # a brace open
    assert "<eos>" not in _next(g, "equation", r"\frac{a}")         # an argument owed
    assert "<eos>" not in _next(g, "equation", r"\left(a")          # a \left open


def test_environments_close_with_their_own_end(g):
    after = _next(g, "equation", r"\begin{cases}a")
    assert r"\end{cases}" in after and r"\end{array}" not in after
    assert r"\end{cases}" not in _next(g, "equation", "x")


def test_left_right_and_middle(g):
    # `\left(` is one token (the tokenizer keeps a sized delimiter whole)
    assert r"\right)" not in _next(g, "equation", "a")
    assert r"\middle|" not in _next(g, "equation", "a")
    inside = _next(g, "equation", r"\left(a")
    assert {r"\right)", r"\middle|"} <= inside
    assert r"\right)" in _next(g, "equation", r"\left(a\middle|b")
    assert r"\middle|" not in _next(g, "equation", r"\left(a\right)")


def test_no_double_superscript_or_subscript(g):
    after_sup = _next(g, "equation", "x^{2}")
    assert "^" not in after_sup and "'" not in after_sup and "_" in after_sup
    after_sub = _next(g, "equation", "y_{i}")
    assert "_" not in after_sub and "^" in after_sub
    assert {"^", "_"} <= _next(g, "equation", "x^{2}+y")  # a new atom starts afresh
    assert "^" in _next(g, "equation", "z'") and "'" in _next(g, "equation", "z'")  # z''^2 is one superscript


def test_frac_owes_two_arguments(g):
    owed = _next(g, "equation", r"\frac")
    assert "{" in owed and "1" in owed and "<eos>" not in owed
    assert "}" not in owed and r"\quad" not in owed and r"\," not in owed  # spacing cannot stand alone
    assert "{" in _next(g, "equation", r"\frac{a}")
    assert "<eos>" in _next(g, "equation", r"\frac{a}{b}") and "<eos>" in _next(g, "equation", r"\frac12")


def test_sqrt_takes_an_optional_argument_first(g):
    assert "[" in _next(g, "equation", r"\sqrt")
    assert "]" in _next(g, "equation", r"\sqrt[3")
    after = _next(g, "equation", r"\sqrt[3]")
    assert "{" in after and "<eos>" not in after  # the mandatory argument is still owed
    assert "<eos>" in _next(g, "equation", r"\sqrt[3]{x}")
    assert "<eos>" not in _next(g, "equation", r"\sqrt[3")  # an optional argument open
    # LaTeX ends it at the first `]`: no brackets and no environment inside, unless braced
    inside = _next(g, "equation", r"\sqrt[3\sqrt")
    assert "[" not in inside and "{" in inside and r"\begin{cases}" not in _next(g, "equation", r"\sqrt[")
    assert "[" in _next(g, "equation", r"\sqrt[{\sqrt")


def test_ampersands_only_where_the_environment_allows_them(g):
    assert "&" not in _next(g, "equation", "a")
    assert "&" in _next(g, "align", "a")
    assert "&" not in _next(g, "align", r"\mathrm{a")  # braces never span cells


def test_ampersands_per_row_are_capped(g):
    assert "&" in _next(g, "equation", r"\begin{cases}a")
    assert "&" not in _next(g, "equation", r"\begin{cases}a&b")  # cases: one `&` a row
    assert "&" in _next(g, "equation", r"\begin{cases}a&b\\c")   # a new row
    # array: as many `&` as its column spec has columns, less one
    assert "&" in _next(g, "equation", r"\begin{array}{c|l}a")
    assert "&" not in _next(g, "equation", r"\begin{array}{c|l}a&b")


def test_a_line_breaks_optional_argument_is_a_dimension(g):
    assert "[" in _next(g, "align", r"a&=b\\")
    start = _next(g, "align", r"a&=b\\[")
    assert "2" in start and r"\frac" not in start and "]" not in start
    assert _next(g, "align", [*tokenize(r"a&=b\\["), "2", "p", "t"]) == {"]"}
    assert "c" in _next(g, "align", [*tokenize(r"a&=b\\["), "2", "p", "t", "]"])
    st = _walk(g, "align", [*tokenize(r"a&=b\\["), "2"])
    assert {g.vocab.itos[i] for i in torch.nonzero(g.closing(st, g.allowed(st))[0]).flatten().tolist()} == {"p"}


def test_line_breaks_only_at_an_environment_level(g):
    assert "\\\\" not in _next(g, "equation", "a")
    assert "\\\\" in _next(g, "align", "a&=b")
    assert "\\\\" not in _next(g, "align", r"\mathrm{b")
    assert "\\\\" in _next(g, "equation", r"\begin{cases}a&b")


def test_the_column_spec_automaton(g):
    spec = _next(g, "equation", r"\begin{array}{")
    assert {"c", "l", "|"} <= spec and not {"p", "m", "b"} & spec  # text columns; m, b need the array package
    assert "x" not in spec and r"\alpha" not in spec and "&" not in spec
    assert "}" in _next(g, "equation", r"\begin{array}{c|l")
    assert "}" not in _next(g, "equation", r"\begin{array}{") and "}" not in _next(g, "equation", r"\begin{array}{|")
    # `*{n}{cols}`: a count of one digit at least, a column at least
    assert _next(g, "equation", [*tokenize(r"\begin{array}{"), "*"]) == {"{"}
    assert "}" not in _next(g, "equation", [*tokenize(r"\begin{array}{"), "*", "{"])
    assert "1" not in _next(g, "equation", [*tokenize(r"\begin{array}{"), "*", "{", "3", "2"])  # 99 at most
    assert "}" not in _next(g, "equation", [*tokenize(r"\begin{array}{"), "*", "{", "3", "}", "{"])
    assert "}" in _next(g, "equation", [*tokenize(r"\begin{array}{"), "*", "{", "3", "}", "{", "c"])


def test_the_dimension_automaton(g):
    assert _next(g, "equation", r"\hspace") <= {"{", " ", "*"}  # braced: `\hspace x` is not a dimension
    assert "{" in _next(g, "equation", r"\hspace*") and "*" not in _next(g, "equation", r"\hspace*")
    start = _next(g, "equation", r"\hspace{")
    assert "2" in start and "x" not in start and "}" not in start
    assert "}" not in _next(g, "equation", r"\hspace{2")          # a number needs its unit
    assert "1" in _next(g, "equation", r"\hspace{2") and "1" not in _next(g, "equation", r"\hspace{22")  # 99 at most
    assert "}" in _next(g, "equation", [r"\hspace", "{", "2", "e", "m"])
    # mu is the unit of \mkern and \mskip only ("Illegal unit of measure" anywhere else)
    assert "u" not in _next(g, "equation", [r"\hspace", "{", "2", "m"])
    assert _next(g, "equation", [r"\mkern", "2", "m"]) == {"u"}
    assert "p" not in _next(g, "equation", [r"\mkern", "2"]) and "p" in _next(g, "equation", [r"\hskip", "2"])
    assert "b" in _next(g, "equation", [r"\mkern", "-", "3", "m", "u"])  # the bare dimension is done


def test_limits_only_after_an_operator(g):
    assert r"\limits" in _next(g, "equation", r"\sum")
    assert r"\limits" not in _next(g, "equation", "x")
    assert r"\limits" not in _next(g, "equation", r"\sum x")
    assert r"\limits" not in _next(g, "equation", r"\sqrt\sum")  # an argument: `{\sum}\limits` fails


def test_environment_arguments_are_braced(g):
    after = _next(g, "equation", r"\begin{array}")
    assert "{" in after and "c" not in after and "2" not in after and "[" not in after
    assert "c" in _next(g, "equation", r"\begin{array}{")
    st = _walk(g, "equation", r"\begin{array}")  # near the length limit too: `{`, never a lone token
    assert {g.vocab.itos[i] for i in torch.nonzero(g.closing(st, g.allowed(st))[0]).flatten().tolist()} == {"{"}


def test_text_arguments_hold_text(g):
    inside = _next(g, "equation", r"\text{")
    assert "i" in inside and "^" not in inside and r"\frac" not in inside and "&" not in inside
    unbraced = _next(g, "equation", r"\text")  # one token of text, or a group
    assert {"i", "{"} <= unbraced and r"\alpha" not in unbraced and "^" not in unbraced


def test_near_the_length_limit_only_closers_are_taken(g):
    for latex, closer in ((r"\mathrm{d", {"}"}), (r"\begin{cases}a", {r"\end{cases}"}), (r"\left(a", {r"\right)"}),
                          ("x+y", {"<eos>"})):
        st = _walk(g, "equation", latex)
        keep = g.closing(st, g.allowed(st))
        assert {g.vocab.itos[i] for i in torch.nonzero(keep[0]).flatten().tolist()} == closer, latex
    st = _walk(g, "equation", r"\frac{a}")
    keep = {g.vocab.itos[i] for i in torch.nonzero(g.closing(st, g.allowed(st))[0]).flatten().tolist()}
    assert "{" not in keep and keep and keep <= g.vocab.stoi.keys() - {"<eos>", "}"}  # one atom pays the argument
    # `}`, the second argument, <eos>; the argument being written counts as owed until it closes,
    # so the count is an upper bound by one
    assert int(g.needed_to_close(_walk(g, "equation", r"\frac{a"))[0]) == 4


def test_sampled_equations_parse_and_compile(tmp_path):
    """An independent judge of the rules: equations sampled under them from an untrained network
    (any token the rules allow is likely) parse strictly with pylatexenc and compile in pdflatex."""
    from pylatexenc.latexwalker import LatexWalker

    from pipeline.latex.tokenizer import detokenize, parse_env_token
    from pipeline.model.decoder import DecodeSettings, sample
    from pipeline.model.network import NetworkConfig, TopicLSTM
    from pipeline.texcheck import Equation, Preamble, check

    g = _grammar(script_ok_from_tex=True, cache_dir=tmp_path)
    torch.manual_seed(0)
    net = TopicLSTM(NetworkConfig(len(g.vocab), 2, 16, 16, 1, 0.0, "concat", "none", 1.0, 0.0, True, 0, 1.0))
    settings = DecodeSettings(temperature=1.0, top_k=0, top_p=1.0, max_len=40, syntax=True, seed=7, end_wish_logprob=-9.0)
    out = sample(net, torch.full((60, 2), 0.5), settings, g, 60, g.vocab.bos_id, g.vocab.eos_id)
    eqs = []
    for s in out:
        toks = [g.vocab.itos[i] for i in s.ids]
        env, _ = parse_env_token(toks[0])
        latex = detokenize(toks[1:])
        # the whole environment, as TeX reads it (pylatexenc raises on a bad structure)
        whole = rf"\begin{{{env}}}{latex}\end{{{env}}}"
        try:
            LatexWalker(whole, tolerant_parsing=False).get_latex_nodes()
        except Exception as exc:
            raise AssertionError(f"{whole}: {str(exc).splitlines()[0]}") from None
        eqs.append(Equation(latex, env, None))
    assert len({e.latex for e in eqs}) > 30  # varied, not one short equation again and again
    verdicts = check(eqs, Preamble(), cache_dir=tmp_path)
    failed = [(e.latex, v.error) for e, v in zip(eqs, verdicts) if not v.compiles]
    assert not failed, "\n".join(f"{a}  --  {b}" for a, b in failed[:6])


def test_a_whole_sequence_is_checked_and_the_first_break_named(g):
    """What the classify stage refuses: where a given equation first breaks the rules, and why."""
    def ids(env: str, latex: str) -> list[int]:
        return [g.vocab.stoi[env_token(env)]] + [g.vocab.stoi.get(t, g.vocab.unk_id) for t in tokenize(latex)]

    assert g.first_violation(ids("equation", r"x^{2}+\frac{a}{b}")) is None
    pos, why = g.first_violation(ids("equation", "x^{2}^{3}"))  # a double superscript, at the second ^
    assert pos == 6 and "not allowed" in why
    pos, why = g.first_violation(ids("equation", r"\frac{a}{"))
    assert pos == 6 and "still open" in why
    assert g.first_violation(ids("equation", "a&b"))[0] == 2  # `&` has no place in equation
    assert g.first_violation(ids("align", "a&b")) is None
    assert g.first_violation([g.vocab.stoi["x"]])[1].startswith("the first token must be")
    assert g.first_violation(ids("equation", r"x+\unknownthing y")) is None  # <unk> is passed over
