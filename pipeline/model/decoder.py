"""Batched sampling from a TopicLSTM: temperature, top-k, top-p, greedy, optional syntax rules.

Reproducible whatever the batch size: sequence i's random draw at step t is a hash of (seed, i, t)
(splitmix64), turned into a token by inverse-CDF sampling of its own distribution, so no sequence's
draws depend on which others share its batch. Up to floating point: the network's matrix products
for a row can differ in the last bits with the batch's size, and now and then (1 sequence in 800,
measured on the default model between batches of 8 and of 160) a draw that falls that close to a
boundary of the cumulative distribution takes the neighbouring token. Sequences that finish leave the batch (their rows
stop costing work) and new ones take their place. Each finished sequence is handed to `on_done` at
once, so a caller can write it out as it is produced.

Per sequence: the token ids (environment token first), the log-probability of those tokens under
the raw model (temperature 1, no mask, no truncation), and whether the length limit ended it (it
reached `max_len`, or the syntax rules had to close what was open because the limit was near).

Why our own loop and not a library's `generate` (Hugging Face's, say): this model is an LSTM fed θ at
every step, the syntax rules mask each step by a state machine run beside the batch, finished rows are
refilled, and draws must not depend on the batch; no generation library offers those together.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from pipeline.errors import StageError
from pipeline.model.network import TopicLSTM
from pipeline.model.syntax import Grammar


@dataclass(frozen=True)
class DecodeSettings:
    temperature: float   # 0 = greedy
    top_k: int           # 0 = off
    top_p: float         # 1.0 = off
    max_len: int         # tokens after <bos>, <eos> included
    syntax: bool         # syntax-aware (Grammar) or plain sampling
    seed: int
    end_wish_logprob: float  # where <eos> is not allowed yet, a raw log p(<eos>) above this goes to closing tokens
    eos_bias: float = 0.0  # added to <eos>'s logit before anything else (negative: longer equations)


@dataclass
class Sampled:
    index: int                  # position in the request (its RNG stream)
    ids: list[int]              # environment token, body tokens (no <eos>)
    logprob: float              # under the raw model: T=1, no mask
    length_limited: bool


# splitmix64's constants as signed 64-bit integers (torch's int64 arithmetic wraps around)
_GAMMA = 0x9E3779B97F4A7C15 - (1 << 64)
_MUL1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MUL2 = 0x94D049BB133111EB - (1 << 64)


def _splitmix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64 on int64 tensors: a well-mixed hash of each element (logical shifts emulated)."""
    x = x + _GAMMA
    x = (x ^ ((x >> 30) & ((1 << 34) - 1))) * _MUL1
    x = (x ^ ((x >> 27) & ((1 << 37) - 1))) * _MUL2
    return x ^ ((x >> 31) & ((1 << 33) - 1))


