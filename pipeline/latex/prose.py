"""A paper's prose as topic-model tokens: title, abstract and body text outside math.

Order matters for speed and robustness: comments go first, then math, floats, pictures, tables,
bibliography and reference-like commands are cut out with regexes, and only what is left goes
through pylatexenc's LaTeX-to-text (about 0.3 MB/s), one section at a time; a section pylatexenc
fails on falls back to a regex strip. Tokens are lower-cased letter runs, without gensim's stop
words, LaTeX leftovers (LEFTOVERS), numbers and one-letter tokens.
"""
from __future__ import annotations

import logging
import re

from gensim.parsing.preprocessing import STOPWORDS
from pylatexenc.latex2text import LatexNodes2Text

from pipeline.latex.comments import strip_comments
from pipeline.latex.conditionals import remove_iffalse
from pipeline.latex.equations import inline_math_spans
from pipeline.latex.flatten import document_body

log = logging.getLogger(__name__)

LEFTOVERS = frozenset(
    "cite citep citet ref eqref eq eqs equation equations fig figs figure figures tab table sec "
    "http https www com org edu html pdf arxiv doi url href et al ie eg cf pp vol textbf textit "
    "emph mathrm mathbf label begin end item itemize enumerate section subsection hline cm mm pt "
    "em ex width height textwidth linewidth documentclass usepackage newcommand def app appendix".split()
)
STOP = STOPWORDS | LEFTOVERS

_JUNK_ENVS = (
    r"figure|table|tikzpicture|tikzcd|pspicture|picture|tabular|tabularx|longtable|thebibliography|"
    r"algorithm|algorithmic|algorithm2e|lstlisting|verbatim|Verbatim|minted|xy|axis|filecontents|"
    r"wrapfigure|sidewaystable|sidewaysfigure|figure\*|table\*|tabular\*|references|"
    r"asy|asydef|pgfpicture|circuitikz|forest|mplibcode|diagram"
)
_JUNK_ENV = re.compile(r"\\begin\s*\{(" + _JUNK_ENVS + r")\}.*?(?:\\end\s*\{\1\}|\Z)", re.S)
# Both start with a `\\\\` alternative (group `br`): TeX's line break is read whole, so the
# letters after it are never taken for a command (`\\\\section` is a break and a word).
_JUNK_CMD = re.compile(
    r"(?P<br>\\\\)|\\(?:cite[a-zA-Z]*|[cC]?ref|eqref|autoref|pageref|label|url|includegraphics|vspace|hspace|"
    r"bibliographystyle|bibliography|bibitem|input|include|usepackage|documentclass|setlength|"
    r"addtolength|setcounter|addcontentsline|pagestyle|thispagestyle|newcommand|renewcommand|"
    r"providecommand|newenvironment|linespread|color|email|affiliation|thanks|keywords|pacs|"
    # \today is the date of the run, not of the paper: prose must not depend on when it was made
    r"today|maketitle)"
    r"\*?\s*(?:\[[^\]]*\]\s*)*(?:\{[^{}]*\}\s*)*"
)
_SECTION = re.compile(r"(?P<br>\\\\)|\\(?:part|chapter|section)\*?\s*(?:\[[^\]]*\])?\s*(?=\{)")
_CS = re.compile(r"\\[A-Za-z@]+\*?|\\.|[{}$&#^_~]")
_WORD = re.compile(r"[^\W\d_]+")
# Title and abstract in the text itself (the metadata's are passed in when known).
_ABSTRACT_ENV = re.compile(r"\\begin\s*\{abstract\}(.*?)\\end\s*\{abstract\}", re.S)

def _to_text(latex: str) -> str:
    # A fresh converter each time: LatexNodes2Text remembers \title/\author/\date and prints them
    # at a later \maketitle, so a shared one leaked one paper's title page into the next paper's
    # prose, differently in each worker process.
    converter = LatexNodes2Text(math_mode="remove", strict_latex_spaces=False)
    try:
        return converter.latex_to_text(latex)
    except Exception as exc:  # pylatexenc raises assorted errors on malformed input
        log.debug("pylatexenc failed (%s); regex fallback", exc)
        return _CS.sub(" ", latex)


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    pos = 0
    for a, b in spans:
        out.append(text[pos:a])
        out.append(" ")
        pos = b
    out.append(text[pos:])
    return "".join(out)


def clean_body(body: str) -> str:
    """The body's text with comments, math, floats, tables, pictures and references removed."""
    text = document_body(remove_iffalse(strip_comments(body)))
    text = _JUNK_ENV.sub(" ", text)
    text = _cut(text, inline_math_spans(text))
    return _JUNK_CMD.sub(lambda m: m.group("br") or " ", text)


def tokens_of_text(text: str) -> list[str]:
    """Lower-cased word tokens of plain text, without stop words, leftovers, numbers, 1-letter words."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in STOP]


def _latex_tokens(latex: str) -> list[str]:
    if not latex:
        return []
    return tokens_of_text(_to_text(latex))


def prose_sections(body: str, title: str | None = None, abstract: str | None = None) -> list[list[str]]:
    """Prose tokens per section: the first list holds title, abstract and text before the first
    \\part/\\chapter/\\section; then one list per section (empty ones kept, so counts match)."""
    text = clean_body(body)
    if abstract:  # given by the metadata: the text's own copy would count twice
        text = _ABSTRACT_ENV.sub(" ", text)
    starts = [m.start() for m in _SECTION.finditer(text) if m.group("br") is None]
    bounds = [0, *starts, len(text)]
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    head = _latex_tokens(title or "") + _latex_tokens(abstract or "")
    sections = [_latex_tokens(c) for c in chunks]
    sections[0] = head + sections[0]
    return sections


def prose_tokens(body: str, title: str | None = None, abstract: str | None = None) -> list[str]:
    """All prose tokens of a paper (title, abstract, body), in order."""
    return [t for sec in prose_sections(body, title, abstract) for t in sec]
