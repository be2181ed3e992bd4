"""An ordered map over a process pool that never queues more than `in_flight` items.

`Executor.map` and `Pool.imap` read their whole input up front; for a corpus that would mean
holding every paper in memory. Here the input is consumed only as results are taken.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Executor, Future
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    pool: Executor | None,
    in_flight: int,
    passthrough: Callable[[T], bool] = lambda _: False,
) -> Iterator[tuple[T, R | None]]:
    """Yield (item, fn(item)) in input order; items for which `passthrough` is true get (item, None)
    without going to a worker. With no pool everything runs in this process."""
    if pool is None:
        for item in items:
            yield item, (None if passthrough(item) else fn(item))
        return
    queue: deque[tuple[T, Future | None]] = deque()
    for item in items:
        queue.append((item, None if passthrough(item) else pool.submit(fn, item)))
        while len(queue) >= in_flight:
            head, fut = queue.popleft()
            yield head, (fut.result() if fut else None)
    while queue:
        head, fut = queue.popleft()
        yield head, (fut.result() if fut else None)
