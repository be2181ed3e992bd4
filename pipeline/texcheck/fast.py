"""The fast mode: batches of equations per TeX process, several processes in parallel.

Each equation is judged in a batch when the classifier allows it, alone (by the reference mode
itself) otherwise, and alone as well whenever a batch cannot vouch for its outcome.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from pipeline.texcheck.batch import run_batch
from pipeline.texcheck.classify import batchable
from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.reference import check_reference
from pipeline.texcheck.verdict import Verdict


def check_fast(displays: list[str], preamble: Preamble, fmt: Path, workers: int, timeout_s: float,
               batch_size: int = 64, on_done: Callable[[int], None] | None = None) -> list[Verdict]:
    results: list[Verdict | None] = [None] * len(displays)
    pad = preamble.line_count + 1  # the preamble's lines and `\begin{document}`

    def alone(i: int) -> int:
        results[i] = check_reference(preamble, displays[i], timeout_s)
        return 1

    def in_batches(indices: list[int]) -> int:
        todo = indices
        while todo:
            outs = run_batch([displays[i] for i in todo], pad, fmt, timeout_s)
            for i, out in zip(todo, outs):
                if out.verdict is not None:
                    results[i] = out.verdict
                else:
                    alone(i)
            if not outs:  # TeX stopped before the first equation: judge it alone, go on
                alone(todo[0])
            todo = todo[max(1, len(outs)):]
        return len(indices)

    together = [i for i, d in enumerate(displays) if batchable(d)]
    apart = [i for i, d in enumerate(displays) if not batchable(d)]
    size = max(1, min(batch_size, -(-len(together) // max(1, workers))))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(in_batches, together[k:k + size]) for k in range(0, len(together), size)]
        futures += [pool.submit(alone, i) for i in apart]
        for fut in as_completed(futures):
            n = fut.result()
            if on_done is not None:
                on_done(n)
    return [v if v is not None else Verdict(False, "internal: no verdict") for v in results]


def check_reference_all(displays: list[str], preamble: Preamble, workers: int, timeout_s: float,
                        on_done: Callable[[int], None] | None = None) -> list[Verdict]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(check_reference, preamble, d, timeout_s) for d in displays]
        for fut in as_completed(futures):
            if on_done is not None:
                on_done(1)
        return [f.result() for f in futures]
