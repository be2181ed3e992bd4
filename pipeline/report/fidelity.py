"""Topic fidelity: do equations sampled for a class (an archive group, or a topic) read like real ones of it?

A classifier (logistic regression on tf-idf of token 1- and 2-grams, classes weighted to balance) is
trained on real training equations, each labelled with its paper's class (the report passes the group
its top topic stands for). Its balanced accuracy (the mean of per-class recalls) is measured on real
test equations, labelled the same way (θ inferred for test papers), and on samples, labelled with the
class of what they were conditioned on. Beside each: chance (1 / classes present) and the majority
baseline (always the commonest training class). Samples of a class no training paper has cannot be
recognised by any classifier of this kind and are counted separately, not scored.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FidelitySettings:
    max_train: int       # training equations used (a seeded subsample beyond this)
    ngram_max: int       # token n-grams 1..ngram_max
    min_df: int
    max_features: int
    C: float
    seed: int


def _scores(y_true: Sequence[int], y_pred: Sequence[int], majority: int) -> dict:
    from sklearn.metrics import balanced_accuracy_score, recall_score

    present = sorted(set(y_true))
    counts = Counter(y_true)
    recalls = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0.0) if present else []
    per_class = {int(k): {"n": counts[k], "recall": float(r)} for k, r in zip(present, recalls)}
    return {"n": len(y_true), "classes": len(present),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if y_true else None,
            "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if y_true else None,
            "chance": 1.0 / len(present) if present else None,
            "majority_baseline": (1.0 / len(present) if majority in present else 0.0) if present else None,
            "per_class": per_class}


def topic_fidelity(train: Sequence[tuple[Sequence[str], int]], test: Sequence[tuple[Sequence[str], int]],
                   samples: Sequence[tuple[Sequence[str], int]], s: FidelitySettings) -> dict:
    """(tokens, topic) pairs for real training and test equations and for samples -> figures."""
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = list(train)
    if len(train) > s.max_train:
        pick = np.random.default_rng(s.seed).choice(len(train), s.max_train, replace=False)
        train = [train[i] for i in sorted(pick)]
    labels = [k for _, k in train]
    known = set(labels)
    if len(known) < 2:
        return {"error": "fewer than two topics are the top topic of a training paper: nothing to classify"}
    # the equations come as token lists: sklearn's own n-grams of them, nothing re-split
    vec = TfidfVectorizer(tokenizer=list, token_pattern=None, ngram_range=(1, s.ngram_max), min_df=s.min_df,
                          max_features=s.max_features, sublinear_tf=True, lowercase=False)
    x = vec.fit_transform([t for t, _ in train])
    clf = LogisticRegression(C=s.C, max_iter=1000, class_weight="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny inputs; the scores say how it did
        clf.fit(x, labels)
    majority = Counter(labels).most_common(1)[0][0]

    def score(pairs: Sequence[tuple[Sequence[str], int]]) -> dict:
        pairs = [p for p in pairs if p[1] in known]
        if not pairs:
            return {"n": 0, "balanced_accuracy": None}
        pred = clf.predict(vec.transform([t for t, _ in pairs]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # predicted classes absent from y_true: expected here
            return _scores([k for _, k in pairs], [int(p) for p in pred], majority)

    real = score(test)
    gen = score(samples)
    # Balanced accuracy over 20 classes and over 13 are not comparable (chance differs), so the
    # ratio compares the samples of the topics the real test equations have with those equations.
    in_test = {k for _, k in test}
    same = score([p for p in samples if p[1] in in_test])
    unknown = Counter(k for _, k in samples if k not in known)
    ratio = (same["balanced_accuracy"] / real["balanced_accuracy"]
             if same.get("balanced_accuracy") is not None and real.get("balanced_accuracy") else None)
    return {
        "classifier": f"logistic regression (C={s.C}, balanced class weights) on tf-idf of token 1..{s.ngram_max}-grams",
        "train_equations": len(train), "train_classes": len(known), "features": len(vec.vocabulary_),
        "majority_class": int(majority),
        "real_test": real, "samples": gen, "samples_same_classes": same,
        "samples_of_unrecognisable_topics": {int(k): v for k, v in sorted(unknown.items())},
        "samples_over_real": ratio,
        "ratio_definition": "balanced accuracy on the samples of the topics present among the real test equations, "
                            "over the balanced accuracy on the real test equations",
    }
