"""A classifier two-sample test: can token n-grams tell generated equations from real ones?

Two sets of equations, each equation with the paper it belongs to (a generated one belongs to the
paper of the real equation whose θ it was conditioned on). A logistic regression on tf-idf of token
1..n-grams (the features are fixed in advance; only the regularisation C is chosen) is scored by
grouped cross-validation: the outer folds hold out whole papers, and C is chosen inside each outer
training fold by an inner grouped cross-validation, so no paper's notation helps predict itself and
no figure is chosen on the equations it is measured on. Every equation is predicted once, by the
model of the fold that held it out; the accuracy is the share predicted right. 50% means the
classifier cannot tell the two sets apart.

The interval is a 95% BCa bootstrap over papers (a paper's equations are resampled together: they
are not independent). The generator's own likelihood is never a feature.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.intervals import bca_interval, per_group


@dataclass(frozen=True)
class ClassifierSettings:
    ngram_max: int = 3          # token 1..ngram_max-grams
    min_df: int = 2
    Cs: tuple[float, ...] = (0.1, 1.0, 10.0)
    outer_folds: int = 5
    inner_folds: int = 3
    bootstrap: int = 1000
    seed: int = 0
    solver: str = "liblinear"   # scikit-learn's solver: liblinear is the quick one for binary sparse problems


@dataclass(frozen=True)
class Item:
    tokens: Sequence[str]   # the equation's tokens (environment token first), normalised
    paper: str              # the group it is held out with
    fake: bool


def classifier_accuracy(items: Sequence[Item], s: ClassifierSettings) -> dict:
    """Out-of-fold accuracy of telling fake from real, with its interval and counts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline

    y = np.array([int(i.fake) for i in items])
    papers = np.array([i.paper for i in items])
    n_groups = len(set(papers.tolist()))
    # every outer training fold must still hold papers enough for the inner folds
    need = next(n for n in range(s.outer_folds, 10 ** 6) if n - math.ceil(n / s.outer_folds) >= s.inner_folds)
    if len(set(y.tolist())) < 2 or n_groups < need:
        return {"error": f"need real and generated equations from at least {need} papers ({s.outer_folds} outer and "
                         f"{s.inner_folds} inner folds grouped by paper); got {int((y == 0).sum())} real, "
                         f"{int(y.sum())} generated, {n_groups} papers"}
    # n-grams made once (the costly part in Python); sklearn's vectoriser counts them and weighs them by
    # the training folds only, inside every fold
    docs = [ngrams(i.tokens, s.ngram_max) for i in items]
    pred = np.zeros(len(items), dtype=int)
    chosen = []
    outer = StratifiedGroupKFold(n_splits=s.outer_folds, shuffle=True, random_state=s.seed)
    for train, test in outer.split(docs, y, papers):
        if len(set(papers[train].tolist())) < s.inner_folds:
            return {"error": f"an outer training fold holds {len(set(papers[train].tolist()))} papers, fewer than the "
                             f"{s.inner_folds} inner folds: use fewer folds or more papers"}
        model = make_pipeline(
            # the equations come as token lists: sklearn's own n-grams of them, nothing re-split
            TfidfVectorizer(analyzer=_given, min_df=s.min_df, sublinear_tf=True),
            LogisticRegression(max_iter=2000, class_weight="balanced", solver=s.solver))
        inner = StratifiedGroupKFold(n_splits=s.inner_folds, shuffle=True, random_state=s.seed)
        search = GridSearchCV(model, {"logisticregression__C": list(s.Cs)}, cv=inner, scoring="accuracy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on small folds; the accuracy says how it did
            search.fit([docs[i] for i in train], y[train], groups=papers[train])
        pred[test] = search.predict([docs[i] for i in test])
        chosen.append(float(search.best_params_["logisticregression__C"]))
    right = (pred == y).astype(float)
    return {"accuracy": float(right.mean()), "ci95": paper_interval(right, papers, s.bootstrap, s.seed),
            "n_real": int((y == 0).sum()), "n_generated": int(y.sum()), "papers": n_groups,
            "fake_caught": float(right[y == 1].mean()), "real_passed": float(right[y == 0].mean()),
            "C_chosen": chosen, "right": right}


def ngrams(tokens: Sequence[str], n: int) -> list[str]:
    """Every token 1..n-gram of a sequence, as sklearn's word n-grams spell them (joined by a space)."""
    toks = list(tokens)
    out = list(toks)
    for k in range(2, n + 1):
        out += [" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1)]
    return out


def _given(doc: list[str]) -> list[str]:
    return doc


def paper_interval(values: np.ndarray, papers: np.ndarray, n: int, seed: int) -> list[float] | None:
    """95% BCa interval of the mean of `values`, papers resampled whole; None with fewer than two papers."""
    per = per_group(papers, values, np.ones(len(values)))
    if len(per) < 2 or n <= 0:
        return None
    ci = bca_interval(per, lambda s, c: s / c, n, seed)
    if ci is None:  # every resample gives the same share (all right or all wrong)
        m = float(per[:, 0].sum() / per[:, 1].sum())
        return [m, m]
    return ci


def breakdown(right: np.ndarray, items: Sequence[Item], keys: Sequence[object], s: ClassifierSettings,
              min_items: int = 20) -> dict:
    """Accuracy of the same out-of-fold predictions within each key (a topic, say): pairs stay
    together, as both the real equation and its generated counterpart carry the key."""
    out = {}
    papers = np.array([i.paper for i in items])
    keys_arr = np.array([str(k) for k in keys])
    for k in sorted(set(keys_arr.tolist())):
        sel = keys_arr == k
        if sel.sum() < min_items:
            continue
        out[k] = {"accuracy": float(right[sel].mean()), "ci95": paper_interval(right[sel], papers[sel], s.bootstrap,
                                                                              s.seed),
                  "n": int(sel.sum()), "n_real": int(sum(1 for i, m in zip(items, sel) if m and not i.fake)),
                  "papers": int(len(set(papers[sel].tolist())))}
    return out
