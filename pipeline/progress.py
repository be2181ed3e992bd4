"""Progress for long work that reads well in a terminal and does not flood a log file.

On a terminal (stderr is a TTY) this is tqdm's bar. Written to a file or a pipe, tqdm's redraws
become thousands of carriage-return fragments; there a bar is one plain line every `interval`
seconds (and one when it finishes), e.g. `validate: 12,000/61,632 eq (19%), 450 eq/s, ~2 min left`.
tqdm has no such mode of its own (`mininterval` still writes carriage-return redraws), hence this.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bar(total: int | None, desc: str, unit: str = "it", enabled: bool = True, interval: float = 30.0,
        leave: bool = True, **tqdm_kw: Any) -> Any:
    """A progress object with tqdm's `update(n)`, `n`, `refresh()`, `set_description()`,
    `set_postfix_str()` and `close()`: tqdm on a terminal, `LineProgress` elsewhere, inert when
    disabled."""
    if not enabled:
        return LineProgress(total, desc, unit, interval, leave=False, silent=True)
    if is_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=leave, **tqdm_kw)
    return LineProgress(total, desc, unit, interval, leave=leave)


class LineProgress:
    """One line every `interval` seconds while work goes on, and one at the end (when `leave`)."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", interval: float = 30.0,
                 leave: bool = True, silent: bool = False, stream: TextIO | None = None, initial: int = 0) -> None:
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.leave, self.silent, self.stream = leave, silent, stream
        self.n = self.initial = initial  # `initial`: done before this process started (a resumed run)
        self.postfix = ""
        self._t0 = self._last = time.perf_counter()
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh()

    def due(self) -> bool:
        """A refresh now would write a line (what goes into it need only be computed then)."""
        return not self.silent and time.perf_counter() - self._last >= self.interval

    def refresh(self) -> None:
        now = time.perf_counter()
        if not self.silent and now - self._last >= self.interval:
            self._last = now
            self._write(now)

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.leave and not self.silent:
            self._write(time.perf_counter(), final=True)

    def line(self, now: float | None = None, final: bool = False) -> str:
        now = time.perf_counter() if now is None else now
        took = max(now - self._t0, 1e-9)
        rate = (self.n - self.initial) / took
        done = f"{self.n:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}"
        if self.total:
            done += f" ({100 * self.n / self.total:.0f}%)"
        parts = [f"{self.desc}: {done}", f"{rate:,.1f} {self.unit}/s"]
        if final:
            parts.append(f"done in {_duration(took)}")
        elif self.total and rate > 0:
            parts.append(f"~{_duration((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _write(self, now: float, final: bool = False) -> None:
        stream = self.stream or sys.stderr
        print(self.line(now, final), file=stream, flush=True)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
