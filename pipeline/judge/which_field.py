"""Which field? p(k | equation) ∝ p(equation | θ_k) · p(k) with the trained conditional model.

θ_k is a topic's θ as the sample stage defines it (the mean θ of the training papers whose top topic
is k), p(k) the topics' shares among training papers (how many have k as their top topic, smoothed by
one). Every topic is scored in one batched forward pass: the equation's tokens repeated once per
topic, each row with its θ_k. An equation is refused, with what is wrong, when it is empty, when it
breaks the sample stage's syntax rules, or when most of its tokens are not in the vocabulary.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pipeline.errors import StageError
from pipeline.latex.tokenizer import Vocabulary, env_token, tokenize
from pipeline.model.network import TopicLSTM
from pipeline.model.syntax import Grammar


class EquationError(StageError):
    """An equation the classifier cannot judge; the message says what is wrong."""


def topic_prior(theta: np.ndarray, splits: Sequence[str]) -> np.ndarray:
    """p(k): the share of training papers whose top topic is k (add-one smoothed)."""
    train = np.array([s == "train" for s in splits])
    counts = np.bincount(theta[train].argmax(1), minlength=theta.shape[1]).astype(float) + 1.0
    return counts / counts.sum()


def encode(latex: str, env: str, vocab: Vocabulary, grammar: Grammar | None, max_unknown: float) -> tuple[list[int], list[str]]:
    """Token ids of `<env> body <eos>`; refuses what cannot be judged."""
    if not latex or not latex.strip():
        raise EquationError("the equation is empty: give its LaTeX, e.g. classify.latex=\"E = mc^2\"")
    name, _, arg = env.partition("=")
    etok = env_token(name, arg or None)
    if etok not in vocab.stoi:
        envs = [t[5:-1] for t in vocab.itos if t.startswith("<env:")]
        raise EquationError(f"classify.env={env!r} is not a display environment the model knows; one of {', '.join(envs)}")
    toks = tokenize(latex.strip())
    if not toks:
        raise EquationError("the equation has no tokens (only spaces or a comment?): give its LaTeX")
    unknown = [t for t in toks if t not in vocab.stoi]
    if toks and len(unknown) > max_unknown * len(toks):
        raise EquationError(f"{len(unknown)} of the equation's {len(toks)} tokens are not in the model's vocabulary "
                            f"({', '.join(sorted(set(unknown))[:10])}): the model cannot say which field it is from")
    ids = [vocab.stoi[etok]] + [vocab.stoi.get(t, vocab.unk_id) for t in toks]
    if grammar is not None:
        broken = grammar.first_violation(ids)
        if broken is not None:
            pos, why = broken
            where = "the end" if pos >= len(ids) else f"token {pos} ({vocab.itos[ids[pos]]!r})"
            raise EquationError(f"the equation breaks the sample stage's syntax rules at {where}: {why}")
    return ids + [vocab.eos_id], unknown


@torch.no_grad()
def classify(net: TopicLSTM, vocab: Vocabulary, thetas: np.ndarray, prior: np.ndarray, sequences: Sequence[list[int]],
             device: str | None = None, rows_per_batch: int = 512,
             autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """p(k | equation) [equations, topics]: every equation (ids ending in <eos>) under every θ_k, batched:
    each equation's tokens repeated once per topic, several equations a forward pass; in the precision
    the model was trained in (`autocast_dtype`, as the train stage evaluates it); on `device`, by
    default the network's own (the sampler's: `sample.device`)."""
    k = thetas.shape[0]
    device = device or str(next(net.parameters()).device)
    net.to(device).eval()
    th = torch.as_tensor(thetas, dtype=torch.float32, device=device)
    per = max(1, rows_per_batch // k)
    out = np.zeros((len(sequences), k))
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # similar lengths pad least
    for start in range(0, len(order), per):
        idx = order[start:start + per]
        width = max(len(sequences[i]) for i in idx)
        seq = torch.full((len(idx), width + 1), vocab.pad_id, dtype=torch.long)
        for r, i in enumerate(idx):
            seq[r, : len(sequences[i]) + 1] = torch.tensor([vocab.bos_id, *sequences[i]])
        inputs = seq[:, :-1].repeat_interleave(k, 0).to(device)
        targets = seq[:, 1:].repeat_interleave(k, 0).to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype,
                            enabled=autocast_dtype is not None):
            ll = net.sequence_log_likelihood(inputs, th.repeat(len(idx), 1), targets).double().cpu().numpy()
        out[idx] = ll.reshape(len(idx), k)
    logp = out + np.log(prior)
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(1, keepdims=True)


def field_accuracy(net: TopicLSTM, vocab: Vocabulary, thetas: np.ndarray, prior: np.ndarray,
                   test: Sequence[tuple[Sequence[str], str, int]], train: Sequence[tuple[Sequence[str], int]],
                   names: Sequence[str], bootstrap: int, seed: int, max_train: int = 20000,
                   autocast_dtype: torch.dtype | None = None) -> dict:
    """How often the model's top topic for a test equation is its paper's top topic, beside a token
    n-gram classifier trained on training equations (labelled the same way) and the majority baseline.
    `test`: (tokens with the environment token first, paper, label); `train`: (tokens, label)."""
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from pipeline.judge.two_sample import paper_interval

    labels = np.array([k for _, _, k in test])
    papers = np.array([p for _, p, _ in test])
    seqs = [[vocab.stoi.get(t, vocab.unk_id) for t in toks] + [vocab.eos_id] for toks, _, _ in test]
    p = classify(net, vocab, thetas, prior, seqs, autocast_dtype=autocast_dtype)
    model_right = (p.argmax(1) == labels).astype(float)
    rng = np.random.default_rng(seed)
    train = list(train)
    if len(train) > max_train:
        train = [train[i] for i in sorted(rng.choice(len(train), max_train, replace=False).tolist())]
    y = np.array([k for _, k in train])

    def fig(right: np.ndarray) -> dict:
        return {"accuracy": float(right.mean()), "ci95": paper_interval(right, papers, bootstrap, seed)}

    out = {"n": int(len(test)), "papers": int(len(set(papers.tolist()))), "topics": int(thetas.shape[0]),
           "model": fig(model_right),
           "model_top3": fig((np.argsort(-p, 1)[:, :3] == labels[:, None]).any(1).astype(float)),
           "label": "the top topic of the equation's paper (θ inferred from the paper's prose)"}
    if len(set(y.tolist())) < 2:
        return {**out, "ngram_classifier": {"error": "the training equations' papers share one top topic"},
                "majority": {"error": "one topic only"}}
    vec = TfidfVectorizer(tokenizer=list, token_pattern=None, ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                          lowercase=False)
    clf = LogisticRegression(C=4.0, max_iter=1000, class_weight="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the accuracy says how it did
        clf.fit(vec.fit_transform([list(t) for t, _ in train]), y)
    ngram_right = (clf.predict(vec.transform([list(t) for t, _, _ in test])) == labels).astype(float)
    majority = int(np.bincount(y).argmax())
    major_right = (labels == majority).astype(float)

    return {**out, "ngram_classifier": {**fig(ngram_right), "train_equations": len(train),
                                        "what": "logistic regression (C=4, balanced) on tf-idf of token 1-2-grams"},
            "majority": {**fig(major_right), "topic": names[majority]}}
