"""The server's parts that need no model: what a request may ask (each bad input refused with a
message that says what to send) and the batcher (real threads) that puts requests together."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest

from pipeline.serve import params
from pipeline.serve.batching import Batcher
from pipeline.serve.params import BadRequest, Limits
from tests.conftest import default_config

LIMITS = Limits(n=8, max_n=32, max_words=2000, max_query_bytes=65536, temperature=1.0, max_temperature=2.0, syntax=True)


def ask(raw: bytes):
    return params.generate(params.query(raw, LIMITS), LIMITS, default_seed=5)


def refused(raw: bytes) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        ask(raw)
    return info.value


def test_a_good_request_and_its_defaults():
    g = ask(b"words=star+gravity%20galaxies")
    assert (g.words, g.topic, g.n, g.temperature, g.syntax, g.seed) == ("star gravity galaxies", None, 8, 1.0, True, 5)
    g = ask(b"topic=astrophysics&n=3&temperature=0.7&syntax=false&seed=12")
    assert (g.topic, g.n, g.temperature, g.syntax, g.seed) == ("astrophysics", 3, 0.7, False, 12)
    assert ask("words=Schr%C3%B6dinger".encode()).words == "Schrödinger"


def test_bad_requests_say_what_to_send():
    assert "no context words" in refused(b"words=%20%20").message
    assert "no context words" in refused(b"n=3").message
    assert "not both" in refused(b"words=a&topic=b").message
    too_many = refused(b"words=" + b"+".join([b"word"] * 10_000))
    assert too_many.status == 413 and "10,000 words" in too_many.message and "2,000" in too_many.message
    assert "not UTF-8" in refused(b"words=%FF%FEstar").message
    assert "not UTF-8" in refused(b"words=\xff\xfe").message  # raw bytes, as a POST body may carry
    over = refused(b"words=star&n=33")
    assert "from 1 to 32" in over.message and "serve.max_n" in over.message
    assert "whole number" in refused(b"words=star&n=eight").message
    for t in (b"nan", b"inf", b"-1", b"2.5", b"hot"):
        assert "number from 0 to 2" in refused(b"words=star&temperature=" + t).message
    assert "true or false" in refused(b"words=star&syntax=maybe").message
    big = b"words=" + b"a" * 70_000
    assert refused(big).status == 413


def test_html_and_latex_in_words_stay_text():
    g = ask(b"words=%3Cscript%3Ealert(1)%3C%2Fscript%3E+%5Cinput%7B%2Fetc%2Fpasswd%7D+galaxies")
    assert g.words == "<script>alert(1)</script> \\input{/etc/passwd} galaxies"


def test_the_serve_config_binds_to_loopback_by_default():
    from pipeline.serve.server import is_loopback

    cfg = default_config()
    assert cfg.serve.host == "127.0.0.1" and is_loopback(cfg.serve.host)
    assert not is_loopback("0.0.0.0") and is_loopback("::1")


@dataclass
class Job:
    rows: int
    future: Future = field(default_factory=Future)


def test_the_batcher_puts_waiting_requests_in_one_batch():
    seen: list[int] = []

    def process(batch):
        seen.append(len(batch))
        time.sleep(0.05)  # the work: later requests queue meanwhile
        for j in batch:
            j.future.set_result(j.rows * 10)

    b = Batcher(process, wait_s=0.02, max_rows=40).start()
    try:
        jobs = [Job(8) for _ in range(12)]
        threads = [threading.Thread(target=b.submit, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        assert [j.future.result(timeout=10) for j in jobs] == [80] * 12
        assert sum(seen) == 12 and len(seen) < 12 and max(seen) <= 5  # 5 x 8 rows fill a batch of 40
    finally:
        b.stop()


def test_a_failing_batch_answers_its_requests_and_the_next_is_served():
    calls = []

    def process(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("TeX went away")
        for j in batch:
            j.future.set_result("ok")

    b = Batcher(process, wait_s=0.0).start()
    try:
        with pytest.raises(RuntimeError, match="TeX went away"):
            b.submit(Job(1)).result(timeout=10)
        assert b.submit(Job(1)).result(timeout=10) == "ok"
    finally:
        b.stop()
