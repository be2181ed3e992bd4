"""One line per stage (what it did or reused, wall and CPU time) and `outputs/<run>/stages.json`.

CPU time is this process's plus its finished children's (worker pools, pdflatex), so it is the
machine time a stage cost; wall time is what a user waits. The report reads stages.json.
"""
from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.atomic import write_text


def _cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + _live_children_cpu()


def _live_children_cpu() -> float:
    """CPU of children still alive, with what they reaped: a forkserver (topic restarts) outlives
    its workers, whose time getrusage only sees when the server itself ends. Linux /proc; 0 elsewhere."""
    total = 0.0
    me = os.getpid()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based past ')'
        if int(fields[1]) == me:
            total += sum(int(x) for x in fields[11:15]) / tick
    return total


def timed_stage(name: str, work: Callable[[], Any], record: Path) -> tuple[Any, str]:
    """Run a stage; returns its result and the line to print. `record` (stages.json) gains the
    stage's entry: wall_s, cpu_s, reused, finished (UTC)."""
    t0, c0 = time.perf_counter(), _cpu_seconds()
    result = work()
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    reused = bool(isinstance(result, dict) and result.get("reused"))
    entries = {}
    if record.exists():
        try:
            entries = json.loads(record.read_text(encoding="utf-8"))
        except ValueError:
            entries = {}
    entries[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "reused": reused,
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    record.parent.mkdir(parents=True, exist_ok=True)
    write_text(record, json.dumps(entries, indent=1))
    what = "reused its earlier output" if reused else "done"
    return result, f"stage {name}: {what} in {_fmt(wall)} (CPU {_fmt(cpu)})"


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
