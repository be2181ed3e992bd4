"""The sample stage's settings as plain values (conf/sample/default.yaml holds every default), and
the TeX set-up that judges samples."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import StageError
from pipeline.model.decoder import DecodeSettings
from pipeline.texcheck import Equation, Preamble, check


@dataclass(frozen=True)
class SampleOptions:
    """One field per key of conf/sample/default.yaml (docs/sample.md says what each does)."""
    scope: str
    checkpoint: str
    topic: Any
    mixture: dict | None
    words: str | None
    paper: str | None
    env: str | None
    prefix: str | None
    n: int
    temperature: float
    top_k: int | None
    top_p: float | None
    max_len: int
    eos_bias: Any
    end_wish_logprob: float
    calibration_n: int
    calibration: dict
    syntax: bool
    seed: int
    batch_size: int
    threads: int | None
    device: str
    device_check_every: int
    only_compiling: bool
    novelty_check: int
    near_copy_ratio: float
    grammar_depth: int
    reuse: bool
    context_examples: list
    context_n: int
    grid: dict

    @property
    def conditioned(self) -> bool:
        """A topic, mixture, words or a paper is asked for (not every topic)."""
        return self.topic is not None or bool(self.mixture) or bool(self.words) or self.paper is not None

    def resolved_device(self) -> str:
        """The torch device `sample.device` means on this machine (refused clearly when absent)."""
        from pipeline.devices import resolve_device

        return resolve_device(self.device, "sample.device")

    def is_request(self) -> bool:
        """A request for a few equations (printed, written to requests/) rather than the run's samples."""
        scope = str(self.scope).strip().lower()
        if scope not in ("auto", "request", "run"):
            raise StageError(f"sample.scope={self.scope!r}: use auto, request or run")
        return scope == "request" or (scope == "auto" and self.conditioned)

    def decode(self, temperature: float | None = None, syntax: bool | None = None,
               eos_bias: float = 0.0) -> DecodeSettings:
        """Decoding settings of these options, with a temperature, syntax switch and <eos> bias."""
        return DecodeSettings(temperature=float(self.temperature if temperature is None else temperature),
                              top_k=int(self.top_k or 0), top_p=float(self.top_p if self.top_p is not None else 1.0),
                              max_len=int(self.max_len), syntax=bool(self.syntax if syntax is None else syntax),
                              seed=int(self.seed), end_wish_logprob=float(self.end_wish_logprob),
                              eos_bias=float(eos_bias))


@dataclass(frozen=True)
class TexJudge:
    """Judges sample rows in the run's preamble (the texcheck library), each in its own environment."""
    preamble: Preamble
    cache_dir: Path | None
    timeout_s: float
    settings: dict  # the TeX settings as configured: part of what samples depend on

    def judge(self, rows: list[dict]) -> None:
        """Sets `compiles` and `error` of every row."""
        verdicts = check([Equation(r["latex"], r["env"], r["env_arg"]) for r in rows], self.preamble,
                         cache_dir=self.cache_dir, timeout_s=self.timeout_s)
        for r, v in zip(rows, verdicts):
            r["compiles"], r["error"] = v.compiles, v.error
