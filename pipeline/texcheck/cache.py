"""Verdicts cached on disk by (preamble hash, equation hash), so re-validating is instant."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from pipeline.texcheck.verdict import Verdict


class VerdictCache:
    """A sqlite file; use from one thread. `None` path: a cache that remembers nothing."""

    def __init__(self, path: Path | None) -> None:
        self._db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60)
            self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (preamble TEXT, equation TEXT, "
                             "compiles INTEGER, error TEXT, PRIMARY KEY (preamble, equation))")

    def get_many(self, preamble: str, hashes: list[str]) -> dict[str, Verdict]:
        found: dict[str, Verdict] = {}
        if self._db is None:
            return found
        for start in range(0, len(hashes), 500):  # sqlite's limit on bound parameters
            part = hashes[start:start + 500]
            q = ("SELECT equation, compiles, error FROM verdicts WHERE preamble = ? AND equation IN (%s)"
                 % ",".join("?" * len(part)))
            for eq, ok, err in self._db.execute(q, [preamble, *part]):
                found[eq] = Verdict(bool(ok), err)
        return found

    def put_many(self, preamble: str, verdicts: dict[str, Verdict]) -> None:
        if self._db is None or not verdicts:
            return
        # a time-out depends on the limit and the machine's load, not on the equation alone
        rows = [(preamble, h, int(v.compiles), v.error) for h, v in verdicts.items() if not v.timed_out]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
