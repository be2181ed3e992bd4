"""How long samples run, and the bias on <eos> that brings them to the training equations' length.

Scored teacher-forced, the default model is well calibrated about where equations end (summed
over the positions before a real equation's end, its <eos> probabilities come to about one, as
they should), yet running free it writes equations a third shorter than those it learnt from,
and its `align` and `eqnarray` bodies half as long: its own slightly-off continuations make ending
look likelier than real ones do. Adding a constant to <eos>'s logit (a length penalty, as in
machine translation's decoders) corrects that without touching anything else. `calibrate_eos_bias`
finds the constant by a few rounds of sampling, conditioned on the θ of the papers of random
training equations, until the samples' mean length matches the training equations' mean; the
log-probability recorded with each sample stays the raw model's. Figures: docs/measurements.md.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pipeline.dataset.equations import read_equations
from pipeline.model.decoder import DecodeSettings

# d log(mean length) / d bias, measured on the default model (-0.52); only the first step uses it
_SLOPE_GUESS = -0.5


def training_lengths(equations_file: Path) -> tuple[list[str], np.ndarray]:
    """Paper id and token count of every training equation of prepare's `equations.jsonl`."""
    papers, lengths = [], []
    for e in read_equations(Path(equations_file), split="train"):
        papers.append(e["paper_id"])
        lengths.append(int(e["n_tokens"]))
    return papers, np.asarray(lengths, dtype=np.int64)


def calibrate_eos_bias(generate, thetas: torch.Tensor, target: float, base: DecodeSettings, rounds: int = 5,
                       tolerance: float = 0.03, bounds: tuple[float, float] = (-3.0, 1.0)) -> dict:
    """The <eos> bias whose samples (one per θ row, `base`'s settings otherwise) have a mean length
    within `tolerance` of `target` tokens: secant steps on log(mean length), from bias 0, every round
    with the same random streams. `generate(thetas, settings)` returns records with `.tokens`.
    Returns {"bias", "mean_tokens", "target_mean_tokens", "rounds": [[bias, mean], ...]}."""
    tried: list[tuple[float, float]] = []

    def mean_at(bias: float) -> float:
        recs = generate(thetas, replace(base, eos_bias=bias))
        m = float(np.mean([len(r.tokens) for r in recs])) if recs else 0.0
        tried.append((round(bias, 4), round(m, 2)))
        return m

    def miss(m: float) -> float:
        return math.log(max(m, 1e-9)) - math.log(target)

    b0, f0 = 0.0, miss(mean_at(0.0))
    b1 = None
    if abs(f0) > tolerance:
        b1 = min(max(b0 + f0 / -_SLOPE_GUESS, bounds[0]), bounds[1])
        f1 = miss(mean_at(b1))
        for _ in range(rounds - 2):
            if abs(f1) <= tolerance or b1 == b0:
                break
            slope = (f1 - f0) / (b1 - b0)
            slope = slope if slope < -1e-3 else _SLOPE_GUESS  # longer with a lower bias, whatever the noise
            b0, f0, b1 = b1, f1, min(max(b1 - f1 / slope, bounds[0]), bounds[1])
            f1 = miss(mean_at(b1))
    best = min(tried, key=lambda t: abs(miss(t[1])))
    return {"bias": best[0], "mean_tokens": best[1], "target_mean_tokens": round(float(target), 2),
            "rounds": [list(t) for t in tried]}
