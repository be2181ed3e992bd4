"""95% BCa bootstrap intervals over papers (scipy.stats.bootstrap), shared by the train stage's
evaluation and the judge: a paper's equations are not independent, so papers are resampled whole."""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats


def per_group(groups: np.ndarray, *columns: np.ndarray) -> np.ndarray:
    """[groups, len(columns)] sums of each column per group (paper)."""
    ids, inv = np.unique(groups, return_inverse=True)
    out = np.zeros((len(ids), len(columns)))
    for j, c in enumerate(columns):
        np.add.at(out[:, j], inv, c)
    return out


def bca_interval(per: np.ndarray, statistic: Callable[..., np.ndarray], n: int, seed: int) -> list[float] | None:
    """95% BCa interval of `statistic(*column sums)` over the rows of `per` (resampled whole: a
    paper's columns stay together, paired); None with fewer than two rows or a degenerate resample
    distribution (every resample the same), where there is no spread to measure."""
    if len(per) < 2 or n <= 0:
        return None

    def stat(*columns: np.ndarray, axis: int = -1):
        return statistic(*(c.sum(axis=axis) for c in columns))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate resample distribution gives NaN, handled below
        res = stats.bootstrap(tuple(per.T), stat, n_resamples=n, paired=True, vectorized=True, method="BCa",
                              confidence_level=0.95, rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return None if math.isnan(lo) or math.isnan(hi) else [lo, hi]
