"""A verdict: does one equation compile, and if not, TeX's first error."""
from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_PREFIX = "TeX ran past the time limit"


@dataclass(frozen=True)
class Verdict:
    compiles: bool
    error: str | None  # `<first error message> | <l.N context>`; None when it compiles

    @property
    def timed_out(self) -> bool:
        return self.error is not None and self.error.startswith(TIMEOUT_PREFIX)

    @staticmethod
    def timeout(seconds: float) -> "Verdict":
        return Verdict(False, f"{TIMEOUT_PREFIX} of {seconds:g} s (an endless loop?)")
