"""Syntax-aware sampling: balanced output from any network, reproducible at any batch size, real
equations never masked, clear refusals."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from pipeline.latex.tokenizer import Vocabulary, detokenize, env_token, parse_env_token, tokenize
from pipeline.model.decoder import DecodeSettings, PrefixError
from pipeline.model.generation import Generator, load_rules, training_equations
from pipeline.model.network import NetworkConfig, TopicLSTM
from pipeline.model.syntax import Grammar, sized
from tests.conftest import TINY_SAMPLE, copy_run, run_pipeline


def balanced(tokens: list[str]) -> bool:
    """An independent check: braces, environments and \\left/\\right nest and close."""
    stack: list[str] = []
    for t in tokens:
        if t == "{":
            stack.append("{")
        elif t == "}":
            if not stack or stack.pop() != "{":
                return False
        elif t.startswith("\\begin{"):
            stack.append(t[7:])
        elif t.startswith("\\end{"):
            if not stack or stack.pop() != t[5:]:
                return False
        elif sized(t) == "left":
            stack.append("left")
        elif sized(t) == "right":
            if not stack or stack.pop() != "left":
                return False
    return not stack


@pytest.fixture(scope="module")
def random_generator(tiny_run) -> Generator:
    """The tiny run's vocabulary and rules with an untrained network (random weights)."""
    outputs, _ = tiny_run
    run = outputs / "tiny"
    vocab = Vocabulary.load(run / "prepared" / "vocab.json")
    torch.manual_seed(0)
    net = TopicLSTM(NetworkConfig(len(vocab), 3, 16, 16, 2, 0.0, "concat", "gate", 1.0, 0.0, True, vocab.pad_id, 1.0))
    return Generator(net, vocab, Grammar(vocab, load_rules(run)))


def test_random_network_never_writes_unbalanced_latex(random_generator):
    g = random_generator
    theta = torch.full((10_000, 3), 1 / 3)
    s = DecodeSettings(temperature=1.0, top_k=0, top_p=1.0, max_len=40, syntax=True, seed=3, end_wish_logprob=-9.0)
    recs = g.generate(theta, s, batch_size=2048)
    assert len(recs) == 10_000
    bad = [r for r in recs if not balanced(r.tokens)]
    assert not bad, [r.latex for r in bad[:5]]
    assert all(len(r.tokens) < 40 for r in recs)  # the limit closes, it does not cut
    assert sum(r.length_limited for r in recs) > 0  # (a random network runs into the limit often)
    # plain sampling from the same network does write unbalanced LaTeX: the rules are doing the work
    plain = g.generate(theta[:2000], DecodeSettings(1.0, 0, 1.0, 40, False, 3, -9.0), batch_size=2048)
    assert sum(not balanced(r.tokens) for r in plain) > 100


def test_the_same_seed_gives_the_same_samples_at_any_batch_size(random_generator):
    g = random_generator
    theta = torch.softmax(torch.randn(300, 3, generator=torch.Generator().manual_seed(1)), -1)
    s = DecodeSettings(temperature=0.9, top_k=50, top_p=0.95, max_len=60, syntax=True, seed=11, end_wish_logprob=-9.0)
    small = g.generate(theta, s, batch_size=7)
    large = g.generate(theta, s, batch_size=300)
    assert [r.tokens for r in small] == [r.tokens for r in large]
    assert [r.logprob for r in small] == pytest.approx([r.logprob for r in large], rel=1e-4)
    other = g.generate(theta, DecodeSettings(0.9, 50, 0.95, 60, True, 12, -9.0), batch_size=300)
    assert [r.tokens for r in other] != [r.tokens for r in large]


def test_requests_decoded_together_get_what_they_get_alone(random_generator):
    """The server decodes several users' requests in one batch, each on its own (seed, index)
    streams: a request's equations are the same whoever shares its batch."""
    g = random_generator
    s = DecodeSettings(temperature=1.0, top_k=0, top_p=1.0, max_len=50, syntax=True, seed=0, end_wish_logprob=-9.0)
    a_theta, b_theta = torch.tensor([[0.8, 0.1, 0.1]]), torch.tensor([[0.1, 0.1, 0.8]])
    alone_a = g.generate(a_theta.repeat(5, 1), s, 64, streams=([7] * 5, range(5)))
    alone_b = g.generate(b_theta.repeat(3, 1), s, 64, streams=([9] * 3, range(3)))
    both = g.generate(torch.cat([b_theta.repeat(3, 1), a_theta.repeat(5, 1)]), s, 4,
                      streams=([9] * 3 + [7] * 5, [0, 1, 2, 0, 1, 2, 3, 4]))
    assert [r.tokens for r in both] == [r.tokens for r in alone_b + alone_a]
    # a request's seed is the request's: the same seed as the run's settings gives the run's samples
    assert [r.tokens for r in g.generate(a_theta.repeat(5, 1), replace(s, seed=7), 64)] == [r.tokens for r in alone_a]
    with pytest.raises(ValueError, match="one seed and one index per"):
        g.generate(a_theta.repeat(2, 1), s, 4, streams=([1], [0]))


