import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.latex.normalise import normalise
from pipeline.latex.tokenizer import Vocabulary, detokenize, tokenize


def test_normalise_rules():
    assert normalise(r"E = m c^2 \label{eq:e} \nonumber .") == "E=mc^2"
    assert normalise(r"a \tag*{3} + b \notag \\") == "a+b"
    assert normalise(r"\alpha  x + \frac {1} {2} \,.\quad") == r"\alpha x+\frac{1}{2}"
    assert normalise(r"x \text{ if  a  } \mathrm{d x}") == r"x\text{ if a }\mathrm{dx}"
    assert normalise(r"\left( x \right.") == r"\left(x\right."
    assert normalise("a \\\\ [2mm] b") == r"a\\{}[2mm]b"
    assert normalise("a \\\\[2mm] b;") == r"a\\[2mm]b"
    assert normalise("x % comment\n + y") == "x+y"
    assert normalise("a\\ \n b") == r"a\ b"


def test_tokenize_units():
    assert tokenize(r"\left\{ \frac{a}{b}\right) \bigl( x\Bigr] \\ & ^_") == [
        r"\left\{", r"\frac", "{", "a", "}", "{", "b", "}", r"\right)", r"\bigl(", "x", r"\Bigr]", "\\\\", "&", "^", "_"]
    assert tokenize(r"\alpha x\text{a b}") == [r"\alpha", "x", r"\text", "{", "a", " ", "b", "}"]
    assert tokenize(r"\leftarrow\left\langle x") == [r"\leftarrow", r"\left\langle", "x"]


_ALPHABET = st.sampled_from(
    list("ab xyz{}^_&()[]|.,;=+-12\n\t%$") + [r"\alpha", r"\frac", r"\left", r"\right", r"\text", r"\mbox",
    "\\\\", r"\{", r"\}", r"\,", r"\ ", r"\label{x}", r"\big", r"\langle", r"\quad", "\\", r"\tag{1}", r"\rm"]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_round_trip_property(x):
    y = normalise(x)
    t = tokenize(y)
    assert detokenize(t) == y
    assert tokenize(detokenize(t)) == t
    assert normalise(y) == y  # idempotent


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_round_trip_arbitrary_text(x):
    y = normalise(x)
    t = tokenize(y)
    assert detokenize(t) == y
    assert tokenize(detokenize(t)) == t


def test_vocabulary(tmp_path):
    v = Vocabulary.build([["a", "b", "a"], ["a", "c"]], min_count=2)
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and v.itos[4:] == ["a"]
    assert v.encode(["a", "zz"], add_bos_eos=True) == [2, 4, 1, 3]
    assert v.decode([2, 4, 1, 3, 0]) == ["a", "<unk>"]
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w.itos == v.itos and json.loads((tmp_path / "v.json").read_text())["tokens"][4] == "a"
