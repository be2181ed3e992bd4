"""The network, its model file, batches and evaluation arithmetic (no Lightning here)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from pipeline.model.network import NetworkConfig, TopicLSTM, load_model, save_model
from pipeline.train.datamodule import LengthBucketBatchSampler, collate
from pipeline.train.evaluate import derangement, paired_gain, score

CFG = NetworkConfig(vocab_size=40, num_topics=5, embedding=16, hidden=16, layers=2, dropout=0.0,
                    topic_input="concat", topic_output="none", topic_scale=1.0, topic_log_floor=0.0, tie_weights=True, pad_id=0,
                    embed_init_std=1.0)


def _batch(b=4, t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 40, (b, t), generator=g)
    ids[1, 5:] = 0  # a shorter sequence: padding
    theta = torch.softmax(torch.randn(b, 5, generator=g), -1)
    return ids, theta


@pytest.mark.parametrize("mode", ["concat", "init", "both", "none"])
def test_forward_shapes_and_where_theta_enters(mode):
    torch.manual_seed(0)
    net = TopicLSTM(replace(CFG, topic_input=mode)).eval()
    ids, theta = _batch()
    logits, loss = net(ids, theta, ids)
    assert logits.shape == (4, 7, 40) and loss.ndim == 0 and torch.isfinite(loss)
    other = torch.softmax(torch.randn(4, 5), -1)
    changed = not torch.allclose(net(ids, theta)[0], net(ids, other)[0])
    assert changed == (mode != "none")  # `none` ignores θ entirely


@pytest.mark.parametrize("out", ["bias", "gate", "both"])
def test_theta_on_the_way_out_starts_as_the_identity_and_then_counts(out):
    torch.manual_seed(0)
    plain = TopicLSTM(replace(CFG, topic_input="none")).eval()
    net = TopicLSTM(replace(CFG, topic_input="none", topic_output=out)).eval()
    missing = net.load_state_dict(plain.state_dict(), strict=False).missing_keys  # the same network besides
    assert set(missing) <= {"topic_bias.weight", "topic_gate.weight"} and missing
    ids, theta = _batch()
    other = torch.softmax(torch.randn(4, 5), -1)
    assert torch.allclose(net(ids, theta)[0], plain(ids, theta)[0])  # zero-initialised: no effect yet
    with torch.no_grad():
        for layer in (net.topic_bias, net.topic_gate):
            if layer is not None:
                layer.weight.normal_()
    assert not torch.allclose(net(ids, theta)[0], net(ids, other)[0])
    state = None
    full, _ = net(ids, theta)
    for t in range(ids.shape[1]):  # decoding applies it the same way
        logits, state = net.step(ids[:, t], theta, state)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_theta_on_a_log_scale_makes_small_shares_count():
    net = TopicLSTM(replace(CFG, topic_log_floor=1e-3)).eval()
    theta = torch.tensor([[0.0, 1e-3, 1e-2, 0.1, 1.0]])
    f = net.topic_features(theta)[0]
    assert f[0] == 0 and abs(float(f[-1]) - 1) < 1e-6 and torch.all(f[1:] > f[:-1])
    assert 0.09 < float(f[1]) < 0.11  # the floor reads as a tenth
    a = torch.tensor([[1e-4, 2e-2, 0.3, 0.3, 0.3799]])
    b = torch.tensor([[2e-2, 1e-4, 0.3, 0.3, 0.3799]])  # two papers that differ only in small shares
    assert float((net.topic_features(a) - net.topic_features(b)).abs().max()) > 0.3
    assert float((TopicLSTM(CFG).topic_features(a) - TopicLSTM(CFG).topic_features(b)).abs().max()) < 0.03


def test_padding_is_not_scored_and_weights_are_tied():
    torch.manual_seed(0)
    net = TopicLSTM(CFG).eval()
    ids, theta = _batch()
    nll = net.token_nll(ids, theta, ids)
    assert torch.all(nll[1, 5:] == 0) and torch.all(nll[1, :5] > 0)
    _, loss = net(ids, theta, ids)
    assert math.isclose(float(loss.detach()), float(nll.detach().sum() / (ids != 0).sum()), rel_tol=1e-5)
    assert net.head.weight is net.embed.weight


def test_step_by_step_equals_the_whole_sequence():
    torch.manual_seed(0)
    net = TopicLSTM(replace(CFG, topic_input="both")).eval()
    ids, theta = _batch()
    full, _ = net(ids, theta)
    state = None
    for t in range(ids.shape[1]):
        logits, state = net.step(ids[:, t], theta, state)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_model_file_loads_with_weights_only_and_refuses_other_files(tmp_path):
    torch.manual_seed(0)
    net = TopicLSTM(CFG)
    save_model(tmp_path / "model.pt", net, {"vocab_sha256": "abc", "vocab": ["<pad>", "x"]})
    blob = torch.load(tmp_path / "model.pt", weights_only=True)  # plain data only
    assert blob["config"]["hidden"] == 16 and blob["data"]["vocab_sha256"] == "abc"
    again, data = load_model(tmp_path / "model.pt")
    ids, theta = _batch()
    assert torch.equal(again(ids, theta)[0], net.eval()(ids, theta)[0]) and data["vocab"] == ["<pad>", "x"]
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a model file"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="stage=train"):
        load_model(tmp_path / "missing.pt")


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="topic_input"):
        replace(CFG, topic_input="sideways")
    with pytest.raises(ValueError, match="topic_output"):
        replace(CFG, topic_output="sideways")
    with pytest.raises(ValueError, match="topic_log_floor"):
        replace(CFG, topic_log_floor=-1.0)
    with pytest.raises(ValueError, match="dropout"):
        replace(CFG, dropout=1.5)


def test_batches_group_lengths_and_resume_where_they_stopped():
    lengths = np.random.default_rng(0).integers(3, 80, 1000)
    s = LengthBucketBatchSampler(lengths, 16, 5, seed=7, shuffle=True)
    s.set_epoch(3)
    first = list(s)
    assert sorted(i for b in first for i in b) == list(range(1000))  # every row once
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in first])
    assert spread < 20  # similar lengths in a batch (buckets of 5 batches; random batches spread ~70)
    assert first == list(s)  # the order depends on (seed, epoch) only
    s.set_epoch(4)
    assert list(s) != first
    s.set_epoch(3)
    s.start = 20  # resumed after 20 batches of epoch 3
    assert list(s) == first[20:] and list(s) == first  # `start` applies once


@pytest.mark.parametrize("world", [2, 3])
def test_processes_split_the_global_batches_one_process_would_see(world):
    lengths = np.random.default_rng(1).integers(3, 80, 1001)
    one = LengthBucketBatchSampler(lengths, 8 * world, 5, seed=7, shuffle=True)
    ranks = [LengthBucketBatchSampler(lengths, 8, 5, seed=7, shuffle=True, world=world, rank=r) for r in range(world)]
    for s in [one, *ranks]:
        s.set_epoch(2)
    parts = [list(s) for s in ranks]
    assert len({len(p) for p in parts}) == 1 and all(len(p) == len(s) for p, s in zip(parts, ranks))  # in step
    glued = [sum((p[i] for p in parts), []) for i in range(len(parts[0]))]
    whole = [b for b in list(one) if len(b) >= world]
    assert glued == whole  # the same global batches, in the same order
    assert all(len(p[i]) >= 1 for p in parts for i in range(len(p)))
    assert max(abs(len(parts[0][i]) - len(parts[-1][i])) for i in range(len(parts[0]))) <= 1
    for s in ranks:  # a resumed position means the same on every process
        s.set_epoch(2)
        s.start = 5
    assert [list(s) for s in ranks] == [p[5:] for p in parts]
    # evaluation batches are not split: every process scores the whole split
    ev = LengthBucketBatchSampler(lengths, 32, 5, seed=7, shuffle=False, world=world, rank=world - 1)
    assert sorted(i for b in ev for i in b) == list(range(1001)) and len(ev) == len(list(ev))


def test_collate_shifts_by_one_and_pads():
    items = [(np.array([5, 9, 9, 3]), np.full(3, 1 / 3, np.float32)), (np.array([6, 3]), np.full(3, 1 / 3, np.float32))]
    b = collate(items, bos_id=2, pad_id=0)
    assert b["inputs"].tolist() == [[2, 5, 9, 9], [2, 6, 0, 0]]
    assert b["targets"].tolist() == [[5, 9, 9, 3], [6, 3, 0, 0]]
    assert b["theta"].shape == (2, 3)
    assert b["n_tokens"] == int((b["targets"] != 0).sum()) == 6  # counted on the host


def test_scores_and_intervals():
    loss = np.array([2.0, 4.0, 6.0])
    ntok = np.array([2, 2, 2])
    chars = np.array([3, 3, 3])
    s = score(loss, ntok, chars, np.array([0, 0, 1]), bootstrap=200, seed=0)
    assert math.isclose(s["cross_entropy"], 2.0) and math.isclose(s["perplexity"], math.exp(2.0))
    assert math.isclose(s["bits_per_character"], 12 / math.log(2) / 12)
    lo, hi = s["perplexity_ci95"]
    assert lo <= s["perplexity"] <= hi and s["papers"] == 2
    g = paired_gain(np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([1, 1]), np.array([0, 1]), 100, 0)
    assert math.isclose(g["perplexity_reduction"], 1 - math.exp(1) / math.exp(2))
    p = derangement(10, 3)
    assert sorted(p) == list(range(10)) and not np.any(p == np.arange(10))