def test_eos_bias_calibration_reaches_the_target_length(random_generator):
    from dataclasses import replace

    from pipeline.model.eos_calibration import calibrate_eos_bias

    g = random_generator
    theta = torch.full((300, 3), 1 / 3)
    base = DecodeSettings(temperature=1.0, top_k=0, top_p=1.0, max_len=60, syntax=True, seed=4, end_wish_logprob=-9.0)
    raw = [len(r.tokens) for r in g.generate(theta, base, 300)]
    target = 0.5 * float(np.mean(raw))  # a random network rarely ends by itself: the bias must be raised
    found = calibrate_eos_bias(lambda th, st: g.generate(th, st, 300), theta, target, base, rounds=6,
                               bounds=(-3.0, 12.0))
    assert found["bias"] > 0 and abs(found["mean_tokens"] / target - 1) < 0.1, found
    assert found["rounds"][0] == [0.0, round(float(np.mean(raw)), 2)]
    again = g.generate(theta, replace(base, eos_bias=found["bias"]), 300)
    assert float(np.mean([len(r.tokens) for r in again])) == pytest.approx(found["mean_tokens"], abs=0.01)
    # the recorded log-probability stays the raw model's: scoring a biased sample unbiased gives it back
    short = g.generate(theta[:5], replace(base, eos_bias=found["bias"]), 5)
    ids = [[g.vocab.stoi[env_token(r.env, r.env_arg)], *(g.vocab.stoi[t] for t in r.tokens), g.vocab.eos_id]
           for r in short]
    for r, seq in zip(short, ids):
        x = torch.tensor([[g.vocab.bos_id, *seq[:-1]]])
        logits, _ = g.net(x, theta[:1])
        lp = torch.log_softmax(logits.float(), -1)[0, torch.arange(len(seq)), torch.tensor(seq)].sum()
        assert float(lp.detach()) == pytest.approx(r.logprob, abs=1e-3)


def test_prefix_and_forced_environment(random_generator):
    g = random_generator
    ids = g.prefix_ids("align", "x&=\\frac{")
    recs = g.generate(torch.full((50, 3), 1 / 3), DecodeSettings(1.0, 0, 1.0, 50, True, 5, -9.0), 50, prefix=ids)
    assert all(r.env == "align" and r.tokens[:4] == ["x", "&", "=", "\\frac"] and balanced(r.tokens) for r in recs)
    with pytest.raises(PrefixError, match="breaks the syntax rules"):
        g.generate(torch.full((1, 3), 1 / 3), DecodeSettings(1.0, 0, 1.0, 50, True, 5, -9.0), 1,
                   prefix=g.prefix_ids("equation", "x}"))
    with pytest.raises(PrefixError, match="no such environment"):
        g.prefix_ids("itemize", None)


def test_rules_never_mask_real_equations(tiny_run):
    """Teacher-forced: every compiling, <unk>-free training equation of the run passes the rules
    derived from them (held-out equations: the slow test below, on the shared corpus)."""
    outputs, _ = tiny_run
    run = outputs / "tiny"
    vocab = Vocabulary.load(run / "prepared" / "vocab.json")
    grammar = Grammar(vocab, load_rules(run))
    rows = [json.loads(line) for line in (run / "validate" / "equations.validated.jsonl").read_text().splitlines()]
    seqs = []
    for e in rows:
        toks = [env_token(e["env"], e["env_arg"]), *tokenize(e["latex"]), vocab.EOS]
        if e["split"] == "train" and e["compiles"] and all(t in vocab.stoi for t in toks):
            seqs.append([vocab.stoi[t] for t in toks])
    assert len(seqs) > 150
    assert _violations(grammar, seqs, vocab) == []


def _violations(grammar: Grammar, seqs: list[list[int]], vocab: Vocabulary) -> list[str]:
    out = []
    st = grammar.start(len(seqs))
    alive = torch.ones(len(seqs), dtype=torch.bool)
    for t in range(max(map(len, seqs))):
        mask = grammar.allowed(st)
        tok = torch.tensor([s[t] if t < len(s) else vocab.eos_id for s in seqs])
        ok = mask[torch.arange(len(seqs)), tok]
        for i in torch.nonzero(alive & ~ok).flatten().tolist():
            out.append(f"{detokenize(vocab.itos[j] for j in seqs[i][1:t])} [{vocab.itos[seqs[i][t]]}]")
        alive &= ok
        st = grammar.advance(st, tok)
    return out


