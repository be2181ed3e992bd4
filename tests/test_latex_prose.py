from pipeline.latex.prose import prose_sections, prose_tokens


def test_prose_tokens_basic():
    body = r"""\documentclass{article}\begin{document}
    \begin{abstract}Gauge theories on branes.\end{abstract}
    We study the \emph{Yang-Mills} field $F_{\mu\nu}$ in 4 dimensions \cite{ref1}, see Fig.~\ref{f}.
    % commented away quarks
    \begin{equation} E = mc^2 \end{equation}
    \begin{figure}\includegraphics{x.pdf}\caption{junkcaption}\end{figure}
    \section{Holography} Holographic duality http://x.org.
    \begin{thebibliography}{9}\bibitem{a} Bibliographic junkentry.\end{thebibliography}
    \end{document}"""
    toks = prose_tokens(body, title="Branes and Strings", abstract=None)
    assert toks[:2] == ["branes", "strings"]
    for w in ["gauge", "theories", "yang", "mills", "field", "dimensions", "holography", "holographic", "duality"]:
        assert w in toks
    for w in ["quarks", "junkcaption", "junkentry", "mc", "cite", "ref", "fig", "http", "the", "we"]:
        assert w not in toks
    assert not any(len(t) < 2 or t.isdigit() for t in toks)


def test_sections_split_and_abstract_from_metadata_not_doubled():
    body = r"\begin{abstract}alpha words\end{abstract} intro text \section{One} quantum gravity \section{Two} string theory"
    secs = prose_sections(body, title=None, abstract="Alpha words")
    assert len(secs) == 3
    assert secs[0].count("alpha") == 1 and "intro" in secs[0]
    assert secs[1] == ["quantum", "gravity"] and secs[2] == ["string", "theory"]


def test_pathological_inputs_give_no_words_and_do_not_raise():
    for body in ["", "{" * 500, r"\begin{itemize}", r"\section{", "$" * 7, "\\" * 9, r"\verb"]:
        assert prose_tokens(body, None, None) == []
    # an environment left open still gives the words around it
    assert prose_tokens(r"\section{Sec} words \begin{itemize} items", None, None) == ["words", "items"]


def test_picture_code_is_not_prose():
    from pipeline.latex.prose import prose_tokens

    body = ("Homology groups measure holes.\n\\begin{asy}\ndraw(unitcircle); label(\"node\", origin);\n\\end{asy}\n"
            "\\begin{tikzpicture}\\draw (0,0) node {fill};\\end{tikzpicture} Spheres again.")
    tokens = prose_tokens(body)
    assert {"homology", "groups", "holes", "spheres"} <= set(tokens)
    assert not {"draw", "unitcircle", "node", "fill", "origin"} & set(tokens)


def test_prose_does_not_depend_on_other_papers_or_the_date():
    from pipeline.latex.prose import prose_tokens

    first = prose_tokens("\\title{Quasars and pulsars}\\author{Someone}\\maketitle Stars burn.")
    second = prose_tokens("\\maketitle Gauge fields \\today.")  # no title of its own
    assert first == ["stars", "burn"]  # the title comes from the metadata, not from \maketitle
    assert second == prose_tokens("Gauge fields.") == ["gauge", "fields"]
