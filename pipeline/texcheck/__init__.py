"""Compile checking of display equations with real pdflatex (no Hydra here: plain arguments).

    from pipeline.texcheck import Equation, Preamble, check
    verdicts = check([Equation(r"\\frac{a}{b}")], Preamble(), mode="fast")

See docs/validate.md for the verdict's definition and why the fast mode gives the same verdicts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.record import Equation
from pipeline.texcheck.verdict import Verdict

MODES = ("fast", "reference")

__all__ = ["Equation", "Preamble", "Verdict", "CheckStats", "check", "check_with_stats", "MODES"]


@dataclass(frozen=True)
class CheckStats:
    cached: int    # records answered from the verdict cache
    judged: int    # distinct displays compiled in this call


def check(records: Sequence[Equation], preamble: Preamble | None = None, mode: str = "fast",
          workers: int | None = None, timeout_s: float = 10.0, cache_dir: Path | None = None,
          use_cache: bool = True, on_done: Callable[[int], None] | None = None) -> list[Verdict]:
    """One verdict per record, in order. `cache_dir` holds the dumped format (fast mode) and the
    verdict cache (`verdicts.sqlite`); without it nothing is cached (a temporary format is built).
    `on_done(n)` is told each time n more records are settled (for a progress bar)."""
    return check_with_stats(records, preamble, mode, workers, timeout_s, cache_dir, use_cache, on_done)[0]


def check_with_stats(records: Sequence[Equation], preamble: Preamble | None = None, mode: str = "fast",
                     workers: int | None = None, timeout_s: float = 10.0, cache_dir: Path | None = None,
                     use_cache: bool = True, on_done: Callable[[int], None] | None = None,
                     ) -> tuple[list[Verdict], CheckStats]:
    from pipeline.texcheck.cache import VerdictCache

    if mode not in MODES:
        raise ValueError(f"unknown mode '{mode}'; use one of {', '.join(MODES)}")
    preamble = preamble or Preamble()
    workers = workers or os.cpu_count() or 1
    displays = [r.display for r in records]
    keys = [r.hash for r in records]
    cache = VerdictCache(Path(cache_dir) / "verdicts.sqlite" if (cache_dir and use_cache) else None)
    try:
        known = cache.get_many(preamble.hash, sorted(set(keys)))
        if on_done is not None and known:
            on_done(sum(1 for k in keys if k in known))
        # judge each distinct display once
        todo: dict[str, str] = {}
        for k, d in zip(keys, displays):
            if k not in known and k not in todo:
                todo[k] = d
        fresh = _judge(list(todo.values()), preamble, mode, workers, timeout_s, cache_dir, on_done)
        new = dict(zip(todo.keys(), fresh))
        cache.put_many(preamble.hash, new)
    finally:
        cache.close()
    cached = sum(1 for k in keys if k in known)
    known.update(new)
    return [known[k] for k in keys], CheckStats(cached=cached, judged=len(new))


def _judge(displays: list[str], preamble: Preamble, mode: str, workers: int, timeout_s: float,
           cache_dir: Path | None, on_done: Callable[[int], None] | None) -> list[Verdict]:
    if not displays:
        return []
    if mode == "reference":
        from pipeline.texcheck.fast import check_reference_all

        return check_reference_all(displays, preamble, workers, timeout_s, on_done)
    import tempfile

    from pipeline.texcheck.fast import check_fast
    from pipeline.texcheck.fmt import format_path

    if cache_dir is not None:
        return check_fast(displays, preamble, format_path(preamble, Path(cache_dir)), workers, timeout_s,
                          on_done=on_done)
    with tempfile.TemporaryDirectory(prefix="texcheck-fmtcache-") as tmp:
        return check_fast(displays, preamble, format_path(preamble, Path(tmp)), workers, timeout_s,
                          on_done=on_done)