@pytest.mark.slow
def test_rules_never_mask_the_real_test_equations(validated_corpus):
    """The shared corpus: every compiling, <unk>-free test equation passes the rules derived from
    its compiling training equations."""
    run = validated_corpus
    vocab = Vocabulary.load(run / "prepared" / "vocab.json")
    grammar = Grammar(vocab, load_rules(run))
    seqs = []
    for line in (run / "validate" / "equations.validated.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["split"] != "test" or not e["compiles"]:
            continue
        toks = [env_token(e["env"], e["env_arg"]), *tokenize(e["latex"]), vocab.EOS]
        if all(t in vocab.stoi for t in toks):
            seqs.append([vocab.stoi[t] for t in toks])
    assert len(seqs) > 4000
    assert _violations(grammar, seqs, vocab) == []


@pytest.mark.slow  # the stage through the CLI
def test_sample_stage_writes_checked_samples(tiny_trained):
    outputs, common = tiny_trained
    copy_run(outputs, "sampled", ("prepared", "validate", "topics", "train"), source="trained")
    r = run_pipeline("stage=sample", "run=sampled", *common, "sample.n=4", "sample.grid.n=12",
                     "sample.grid.temperatures=[1.0]")
    assert r.returncode == 0, r.stderr[-2000:]
    out = outputs / "sampled" / "samples"
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    names = json.loads((outputs / "sampled" / "topics" / "names.json").read_text())["names"]
    assert len(rows) == 4 * len(names) and {r["conditioning"]["name"] for r in rows} == set(names)
    for row in rows:
        assert {"latex", "env", "tokens", "theta", "settings", "logprob", "compiles", "error", "in_training_set",
                "length_limited"} <= set(row) and abs(sum(row["theta"]) - 1) < 1e-3
        assert detokenize(row["tokens"]) == row["latex"] and balanced(row["tokens"])
    grid = [json.loads(line) for line in (out / "grid.jsonl").read_text().splitlines()]
    assert {g["setting"] for g in grid} == {"T=1,syntax", "T=1,plain"} and len(grid) == 24
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["samples"]["compile_rate"] <= 1 and "T=1,syntax" in summary["grid"]
    assert summary["eos_bias"]["setting"] == "auto" and summary["eos_bias"]["rounds"][0][0] == 0.0
    assert all(r["settings"]["eos_bias"] == summary["eos_bias"]["bias"] for r in rows)
    # by name, with a forced environment, as the run's samples (sample.scope=run; a topic alone is a request)
    r = run_pipeline("stage=sample", "run=sampled", *common, f"sample.topic={names[1]}", "sample.n=3",
                     "sample.env=align", "sample.grid.enabled=false", "sample.scope=run")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["env"] == "align" and r["conditioning"]["topic"] == 1 for r in rows)


@pytest.mark.slow  # the stage through the CLI
def test_a_request_for_a_few_equations_leaves_the_runs_samples_alone(tiny_judged):
    """After the main job, `stage=sample` with context words prints a few checked equations in
    seconds (the <eos> bias from the store, no grid, no context examples) and writes them under
    requests/; the run's samples/ (which the report reads) stay byte for byte and time for time."""
    outputs, common = tiny_judged
    copy_run(outputs, "asked", ("prepared", "validate", "topics", "train", "samples"), source="judged")
    samples = outputs / "asked" / "samples"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in samples.iterdir()}
    assert "eos_calibration.json" in before and "grid.jsonl" in before
    r = run_pipeline("stage=sample", "run=asked", *common, *TINY_SAMPLE, 'sample.words="group element"', "sample.n=5")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in samples.iterdir()} == before
    assert "Inferred topics:" in r.stdout and r.stdout.count("  [compiles") + r.stdout.count("  [does not compile") == 5
    made = list((outputs / "asked" / "requests").glob("sample-*.jsonl"))
    assert len(made) == 1
    rows = [json.loads(line) for line in made[0].read_text().splitlines()]
    bias = json.loads((samples / "summary.json").read_text())["eos_bias"]["bias"]
    assert len(rows) == 5 and all({"compiles", "error", "near_copy", "in_training_set"} <= set(x) for x in rows)
    assert all(x["conditioning"]["words"] == "group element" and x["settings"]["eos_bias"] == bias for x in rows)
    shutil.rmtree(outputs / "asked")


