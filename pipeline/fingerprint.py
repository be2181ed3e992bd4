"""Fingerprints that decide when a stage's saved work can be reused."""
from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def code_fingerprint(*relative: str) -> str:
    """A hash of the source files (globs relative to the package; its data files are `data/...`)
    whose behaviour a stage's outputs depend on: changing that code redoes the work on the next run."""
    h = hashlib.sha1()
    for pattern in relative:
        for path in sorted(_PACKAGE.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (data files are hashed, never the code that made them)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
