"""The model's LaTeX tokens, and its vocabulary.

Tokens: a control word (`\\frac`) or control symbol (`\\{`, `\\\\`, `\\,`, `\\ `) is one token; a
sized delimiter (`\\left(`, `\\right\\}`, `\\bigl[`, `\\Big\\langle`) is one token; every other
character is one token. Outside text-mode arguments blanks are not tokens: the only blank a
normalised equation has there is the one separating a control word from a following letter, and
`detokenize` puts it back. Inside the braced argument of a TEXT_COMMANDS command every blank is a
token (" "), so text keeps its spaces exactly. For `y = normalise(x)`,
`detokenize(tokenize(y)) == y`, and `tokenize(detokenize(t)) == t` for every `t = tokenize(y)`.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pipeline.atomic import write_text
from pipeline.latex.normalise import ASCII_LETTERS, TEXT_COMMANDS
from pipeline.latex.scan import match_brace

DELIMITER_WORDS = (
    "langle rangle lbrace rbrace lfloor rfloor lceil rceil vert Vert lvert rvert lVert rVert "
    "uparrow downarrow updownarrow Uparrow Downarrow Updownarrow backslash lgroup rgroup "
    "lmoustache rmoustache ulcorner urcorner llcorner lrcorner lbrack rbrack"
).split()
_TOKEN = re.compile(
    # `\begin{pmatrix}` and `\end{pmatrix}` are one token each: the sampler tracks environments
    r"\\(?:begin|end)\{[A-Za-z]+\*?\}"
    r"|\\(?:left|right|middle|[bB]igg?[lrm]?)(?:[().\[\]|/<>]|\\[{}|]|\\(?:"
    + "|".join(sorted(DELIMITER_WORDS, key=len, reverse=True))
    + r")(?![A-Za-z]))"
    r"|(?P<word>\\[A-Za-z]+)"
    r"|\\[^A-Za-z]"
    r"|(?P<space>\s)"
    r"|.|\n",
    re.S,
)
_ENDS_WORD = re.compile(r"\\[A-Za-z]+$")


def tokenize(latex: str) -> list[str]:
    """The tokens of a normalised equation (see the module docstring)."""
    tokens: list[str] = []
    text_end = -1  # end of the text-mode argument being read, -1 outside one
    pos = 0
    n = len(latex)
    while pos < n:
        m = _TOKEN.match(latex, pos)
        tok = m.group()
        pos = m.end()
        if m.lastgroup == "space" and pos > text_end:
            continue  # a separator blank: implied by the tokens around it
        tokens.append(tok)
        if text_end < 0 and m.lastgroup == "word" and tok[1:] in TEXT_COMMANDS and pos < n and latex[pos] == "{":
            k = match_brace(latex, pos)
            if k > 0:
                text_end = k
        elif pos >= text_end:
            text_end = -1
    return tokens


def detokenize(tokens: Iterable[str]) -> str:
    """The text of a token sequence; the inverse of `tokenize` on normalised equations."""
    toks = list(tokens)
    # Where each `{` closes, as match_brace finds it in the text (an unclosed one opens no text arg).
    closes: dict[int, int] = {}
    stack: list[int] = []
    for i, t in enumerate(toks):
        if t == "{":
            stack.append(i)
        elif t == "}" and stack:
            closes[stack.pop()] = i
    out: list[str] = []
    text_end = -1
    for i, tok in enumerate(toks):
        # a control word and a letter after it need a space, in text arguments too (there a real
        # equation always has a space token between them; a sampled one may not)
        if i and tok[:1] in ASCII_LETTERS and _ENDS_WORD.search(toks[i - 1]):
            out.append(" ")
        if i > text_end:
            if tok == "{" and i and toks[i - 1][1:] in TEXT_COMMANDS and toks[i - 1][:1] == "\\" and i in closes:
                text_end = closes[i]
        out.append(tok)
    return "".join(out)


def env_token(env: str, env_arg: str | None = None) -> str:
    """The token naming an equation's display environment: `<env:align>`, `<env:alignat=2>`."""
    env = env.rstrip("*")
    return f"<env:{env}={env_arg}>" if env_arg else f"<env:{env}>"


def parse_env_token(token: str) -> tuple[str, str | None] | None:
    """(env, env_arg) of an environment token, None for any other token."""
    if not (token.startswith("<env:") and token.endswith(">")):
        return None
    env, _, arg = token[5:-1].partition("=")
    return env, arg or None


class Vocabulary:
    """Token <-> id, with special tokens first, then the environment tokens (`<env:...>`)."""

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS = (PAD, UNK, BOS, EOS)

    @property
    def env_ids(self) -> list[int]:
        """Ids of the environment tokens, in vocabulary order."""
        return [i for i, t in enumerate(self.itos) if parse_env_token(t) is not None]

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos: list[str] = list(self.SPECIALS)
        self.itos += [t for t in tokens if t not in self.SPECIALS]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")

    @classmethod
    def build(cls, streams: Iterable[Iterable[str]], min_count: int = 1) -> "Vocabulary":
        """From token streams: tokens seen at least `min_count` times, most frequent first."""
        counts: Counter[str] = Counter()
        for s in streams:
            counts.update(s)
        kept = [t for t, c in counts.items() if c >= min_count]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def bos_id(self) -> int:
        return 2

    @property
    def eos_id(self) -> int:
        return 3

    def encode(self, tokens: Iterable[str], add_bos_eos: bool = False) -> list[int]:
        ids = [self.stoi.get(t, 1) for t in tokens]
        return [2, *ids, 3] if add_bos_eos else ids

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        out: list[str] = []
        for i in ids:
            t = self.itos[i] if 0 <= i < len(self.itos) else self.UNK
            if strip_specials and t in (self.PAD, self.BOS, self.EOS):
                continue
            out.append(t)
        return out

    def save(self, path: str | Path) -> None:
        write_text(path, json.dumps({"tokens": self.itos}, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        tokens = data["tokens"]
        if tuple(tokens[:4]) != cls.SPECIALS:
            raise ValueError("not a vocabulary file: special tokens missing")
        return cls(tokens[4:])
