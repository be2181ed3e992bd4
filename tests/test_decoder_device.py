"""The decoder's GPU path, checked on the CPU: between its looks at the batch it reads nothing back
from the device (each such read would make the host wait for a GPU every step), and looking every
k steps draws the same equations as looking every step."""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from pipeline.model.decoder import DecodeSettings, sample
from pipeline.model.network import NetworkConfig, TopicLSTM
from tests.test_syntax_rules import _grammar

# what hands a tensor's values to Python: on a GPU each waits for the device to finish its queue
_READS = {"__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy", "nonzero", "cpu"}


def _bool_index(args) -> bool:
    """Indexing by a boolean mask: the result's size depends on the values, so the host must read them."""
    idx = args[1] if len(args) > 1 else None
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)


class DeviceReads(TorchFunctionMode):
    """Counts the operations that read a tensor's values back to the host."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _READS or (name in ("__getitem__", "__setitem__") and _bool_index(args)) or (
                name == "to" and any(str(a) == "cpu" for a in (*args[1:], *(kwargs or {}).values()))):
            self.count += 1
        return func(*args, **(kwargs or {}))


def _net(vocab_size: int) -> TopicLSTM:
    torch.manual_seed(0)
    return TopicLSTM(NetworkConfig(vocab_size, 2, 16, 16, 1, 0.0, "concat", "none", 1.0, 0.0, True, 0, 1.0))


def _settings(max_len: int, syntax: bool = True, **kw) -> DecodeSettings:
    return DecodeSettings(**{"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_len": max_len, "syntax": syntax,
                             "seed": 7, "end_wish_logprob": -9.0, **kw})


def _reads(net, g, n: int, max_len: int, check_every: int) -> int:
    with DeviceReads() as reads:
        sample(net, torch.full((n, 2), 0.5), _settings(max_len), g, n, g.vocab.bos_id, g.vocab.eos_id,
               check_every=check_every)
    return reads.count


def test_between_looks_the_decoder_reads_nothing_from_the_device():
    g = _grammar()
    net = _net(len(g.vocab))
    # one look (when every row must be done): the same reads however many steps came before it
    short, long = _reads(net, g, 8, 30, 10**6), _reads(net, g, 8, 120, 10**6)
    assert short == long
    # the count does see reads: looking every step reads at every step
    assert _reads(net, g, 8, 120, 1) > long + 100
    # looking every 10 steps: reads grow with the looks, not the steps
    assert _reads(net, g, 8, 120, 10) <= 12 * long


def test_looking_every_k_steps_draws_what_looking_every_step_draws():
    g = _grammar()
    net = _net(len(g.vocab))
    thetas = torch.rand(50, 2, generator=torch.Generator().manual_seed(1))
    for s in (_settings(40), _settings(40, eos_bias=-0.5, top_k=20, top_p=0.9),
              _settings(25, syntax=False), _settings(40, temperature=0.0)):
        runs = {}
        for every in (1, 3, 16, 10**6):  # batches of 12 for 50 sequences: rows leave and others come in
            res = sample(net, thetas, s, g if s.syntax else None, 12, g.vocab.bos_id, g.vocab.eos_id,
                         check_every=every)
            runs[every] = res
        first = runs[1]
        assert len(first) == 50 and any(r.length_limited for r in first) and not all(r.length_limited for r in first), s
        for every, res in runs.items():
            assert [(r.index, r.ids, r.length_limited) for r in res] == [(r.index, r.ids, r.length_limited)
                                                                         for r in first], (s, every)
            # the network's products for a row can differ in the last bits with the batch's size
            assert all(abs(r.logprob - f.logprob) <= 1e-6 * abs(f.logprob) for r, f in zip(res, first)), (s, every)