def test_sampling_and_scoring_follow_the_configured_device(tiny_trained):
    """sample.device (auto: the GPU when there is one) puts the sampler, and the judge's scoring with
    it, on that device; a device the machine lacks is refused with what to set instead. On this CPU
    machine that is the CPU; on a lent GPU machine the same test runs on cuda."""
    from pipeline.devices import resolve_device
    from pipeline.errors import StageError
    from pipeline.judge.which_field import classify
    from pipeline.runfolder import RunFolder
    from pipeline.sampling.session import load_generator
    from pipeline.stages.sample import tex_judge
    from tests.conftest import default_config

    outputs, common = tiny_trained
    want = "cuda" if torch.cuda.is_available() else "cpu"
    device = resolve_device("auto", "sample.device")
    assert device == want and resolve_device("cpu", "sample.device") == "cpu"
    cfg = default_config(*[c for c in common if c.startswith("tex.")])
    gen = load_generator(RunFolder.at(outputs / "trained"), "best", tex_judge(cfg), 24, device)
    assert {p.device.type for p in gen.net.parameters()} == {want}
    s = DecodeSettings(temperature=1.0, top_k=0, top_p=1.0, max_len=40, syntax=True, seed=1, end_wish_logprob=-9.0)
    recs = gen.generate(torch.full((6, 3), 1 / 3), s, 4)
    assert len(recs) == 6 and all(balanced(r.tokens) for r in recs)
    ids = [gen.vocab.stoi.get(t, gen.vocab.unk_id) for t in recs[0].tokens] + [gen.vocab.eos_id]
    p = classify(gen.net, gen.vocab, np.full((3, 3), 1 / 3), np.full(3, 1 / 3), [ids])
    assert p.shape == (1, 3) and abs(p.sum() - 1) < 1e-5
    assert {p.device.type for p in gen.net.parameters()} == {want}  # scoring left the sampler where it was
    if not torch.cuda.is_available():
        with pytest.raises(StageError, match=r"sample.device=cuda: there is no CUDA device here.*use sample.device=auto"):
            resolve_device("cuda", "sample.device")
    with pytest.raises(StageError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu", "train.eval_device")


@pytest.mark.slow  # the stage through the CLI
def test_a_missing_device_is_refused_before_any_work(tiny_trained):
    outputs, common = tiny_trained
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: nothing to refuse")
    for stage, setting, more in (("sample", "sample.device", []), ("train", "train.eval_device", []),
                                 ("judge", "sample.device", ["judge.eos_bias=0"])):
        r = run_pipeline(f"stage={stage}", "run=trained", *common, f"{setting}=cuda", *more)
        assert r.returncode == 2 and f"{setting}=cuda: there is no CUDA device here" in r.stderr, r.stderr[-1500:]
        assert "Traceback" not in r.stderr


@pytest.mark.slow  # the stage through the CLI
def test_context_words_and_mismatched_models_are_refused_clearly(tiny_trained):
    outputs, common = tiny_trained
    copy_run(outputs, "refuse", ("prepared", "validate", "topics", "train"), source="trained")
    r = run_pipeline("stage=sample", "run=refuse", *common, "sample.words=qwertyuiop zxcvbnm",
                     "sample.grid.enabled=false")
    assert r.returncode == 2 and "none of the context words" in r.stderr and "Traceback" not in r.stderr
    r = run_pipeline("stage=sample", "run=refuse", *common, "sample.topic=no-such-topic", "sample.grid.enabled=false")
    assert r.returncode == 2 and "no topic named" in r.stderr
    r = run_pipeline("stage=sample", "run=refuse", *common, "sample.eos_bias=longer", "sample.grid.enabled=false")
    assert r.returncode == 2 and "sample.eos_bias='longer'" in r.stderr and "Traceback" not in r.stderr
    vocab = outputs / "refuse" / "prepared" / "vocab.json"
    blob = json.loads(vocab.read_text())
    blob["tokens"].append("\\extratoken")
    vocab.write_text(json.dumps(blob))
    r = run_pipeline("stage=sample", "run=refuse", *common, "sample.grid.enabled=false")
    assert r.returncode == 2 and "another vocabulary" in r.stderr and "Traceback" not in r.stderr
    shutil.rmtree(outputs / "refuse")


def test_training_equations_are_the_compiling_ones(tiny_run):
    outputs, _ = tiny_run
    run = outputs / "tiny"
    n_train = sum('"split": "train"' in line for line in (run / "prepared" / "equations.jsonl").read_text().splitlines())
    got = list(training_equations(run))
    assert 0 < len(got) <= n_train and all(isinstance(t, list) for _, t in got)
    assert np.mean([len(t) for _, t in got]) > 5
    assert all(parse_env_token(env_token(env)) for env, _ in got)