def uniform(seed: int | torch.Tensor, index: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """A float64 in [0, 1) per (seed, index, step): the same whatever else is computed alongside.
    `seed`: one for all rows, or one per row (requests of several users decoded in one batch)."""
    seeds = seed if isinstance(seed, torch.Tensor) else torch.full_like(index, seed)
    h = _splitmix(_splitmix(seeds * 1_000_003 + index) + step)
    return ((h >> 11) & ((1 << 53) - 1)).double() / float(1 << 53)


def _filter(logits: torch.Tensor, s: DecodeSettings) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus), on already masked logits: probabilities."""
    logits = logits.float() / s.temperature
    if s.top_k and s.top_k < logits.shape[-1]:
        kth = torch.topk(logits, s.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < s.top_p  # the first token always stays
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def _end_means_close(logits: torch.Tensor, raw: torch.Tensor, allow: torch.Tensor, gst: dict, grammar: Grammar,
                     eos_id: int, closing: torch.Tensor | None, floor: float, look: bool = True) -> torch.Tensor:
    """Where the rules forbid <eos> (something is still open), the model's wish to end goes to the
    tokens that close what is open: <eos>'s probability is added to theirs, in proportion to their
    own. Masking alone would spread it over every legal token, and a model that wanted to stop
    would write on until the length limit closes for it. Below `floor` (a log-probability) the wish
    is too faint to be worth the closing tokens' computation. `look`: the rows that wish are found
    on the host and only they computed (the CPU's way); else every row is computed and `where` keeps
    the wishing ones, with no read of the device (the same figures for those rows)."""
    want = ~allow[:, eos_id] & (raw[:, eos_id] > floor)
    if look:
        if not want.any():
            return logits
        rows = torch.nonzero(want).flatten()
        sub = {k: v[rows] for k, v in gst.items()}
        close = closing[rows] if closing is not None else grammar.closing(sub, allow[rows])
        p = raw[rows].exp()
    else:
        close = closing if closing is not None else grammar.closing(gst, allow)
        p = raw.exp()
    close = close & ~close[:, eos_id : eos_id + 1]
    q = p * close
    total = q.sum(1, keepdim=True)
    ok = total.squeeze(1) > 0
    add = torch.where(ok.unsqueeze(1), p[:, eos_id : eos_id + 1] * q / total.clamp_min(1e-30), torch.zeros_like(q))
    moved = torch.log(p + add).clamp_min(-1e4)
    if not look:
        return torch.where(want.unsqueeze(1), moved, logits.float())
    out = logits.float().clone()
    out[rows] = moved
    return out


def _draw(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    cdf = torch.cumsum(probs.double(), dim=-1)
    cdf = cdf / cdf[:, -1:]
    idx = torch.searchsorted(cdf, u.unsqueeze(1)).squeeze(1)
    return idx.clamp(max=probs.shape[-1] - 1)


class PrefixError(StageError, ValueError):
    """A prefix that breaks the syntax rules (or holds tokens the vocabulary lacks)."""


@torch.no_grad()
def sample(net: TopicLSTM, thetas: torch.Tensor, s: DecodeSettings, grammar: Grammar | None, batch_size: int,
           bos_id: int, eos_id: int, prefix: Sequence[int] = (), on_done: Callable[[Sampled], None] | None = None,
           device: str | torch.device = "cpu", start_index: int = 0,
           streams: tuple[Sequence[int], Sequence[int]] | None = None, check_every: int = 1) -> list[Sampled]:
    """One sequence per θ row (`thetas` [N, K]); `prefix`: token ids every sequence starts with
    (an environment token first when it forces one). Sequence i uses RNG stream (s.seed,
    start_index + i), or (seeds[i], indices[i]) when `streams` = (seeds, indices) is given: a
    request decoded in one batch with others then gets the equations it gets alone.

    `check_every`: steps between the host's looks at the batch (which rows finished: hand them out,
    refill their places). 1 is right on the CPU, where a look costs nothing. On a GPU each look
    waits for the device to catch up, so with k > 1 the steps in between only queue work: nothing in
    them reads the device (tests/test_decoder_device.py counts such reads). A row that finishes
    between looks is frozen (its tokens, log-probability and rule state stop changing) and costs
    its place until the look; the sequences drawn are the same."""
    net.eval()
    device = torch.device(device)
    n = thetas.shape[0]
    if streams is None:
        row_seed = torch.full((n,), int(s.seed), dtype=torch.long)
        row_stream = torch.arange(n, dtype=torch.long) + start_index
    else:
        row_seed = torch.as_tensor(list(streams[0]), dtype=torch.long)
        row_stream = torch.as_tensor(list(streams[1]), dtype=torch.long)
        if row_seed.shape != (n,) or row_stream.shape != (n,):
            raise ValueError(f"streams: one seed and one index per θ row ({n}), got {tuple(row_seed.shape)} and "
                             f"{tuple(row_stream.shape)}")
    row_seed, row_stream = row_seed.to(device), row_stream.to(device)
    look_each_step = check_every <= 1
    out: list[Sampled | None] = [None] * n
    queue = list(range(n))
    if grammar is not None:
        _check_prefix(grammar, prefix)
    # the active rows, all on `device`; `ends` (host): the loop step by which each row is surely done
    idx = torch.zeros(0, dtype=torch.long, device=device)
    step = torch.zeros(0, dtype=torch.long, device=device)
    lp = torch.zeros(0, dtype=torch.float64, device=device)
    limited = torch.zeros(0, dtype=torch.bool, device=device)
    live = torch.zeros(0, dtype=torch.bool, device=device)
    by_eos = torch.zeros(0, dtype=torch.bool, device=device)
    buf = torch.zeros(0, s.max_len + len(prefix), dtype=torch.long, device=device)  # the tokens of the active rows
    ends: list[int] = []
    h = c = None
    gst = None
    theta_dev = thetas.to(device)
    prefix_dev = torch.tensor(list(prefix), dtype=torch.long, device=device)
    t_loop = 0

    def admit(k: int):
        """Start k new sequences: run <bos> and the prefix through the network and the rules."""
        nonlocal idx, step, lp, limited, live, by_eos, buf, h, c, gst
        new = torch.tensor(queue[:k], dtype=torch.long, device=device)
        del queue[:k]
        th = theta_dev[new]
        state = None
        inp = torch.full((k,), bos_id, dtype=torch.long, device=device)
        logits, state = net.step(inp, th, state)
        g = grammar.start(k) if grammar is not None else None
        lp_new = torch.zeros(k, dtype=torch.float64, device=device)
        for t in prefix:
            tok = torch.full((k,), t, dtype=torch.long, device=device)
            lp_new += torch.log_softmax(logits.float(), -1)[:, t].double()
            if g is not None:
                g = grammar.advance(g, tok)
            logits, state = net.step(tok, th, state)
        nh, nc = state
        idx = torch.cat([idx, new])
        step = torch.cat([step, torch.full((k,), len(prefix), dtype=torch.long, device=device)])
        lp = torch.cat([lp, lp_new])
        limited = torch.cat([limited, torch.zeros(k, dtype=torch.bool, device=device)])
        live = torch.cat([live, torch.ones(k, dtype=torch.bool, device=device)])
        by_eos = torch.cat([by_eos, torch.zeros(k, dtype=torch.bool, device=device)])
        rows = torch.zeros(k, buf.shape[1], dtype=torch.long, device=device)
        rows[:, : len(prefix)] = prefix_dev
        buf = torch.cat([buf, rows])
        ends.extend([t_loop + s.max_len - len(prefix)] * k)
        h = nh if h is None else torch.cat([h, nh], dim=1)
        c = nc if c is None else torch.cat([c, nc], dim=1)
        if grammar is not None:
            gst = g if gst is None else {key: torch.cat([gst[key], g[key]]) for key in gst}
        return logits

    logits = admit(min(batch_size, len(queue))) if queue else None
    while len(idx):
        raw = torch.log_softmax(logits.float(), -1)  # the log-probability recorded is the raw model's
        masked = logits.float()
        if s.eos_bias:
            masked = masked.clone()
            masked[:, eos_id] += s.eos_bias
        wish = torch.log_softmax(masked, -1) if s.eos_bias else raw
        if grammar is not None:
            allow = grammar.allowed(gst)
            room = s.max_len - step
            near = room <= grammar.needed_to_close(gst) + 1 + grammar.open_margin
            closing = None
            if not look_each_step or near.any():
                closing = grammar.closing(gst, allow)
                allow = torch.where(near.unsqueeze(1), closing, allow)
                limited |= near & live
            masked = _end_means_close(masked, wish, allow, gst, grammar, eos_id, closing, s.end_wish_logprob,
                                      look=look_each_step)
            masked = masked.masked_fill(~allow, float("-inf"))
        if s.temperature <= 0:
            tok = masked.argmax(-1)
        else:
            tok = _draw(_filter(masked, s), uniform(row_seed[idx], row_stream[idx], step))
        rows = torch.arange(len(idx), device=device)
        # a finished row (between looks) keeps what it has: its tokens, log-probability, steps, rule state
        lp += torch.where(live, raw.gather(1, tok.unsqueeze(1)).squeeze(1).double(), 0.0)
        at = step.clamp(max=buf.shape[1] - 1)
        buf[rows, at] = torch.where(live, tok, buf[rows, at])
        step += live.long()
        ended = live & ((tok == eos_id) | (step >= s.max_len))
        limited |= ended & (tok != eos_id)
        by_eos |= ended & (tok == eos_id)
        if grammar is not None:
            moved = grammar.advance(gst, tok)
            gst = moved if look_each_step else {key: torch.where(live.view(-1, *[1] * (v.dim() - 1)), v, gst[key])
                                                for key, v in moved.items()}
        live = live & ~ended
        logits, (h, c) = net.step(tok, theta_dev[idx], (h, c))
        t_loop += 1
        if not look_each_step and t_loop % check_every and t_loop < min(ends):
            continue
        finished = ~live.cpu()
        if finished.any():
            fin = torch.nonzero(finished).flatten().to(device)
            got = zip(idx[fin].tolist(), step[fin].tolist(), by_eos[fin].tolist(), lp[fin].tolist(),
                      limited[fin].tolist(), buf[fin].tolist())
            for i, n_step, eos_end, logp, lim, toks in got:
                res = Sampled(i, toks[: n_step - (1 if eos_end else 0)], logp, lim)
                out[res.index] = res
                if on_done is not None:
                    on_done(res)
            keep = ~finished
            ends = [e for e, k in zip(ends, keep.tolist()) if k]
            kd = keep.to(device)
            idx, step, lp, limited, live, by_eos, buf = (idx[kd], step[kd], lp[kd], limited[kd], live[kd], by_eos[kd],
                                                         buf[kd])
            h, c, logits = h[:, kd], c[:, kd], logits[kd]
            if grammar is not None:
                gst = {key: v[kd] for key, v in gst.items()}
            room = batch_size - len(idx)
            if queue and room > 0:
                more = admit(min(room, len(queue)))
                logits = torch.cat([logits, more]) if len(logits) else more
    return [r for r in out if r is not None]


def _check_prefix(grammar: Grammar, prefix: Sequence[int]) -> None:
    st = grammar.start(1)
    for i, t in enumerate(prefix):
        if not bool(grammar.allowed(st)[0, t]):
            tok = grammar.vocab.itos[t]
            raise PrefixError(f"prefix token {i + 1} ({tok!r}) breaks the syntax rules here "
                              f"(docs/sample.md, Syntax rules); write LaTeX the rules accept, or sample.syntax=false")
        st = grammar.advance(st, torch.tensor([t], device=grammar.cls.device))
