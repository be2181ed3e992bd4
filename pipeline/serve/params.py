"""What a request to the server asks for, checked: the query string decoded strictly as UTF-8 and
each parameter within the configured limits, or a `BadRequest` whose message says what is wrong and
what to send instead. Nothing a request says ever names a file: words go to the topic model, a
topic is looked up among the run's topic names."""
from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl


class BadRequest(Exception):
    """A request the server refuses (4xx), with a message for the person who sent it."""

    def __init__(self, message: str, status: int = 400, **extra) -> None:
        super().__init__(message)
        self.message, self.status, self.extra = message, status, extra


@dataclass(frozen=True)
class Limits:
    """The serve settings a request is checked against (conf/serve/default.yaml)."""
    n: int
    max_n: int
    max_words: int
    max_query_bytes: int
    temperature: float
    max_temperature: float
    syntax: bool


@dataclass(frozen=True)
class Generate:
    words: str | None   # context words, or
    topic: str | None   # a topic's name (or id, archive...)
    n: int
    temperature: float
    syntax: bool
    seed: int


def query(raw: bytes, limits: Limits) -> dict[str, str]:
    """The query string's parameters (the last of a repeated name), decoded as UTF-8 or refused."""
    if len(raw) > limits.max_query_bytes:
        raise BadRequest(f"the query is {len(raw):,} bytes; at most {limits.max_query_bytes:,} are read", status=413)
    try:
        text = raw.decode("ascii")
        return dict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except UnicodeError:
        raise BadRequest("the query is not UTF-8 text: send the words percent-encoded as UTF-8 "
                         "(encodeURIComponent in a page, --data-urlencode with curl)") from None


def generate(q: dict[str, str], limits: Limits, default_seed: int) -> Generate:
    """The parameters of /api/generate: words or topic, n, temperature, syntax, seed."""
    words, topic = q.get("words", "").strip(), q.get("topic", "").strip()
    if words and topic:
        raise BadRequest("give context words (words=...) or a topic (topic=NAME), not both")
    if not words and not topic:
        raise BadRequest("no context words: type a few words of a field (words=star+gravity+galaxies), "
                         "or pick a topic (topic=NAME; /api/topics lists them)")
    if words:
        count = len(words.split())
        if count > limits.max_words:
            raise BadRequest(f"{count:,} words: at most {limits.max_words:,} are read (serve.max_words); "
                             "a few words, or an abstract, say enough for the topics", status=413)
    n = integer(q, "n", limits.n, 1, limits.max_n, why="serve.max_n")
    t = number(q, "temperature", limits.temperature, 0.0, limits.max_temperature)
    syntax = switch(q, "syntax", limits.syntax)
    seed = integer(q, "seed", default_seed, 0, 2**31 - 1)
    return Generate(words or None, topic or None, n, t, syntax, seed)


def integer(q: dict[str, str], name: str, default: int, low: int, high: int, why: str = "") -> int:
    v = q.get(name, "").strip()
    if not v:
        return default
    try:
        x = int(v)
    except ValueError:
        raise BadRequest(f"{name}={v[:40]!r}: give a whole number from {low} to {high}") from None
    if not low <= x <= high:
        raise BadRequest(f"{name}={x}: give a whole number from {low} to {high}" + (f" ({why})" if why else ""))
    return x


def number(q: dict[str, str], name: str, default: float, low: float, high: float) -> float:
    v = q.get(name, "").strip()
    if not v:
        return default
    try:
        x = float(v)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and low <= x <= high):
        raise BadRequest(f"{name}={v[:40]!r}: give a number from {low:g} to {high:g}")
    return x


def switch(q: dict[str, str], name: str, default: bool) -> bool:
    v = q.get(name, "").strip().lower()
    if not v:
        return default
    if v in ("1", "true", "on", "yes"):
        return True
    if v in ("0", "false", "off", "no"):
        return False
    raise BadRequest(f"{name}={v[:40]!r}: give true or false")
