"""Held-out scores of a trained network: cross-entropy, perplexity, bits per character, with θ
true, shuffled or uniform, and confidence intervals by bootstrapping over papers.

Definitions (docs/train.md):
- every predicted token is scored: the environment token, the body's tokens and `<eos>`
  (not `<bos>`, which is given);
- cross-entropy = total natural-log loss / tokens scored; perplexity = exp(cross-entropy);
- bits per character = total loss / ln 2 / (characters of the bodies + one per equation, for its end);
- θ variants on the same network: `true` (the paper's θ), `shuffled` (the θ of another paper of the
  same split: a fixed derangement of the split's papers), `uniform` (1/K each);
- intervals: 95%, BCa (bias-corrected and accelerated) bootstrap over papers by
  `scipy.stats.bootstrap`: the papers of the split are resampled with replacement (`bootstrap`
  times, seeded) and each figure recomputed as a ratio of sums. Gains of true over
  shuffled/uniform θ (or over another network) resample the two losses of a paper together (paired).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.dataset.equations import read_equations
from pipeline.intervals import bca_interval, per_group
from pipeline.model.network import TopicLSTM
from pipeline.train.datamodule import EquationSplit, LengthBucketBatchSampler, collate

THETA_VARIANTS = ("true", "shuffled", "uniform")
# How the intervals are made: part of the evaluation's record, so metrics made another way are redone.
INTERVALS = "95% BCa bootstrap over papers (scipy.stats.bootstrap, paired)"


def body_characters(equations_file: Path, split: str, rows: int) -> np.ndarray:
    """len(latex) of each row of the split, from prepare's equations.jsonl (streamed)."""
    out = np.zeros(rows, dtype=np.int64)
    for e in read_equations(Path(equations_file), split=split):
        out[e["row"]] = len(e["latex"])
    return out


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation with no fixed point (n >= 2): paper i takes the θ of paper perm[i]."""
    if n < 2:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    while True:
        p = rng.permutation(n)
        if not np.any(p == np.arange(n)):
            return p


@torch.no_grad()
def equation_nll(net: TopicLSTM, ds: EquationSplit, theta_of_row: np.ndarray, batch_size: int,
                 bos_id: int, pad_id: int, device: torch.device | str = "cpu",
                 autocast_dtype: torch.dtype | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(loss in nats, tokens scored) of every row of `ds`, with θ rows `theta_of_row` [rows, K]."""
    net.to(device).eval()
    loss = np.zeros(len(ds), dtype=np.float64)
    ntok = np.zeros(len(ds), dtype=np.int64)
    sampler = LengthBucketBatchSampler(ds.lengths, batch_size, 1, 0, shuffle=False)
    for rows in sampler:
        batch = collate([(ds[r][0], theta_of_row[r]) for r in rows], bos_id, pad_id)
        inputs, targets = batch["inputs"].to(device), batch["targets"].to(device)
        theta = batch["theta"].to(device)
        with torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype,
                            enabled=autocast_dtype is not None):
            nll = net.token_nll(inputs, theta, targets)
        loss[rows] = nll.double().sum(1).cpu().numpy()
        ntok[rows] = (targets != pad_id).sum(1).cpu().numpy()
    return loss, ntok


def _figures(loss, tokens, chars) -> dict:
    """The figures of summed loss, tokens and characters (floats, or arrays of bootstrap draws)."""
    ce = np.asarray(loss) / tokens
    return {"cross_entropy": ce, "perplexity": np.exp(ce), "bits_per_character": np.asarray(loss) / math.log(2) / chars}


def score(loss: np.ndarray, ntok: np.ndarray, chars: np.ndarray, paper: np.ndarray, bootstrap: int,
          seed: int) -> dict:
    """Figures of a split and their bootstrap intervals over papers."""
    out = {k: float(v) for k, v in _figures(loss.sum(), ntok.sum(), (chars + 1).sum()).items()}
    out |= {"tokens": int(ntok.sum()), "equations": int(len(loss)), "papers": int(len(np.unique(paper)))}
    if bootstrap > 0 and len(loss):
        per = per_group(paper, loss, ntok, chars + 1)
        for key in ("cross_entropy", "perplexity", "bits_per_character"):
            ci = bca_interval(per, lambda lo, t, c, key=key: _figures(lo, t, c)[key], bootstrap, seed)
            if ci is not None:
                out[key + "_ci95"] = ci
    return out


