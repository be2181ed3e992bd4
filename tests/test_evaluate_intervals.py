"""The train stage's intervals (pipeline/train/evaluate.py): BCa bootstrap over papers, paired for gains."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.train.evaluate import paired_gain, score


def _split(papers: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    paper = np.repeat(np.arange(papers), 20)
    ntok = rng.integers(10, 100, len(paper))
    # papers differ in difficulty: the spread an interval over papers must reflect
    loss = ntok * (2.2 + rng.normal(0, 0.3, papers)[paper] + rng.normal(0, 0.1, len(paper)))
    return loss, ntok, ntok * 3, paper


def test_the_interval_holds_the_figure_and_matches_a_plain_percentile_bootstrap():
    loss, ntok, chars, paper = _split(200)
    s = score(loss, ntok, chars, paper, bootstrap=1000, seed=1)
    for key in ("cross_entropy", "perplexity", "bits_per_character"):
        lo, hi = s[key + "_ci95"]
        assert lo < s[key] < hi
    # a hand-made percentile bootstrap of the ratio of sums agrees to a fraction of the width
    rng = np.random.default_rng(5)
    per = np.array([[loss[paper == p].sum(), ntok[paper == p].sum()] for p in range(200)])
    draws = [per[rng.integers(0, 200, 200)].sum(0) for _ in range(2000)]
    ce = [d[0] / d[1] for d in draws]
    lo, hi = s["cross_entropy_ci95"]
    width = hi - lo
    assert abs(np.percentile(ce, 2.5) - lo) < 0.15 * width and abs(np.percentile(ce, 97.5) - hi) < 0.15 * width
    # perplexity is exp(cross-entropy), and BCa respects monotone maps
    assert np.allclose(s["perplexity_ci95"], np.exp(s["cross_entropy_ci95"]), rtol=1e-3)


def test_fewer_papers_give_a_wider_interval_and_one_paper_none():
    wide = score(*_split(20), bootstrap=500, seed=1)["cross_entropy_ci95"]
    narrow = score(*_split(400), bootstrap=500, seed=1)["cross_entropy_ci95"]
    assert wide[1] - wide[0] > 2 * (narrow[1] - narrow[0])
    loss, ntok, chars, paper = _split(1)
    assert "cross_entropy_ci95" not in score(loss, ntok, chars, paper, bootstrap=500, seed=1)


def test_a_paired_gain_is_tight_when_papers_differ_but_the_gain_does_not():
    loss, ntok, _, paper = _split(100)
    # about 0.1 nats a token worse on every paper
    other = loss + (0.1 + np.random.default_rng(3).normal(0, 0.002, 100)[paper]) * ntok
    g = paired_gain(loss, other, ntok, paper, bootstrap=1000, seed=2)
    assert g["perplexity_reduction"] == pytest.approx(1 - math.exp(-0.1), abs=1e-3)
    lo, hi = g["perplexity_reduction_ci95"]
    assert lo <= g["perplexity_reduction"] <= hi and hi - lo < 1e-3
    # unpaired, the papers' spread would swamp it: the per-split intervals are far wider
    s = score(loss, ntok, ntok, paper, bootstrap=1000, seed=2)["perplexity_ci95"]
    assert (s[1] - s[0]) / s[0] > 20 * (hi - lo)
