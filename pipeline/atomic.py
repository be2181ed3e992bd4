"""Files that exist whole or not at all: written to a temporary sibling, then renamed.

A stage killed mid-write leaves the old file (or none), never half of a new one, so a re-run can
trust whatever it finds. The rename is atomic on POSIX because the temporary file sits in the same
folder; on failure the temporary file is removed.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", opener: Callable[..., IO] = open, **kwargs: Any) -> Iterator[IO]:
    """`opener(tmp, mode, **kwargs)` (`open`, `gzip.open`...), renamed onto `path` when the block succeeds.
    Text modes default to UTF-8."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, opener(tmp, mode, **kwargs) as fh:
        yield fh


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + ("\n" if indent is not None else ""))


def read_json_or_empty(path: str | Path) -> dict:
    """A JSON file a stage saved, or {} when it is missing or unreadable (a re-run then redoes the work)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
