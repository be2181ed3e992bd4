"""Equations from a trained model: the sampler other stages use (sample, report, judge).

`Generator.from_run(folder)` loads `train/model.pt` (refusing one trained on another vocabulary
or other topics than the run's: pipeline/model/provenance.py), the vocabulary and the syntax rules
(derived once from the run's compiling training equations and cached in `samples/syntax_rules.json`
of the folder the stage writes); `generate(thetas, ...)` returns records with the LaTeX, its
environment, the tokens and the sampling figures.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from pipeline.dataset.equations import read_equations
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.latex.tokenizer import Vocabulary, detokenize, env_token, parse_env_token, tokenize
from pipeline.model.decoder import DecodeSettings, PrefixError, Sampled, sample
from pipeline.model.network import TopicLSTM, load_model
from pipeline.model.provenance import check_model_matches
from pipeline.model.syntax import Grammar, Rules, derive_rules
from pipeline.runfolder import RunFolder, as_folder


def training_equations(run: RunFolder | Path) -> Iterator[tuple[str, list[str]]]:
    """(env, body tokens) of the run's training equations that compile (all of them when the
    validate stage has not run)."""
    run = as_folder(run)
    validated = run.path("validated")
    src = validated if validated.exists() else run.path("equations")
    for e in read_equations(src, split="train", compiling_only=True):
        yield e["env"], tokenize(e["latex"])


def probe_script_arguments(vocab: Vocabulary, rules: Rules, preamble=None, cache_dir: Path | None = None) -> set[str]:
    """The control sequences of the vocabulary that TeX accepts as the unbraced argument of a
    superscript: `x^\\tok` followed by the arguments the rules say it takes, one document each
    (the texcheck library). Macros that expand to more than one token (`\\hat`, `\\cong`,
    `\\sqrt`) fail there, primitives and math characters (`\\alpha`, `\\subseteq`) and a few
    robust commands (`\\frac`, `\\mathrm`) pass."""
    from pipeline.texcheck import Equation, Preamble, check

    cands = [t for t in vocab.itos if t.startswith("\\") and "{" not in t and len(t) > 1 and t != "\\\\"]
    eqs = []
    for t in cands:
        n, _ = rules.nargs.get(t[1:], (0, False))
        eqs.append(Equation("x^" + t + "{a}" * n, "equation", None))
    verdicts = check(eqs, preamble or Preamble(), cache_dir=cache_dir)
    return {t for t, v in zip(cands, verdicts) if v.compiles}


def load_rules(run: RunFolder | Path, known: dict | None = None, preamble=None,
               cache_dir: Path | None = None) -> Rules:
    """The syntax rules of a run, derived from its training equations once and cached (with TeX's
    answers on unbraced script arguments) in `syntax_rules.json` of the folder the stage writes. The
    cache is keyed by the data, the preamble and the rules' own code."""
    run = as_folder(run)
    vocab_file, validated = run.path("vocab"), run.path("validated")
    key = file_sha256(vocab_file)[:16] + (file_sha256(validated)[:16] if validated.exists() else "all")
    key += ":" + (preamble.hash if preamble is not None else "default")
    key += ":" + code_fingerprint("model/syntax.py", "model/generation.py")[:16]
    cache = run.output("syntax_rules")
    if cache.exists():
        try:
            blob = json.loads(cache.read_text())
            if blob.get("key") == key:
                return Rules.from_json(json.dumps(blob["rules"]))
        except (ValueError, KeyError):
            pass
    rules = derive_rules(training_equations(run), known or {})
    rules.script_ok = probe_script_arguments(Vocabulary.load(vocab_file), rules, preamble, cache_dir)
    from pipeline.atomic import write_text

    cache.parent.mkdir(parents=True, exist_ok=True)
    write_text(cache, json.dumps({"key": key, "rules": json.loads(rules.to_json())}, ensure_ascii=False))
    return rules


@dataclass
class Record:
    latex: str
    env: str
    env_arg: str | None
    tokens: list[str]
    logprob: float
    length_limited: bool
    index: int


class Generator:
    def __init__(self, net: TopicLSTM, vocab: Vocabulary, grammar: Grammar, device: str = "cpu",
                 device_check_every: int = 1) -> None:
        self.net, self.vocab, self.grammar, self.device = net.to(device), vocab, grammar.to(device), device
        # the decoder looks at its batch every step on the CPU (free there), every k steps elsewhere
        self.check_every = 1 if torch.device(device).type == "cpu" else max(1, int(device_check_every))

    @classmethod
    def from_run(cls, run: RunFolder | Path, model_file: Path | None = None, known: dict | None = None,
                 device: str = "cpu", preamble=None, cache_dir: Path | None = None,
                 max_depth: int = 24, device_check_every: int = 1) -> "Generator":
        run = as_folder(run)
        model_file = model_file or run.path("model")
        net, data = load_model(model_file)
        check_model_matches(data, run, model_file)
        vocab = Vocabulary.load(run.path("vocab"))
        return cls(net, vocab, Grammar(vocab, load_rules(run, known, preamble, cache_dir), max_depth), device,
                   device_check_every)

    def prefix_ids(self, env: str | None, prefix: str | None) -> list[int]:
        """Token ids every sequence starts with: the forced environment's token, then the prefix's."""
        ids: list[int] = []
        if env:
            name, _, arg = env.partition("=")
            tok = env_token(name, arg or None)
            if tok not in self.vocab.stoi:
                envs = [t for t in self.vocab.itos if parse_env_token(t)]
                raise PrefixError(f"sample.env={env!r}: no such environment token; one of " + ", ".join(
                    t[5:-1] for t in envs))
            ids.append(self.vocab.stoi[tok])
        if prefix:
            if not ids:
                ids.append(self.vocab.stoi[env_token("equation")])
            for t in tokenize(prefix):
                if t not in self.vocab.stoi:
                    raise PrefixError(f"sample.prefix: the token {t!r} is not in the vocabulary; the model cannot "
                                      "continue from it")
                ids.append(self.vocab.stoi[t])
        return ids

    def to_record(self, s: Sampled) -> Record:
        toks = [self.vocab.itos[i] for i in s.ids]
        env = parse_env_token(toks[0]) if toks else None
        body = toks[1:] if env else toks
        name, arg = env if env else ("equation", None)
        return Record(detokenize(body), name, arg, body, s.logprob, s.length_limited, s.index)

    def generate(self, thetas: torch.Tensor, settings: DecodeSettings, batch_size: int,
                 prefix: Sequence[int] = (), on_done: Callable[[Record], None] | None = None,
                 start_index: int = 0, streams: tuple[Sequence[int], Sequence[int]] | None = None) -> list[Record]:
        """One record per θ row; `streams` (seeds, indices): each row's own random stream (decoder.sample)."""
        def done(s: Sampled) -> None:
            if on_done is not None:
                on_done(self.to_record(s))

        res = sample(self.net, thetas.float(), settings, self.grammar if settings.syntax else None, batch_size,
                     self.vocab.bos_id, self.vocab.eos_id, prefix=prefix, on_done=done, device=self.device,
                     start_index=start_index, streams=streams,
                     check_every=self.check_every)
        return [self.to_record(s) for s in res]


def settings_dict(s: DecodeSettings) -> dict:
    return asdict(s)