def paired_gain(loss_true: np.ndarray, loss_other: np.ndarray, ntok: np.ndarray, paper: np.ndarray,
                bootstrap: int, seed: int) -> dict:
    """How much lower perplexity is with true θ than with another θ: 1 - ppl_true / ppl_other, with
    a paired bootstrap interval over papers."""
    def gain(lt, lo, t):
        return 1.0 - np.exp((np.asarray(lt) - lo) / t)

    out = {"perplexity_reduction": float(gain(loss_true.sum(), loss_other.sum(), ntok.sum()))}
    if bootstrap > 0 and len(ntok):
        ci = bca_interval(per_group(paper, loss_true, loss_other, ntok), gain, bootstrap, seed)
        if ci is not None:
            out["perplexity_reduction_ci95"] = ci
    return out


def network_gain(net_true: TopicLSTM, net_other: TopicLSTM, dm: Any, split: str, bootstrap: int, seed: int,
                 batch_size: int, device: str = "cpu", autocast_dtype: torch.dtype | None = None) -> dict:
    """`paired_gain` of one network over another on the same equations, both with the papers' true θ
    (the no-topic network ignores it)."""
    ds = dm.split(split)
    theta = theta_variant(ds, "true", seed)
    lt, ntok = equation_nll(net_true, ds, theta, batch_size, dm.vocab.bos_id, dm.vocab.pad_id, device, autocast_dtype)
    lo, _ = equation_nll(net_other, ds, theta, batch_size, dm.vocab.bos_id, dm.vocab.pad_id, device, autocast_dtype)
    return paired_gain(lt, lo, ntok, ds.paper, bootstrap, seed)


def theta_variant(ds: EquationSplit, variant: str, seed: int) -> np.ndarray:
    """θ row of every equation of `ds` under a variant (see the module docstring)."""
    base = ds.theta[ds.theta_rows]
    if variant == "true":
        return base
    if variant == "uniform":
        k = ds.theta.shape[1]
        return np.full_like(base, 1.0 / k)
    if variant == "shuffled":
        papers = np.unique(ds.theta_rows)
        perm = derangement(len(papers), seed)
        to_other = dict(zip(papers.tolist(), papers[perm].tolist()))
        return ds.theta[[to_other[r] for r in ds.theta_rows.tolist()]]
    raise ValueError(f"unknown θ variant {variant!r}; use one of {THETA_VARIANTS}")


def evaluate_splits(net: TopicLSTM, dm: Any, splits: tuple[str, ...], bootstrap: int, seed: int, batch_size: int,
                    variants: tuple[str, ...] | None = None, device: str = "cpu",
                    autocast_dtype: torch.dtype | None = None) -> dict:
    """{split: {variant: figures, "true_vs_<variant>": gain}}: true θ on every split; on test also
    shuffled and uniform θ (or `variants` everywhere when given)."""
    out: dict[str, Any] = {}
    eq_file = dm.run.path("equations")
    for split in splits:
        ds = dm.split(split)
        if len(ds) == 0:
            out[split] = {"note": "no equations in this split"}
            continue
        chars = body_characters(eq_file, split, len(ds))
        todo = variants or (THETA_VARIANTS if split == "test" else ("true",))
        res: dict[str, Any] = {}
        losses: dict[str, np.ndarray] = {}
        for v in todo:
            loss, ntok = equation_nll(net, ds, theta_variant(ds, v, seed), batch_size, dm.vocab.bos_id,
                                      dm.vocab.pad_id, device, autocast_dtype)
            losses[v] = loss
            res[v] = score(loss, ntok, chars, ds.paper, bootstrap, seed)
        for v in todo:
            if v != "true" and "true" in losses:
                res[f"true_vs_{v}"] = paired_gain(losses["true"], losses[v], ntok, ds.paper, bootstrap, seed)
        out[split] = res
    return out
