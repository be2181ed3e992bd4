"""Checking a JSON-lines file of equations: records in, the same records out with `compiles` and
`error`, and a summary (docs/validate.md). Memory is bounded: the input is read in chunks.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from pipeline.atomic import atomic_open, write_text
from pipeline.texcheck import Equation, Preamble, Verdict, check_with_stats
from pipeline.texcheck.installation import tex_versions
from pipeline.texcheck.logparse import error_kind
from pipeline.texcheck.record import DISPLAY_ENVS

log = logging.getLogger("pipeline.validate")

PROGRESS_MIN = 200  # a bar for shorter inputs is noise
CHUNK = 20000       # input lines held in memory at once


def read_records(src: Path, chunk: int = CHUNK) -> Iterator[list[tuple[dict | None, Equation | None, str | None]]]:
    """Input lines in chunks: per line the parsed object (or None), its Equation (or None), and why
    the line is bad (or None). Chunks keep memory bounded on inputs of any length."""
    part: list[tuple[dict | None, Equation | None, str | None]] = []
    with open(src, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            part.append(_parse(line, n, src))
            if len(part) >= chunk:
                yield part
                part = []
    if part:
        yield part


def _parse(line: str, n: int, src: Path) -> tuple[dict | None, Equation | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, None, f"{src}:{n}: not JSON ({e.msg})"
    if not isinstance(obj, dict) or not isinstance(obj.get("latex"), str):
        return (obj if isinstance(obj, dict) else None), None, f"{src}:{n}: no string field `latex`"
    env = obj.get("env") or "equation"
    if not isinstance(env, str) or env.rstrip("*") not in DISPLAY_ENVS:
        return obj, None, f"{src}:{n}: env {env!r} is not one of {', '.join(DISPLAY_ENVS)}"
    return obj, Equation(obj["latex"], env, obj.get("env_arg")), None


def validate_file(src: Path, dst: Path, preamble: Preamble, mode: str = "fast", workers: int | None = None,
                  timeout_s: float = 10.0, cache_dir: Path | None = None, use_cache: bool = True,
                  progress: bool = True, top: int = 10) -> dict:
    t0 = time.perf_counter()
    with open(src, encoding="utf-8", errors="replace") as f:
        total = sum(1 for line in f if line.strip())
    bar = None
    if progress and total >= PROGRESS_MIN:
        from pipeline.progress import bar as progress_bar

        bar = progress_bar(total, "validate", "eq")
    tally = _Tally()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(dst) as out:
            for part in read_records(src):
                good = [eq for _, eq, _ in part if eq is not None]
                verdicts, stats = check_with_stats(good, preamble, mode=mode, workers=workers, timeout_s=timeout_s,
                                                   cache_dir=cache_dir, use_cache=use_cache,
                                                   on_done=bar.update if bar else None)
                if bar is not None:
                    bar.update(len(part) - len(good))
                tally.cached += stats.cached
                it = iter(verdicts)
                for obj, eq, why in part:
                    v = next(it) if eq is not None else Verdict(False, why)
                    if why:
                        log.warning("validate: bad input line: %s", why)
                    tally.add(v, bad=why is not None)
                    row = dict(obj) if obj is not None else {"input_line_error": True}
                    row["compiles"], row["error"] = v.compiles, v.error
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if bar is not None:
            bar.close()
    summary = make_summary(tally, preamble, mode, workers, time.perf_counter() - t0, top)
    summary["input"], summary["output"] = str(src), str(dst)
    write_text(Path(str(dst) + ".summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary


@dataclass
class _Tally:
    count: int = 0
    compiled: int = 0
    bad_lines: int = 0
    cached: int = 0
    kinds: Counter = field(default_factory=Counter)

    def add(self, v: Verdict, bad: bool) -> None:
        self.count += 1
        self.compiled += v.compiles
        if bad:
            self.bad_lines += 1
        elif not v.compiles:
            self.kinds[error_kind(v.error)] += 1


def make_summary(t: _Tally, preamble: Preamble, mode: str, workers: int | None, seconds: float, top: int) -> dict:
    pdftex, texlive = tex_versions()
    return {
        "count": t.count,
        "compiled": t.compiled,
        "compile_rate": t.compiled / t.count if t.count else 0.0,
        "bad_lines": t.bad_lines,
        "top_errors": [{"kind": k, "count": c} for k, c in t.kinds.most_common(top)],
        "pdftex_version": pdftex,
        "texlive_version": texlive,
        "preamble_hash": preamble.hash,
        "mode": mode,
        "workers": workers,
        "cached": t.cached,
        "seconds": round(seconds, 3),
        "equations_per_s": round(t.count / seconds, 1) if seconds > 0 else None,
    }
