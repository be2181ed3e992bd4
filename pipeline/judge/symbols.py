"""Which symbols mark a topic? The LaTeX tokens that most distinguish its training papers' equations.

Each training paper's token counts are shared among the topics by the paper's θ: topic k's counts
are Σ θ_pk · count_p(w), the rest's Σ (1 − θ_pk) · count_p(w). Tokens are ranked by the z-score of
the log-odds ratio between the two with an informative Dirichlet prior (Monroe, Colaresi and
Quinn 2008, "Fightin' words"): the prior for a token is its share of all training tokens times
`prior_strength`, which keeps rare tokens from topping the list on a handful of uses.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

# Grouping and layout: present in every field's mathematics, and never what marks one
STRUCTURE = frozenset({"{", "}", "[", "]", "(", ")", "&", "\\\\", "^", "_", ",", ".", "=", "+", "-", "<eos>"})
# Spacing: a matter of each author's typing habits more than of the field
SPACING = frozenset({"\\,", "\\;", "\\:", "\\!", "\\ ", "~", "\\quad", "\\qquad", "\\hspace", "\\phantom"})


def distinguishing_tokens(equations: Iterable[tuple[str, Sequence[str]]], theta_of: dict[str, np.ndarray],
                          top: int = 8, prior_strength: float = 500.0, min_count: int = 5) -> list[list[dict]]:
    """For every topic, its `top` tokens: [{"token", "z", "count"}] (count: the topic's weighted uses).
    `equations`: (paper id, tokens) of training equations; `theta_of`: θ of each paper."""
    index: dict[str, int] = {}
    rows: list[tuple[str, list[int]]] = []
    for paper, toks in equations:
        if paper not in theta_of:
            continue
        rows.append((paper, [index.setdefault(t, len(index)) for t in toks
                                                      if t not in STRUCTURE and t not in SPACING and t.strip()]))
    if not rows:
        return []
    k = len(next(iter(theta_of.values())))
    vocab = len(index)
    by_paper: dict[str, np.ndarray] = {}
    for paper, ids in rows:
        c = by_paper.setdefault(paper, np.zeros(vocab))
        np.add.at(c, ids, 1.0)
    papers = sorted(by_paper)
    counts = np.stack([by_paper[p] for p in papers])            # [papers, vocab]
    theta = np.stack([theta_of[p] for p in papers])             # [papers, K]
    total = counts.sum(0)
    alpha = prior_strength * total / total.sum()
    a0 = alpha.sum()
    tokens = sorted(index, key=index.get)
    out = []
    for j in range(k):
        yk = theta[:, j] @ counts
        yr = total - yk
        nk, nr = yk.sum(), yr.sum()
        delta = (np.log((yk + alpha) / (nk + a0 - yk - alpha)) - np.log((yr + alpha) / (nr + a0 - yr - alpha)))
        z = delta / np.sqrt(1.0 / (yk + alpha) + 1.0 / (yr + alpha))
        z[total < min_count] = -np.inf
        order = np.argsort(-z, kind="stable")[:top]
        out.append([{"token": tokens[i], "z": round(float(z[i]), 2), "count": round(float(yk[i]), 1)}
                    for i in order if np.isfinite(z[i])])
    return out
