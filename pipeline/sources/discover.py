"""Turning `data.sources` into units of work, each written as one output shard.

A unit is an arXiv bulk tar, a batch of per-paper archive files from one folder, or a batch of
per-document folders. Units list their paper ids cheaply (names only) so metadata can be joined
before anything is decompressed, then yield the papers themselves one at a time: the reading
process never holds more than the papers in flight.
"""
from __future__ import annotations

import hashlib
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipeline.skips import Skip
from pipeline.sources.archive import ends_cleanly, safe_member_path
from pipeline.sources.ids import paper_id, strip_suffix
from pipeline.sources.paper import RawPaper

PAPER_FILE_SUFFIXES = (".gz", ".tgz", ".tar.gz")
FILES_PER_UNIT = 256
FOLDERS_PER_UNIT = 32


@dataclass
class Bad:
    """An entry that is bad before any worker sees it (unsafe member name, truncated bulk tar…)."""

    id: str | None
    source: str
    reason: str
    detail: str = ""


Item = RawPaper | Bad


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha1()
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class Unit:
    kind: str                 # bulk_tar | paper_files | doc_folders
    paths: list[Path]
    key: str = ""
    fingerprint: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        ident = hashlib.sha1("\n".join([self.kind, *map(str, self.paths)]).encode()).hexdigest()[:10]
        first = strip_suffix(self.paths[0].name) if self.paths else "empty"
        # Keys name files `<key>.jsonl.gz`, `<key>.done.json`…: no dots in them, so the part before
        # the first dot is always the key (`2101.00001.gz` would otherwise lose its shard).
        self.key = f"{re.sub(r'[^A-Za-z0-9_-]', '_', first)}-{ident}"
        self.label = str(self.paths[0]) if len(self.paths) == 1 else f"{self.paths[0].parent} ({len(self.paths)} entries)"
        if self.kind == "doc_folders":
            files = [self.paths[0]] + sorted(q for p in self.paths for q in p.rglob("*") if q.is_file() and not q.is_symlink())
            self.fingerprint = _fingerprint(files)
        else:
            self.fingerprint = _fingerprint(self.paths)

    # ids only, in the order items() yields them ------------------------------------------------
    def names(self) -> Iterator[str | None]:
        if self.kind == "bulk_tar":
            try:
                with tarfile.open(self.paths[0], mode="r:") as tar:
                    for m in tar:
                        if not m.isdir():
                            yield paper_id(m.name)
            except (tarfile.ReadError, EOFError, OSError):
                return  # items() reports it
        else:
            for p in self.paths:
                yield paper_id(p.name)

    # the papers themselves -----------------------------------------------------------------
    def items(self, max_bytes: int) -> Iterator[Item]:
        if self.kind == "bulk_tar":
            yield from self._bulk_items(max_bytes)
        elif self.kind == "paper_files":
            for p in self.paths:
                pid = paper_id(p.name)
                try:
                    if p.stat().st_size > max_bytes:
                        yield Bad(pid, str(p), "too_large", f"{p.stat().st_size} bytes")
                        continue
                    yield RawPaper(id=pid, source=str(p), blob=p.read_bytes(), name=p.name)
                except OSError as exc:
                    yield Bad(pid, str(p), "unreadable", str(exc))
        else:
            for p in self.paths:
                yield RawPaper(id=paper_id(p.name), source=str(p), folder=str(p))

    def _bulk_items(self, max_bytes: int) -> Iterator[Item]:
        tar_path = self.paths[0]
        try:
            with tarfile.open(tar_path, mode="r:") as tar:
                for m in tar:
                    if m.isdir():
                        continue
                    source = f"{tar_path}:{m.name}"
                    pid = paper_id(m.name)
                    try:
                        safe_member_path(m.name)
                    except Skip as skip:
                        yield Bad(pid, source, skip.reason, skip.detail)
                        continue
                    if m.issym() or m.islnk():
                        yield Bad(pid, source, "link_member", m.name)
                        continue
                    if not m.isfile():
                        yield Bad(pid, source, "special_member", m.name)
                        continue
                    if m.size > max_bytes:
                        yield Bad(pid, source, "too_large", f"{m.size} bytes")
                        continue
                    fh = tar.extractfile(m)
                    blob = fh.read() if fh else b""
                    if len(blob) != m.size:
                        yield Bad(pid, source, "truncated_tar", f"{m.name} is cut short")
                        return
                    yield RawPaper(id=pid, source=source, blob=blob, name=m.name)
                if not ends_cleanly(tar):
                    yield Bad(None, str(tar_path), "truncated_tar", "no end-of-archive block: the tar is cut short")
        except (tarfile.ReadError, EOFError, OSError) as exc:
            yield Bad(None, str(tar_path), "truncated_tar", str(exc))


def _is_paper_file(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(PAPER_FILE_SUFFIXES)


def _chunks(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for i in range(0, len(paths), size):
        yield paths[i : i + size]


def discover(sources: list[str | Path]) -> list[Unit]:
    """Units of work for `data.sources`, in a stable order; a missing source is an error."""
    units: list[Unit] = []
    for src in sources:
        path = Path(src)
        if not path.exists():
            raise FileNotFoundError(
                f"source {path} does not exist (resolved from {os.getcwd()}): fix data.sources"
            )
        if path.is_file():
            if path.name.endswith(".tar") and not path.name.endswith(".tar.gz"):
                units.append(Unit("bulk_tar", [path]))
            elif _is_paper_file(path):
                units.append(Unit("paper_files", [path]))
            else:
                raise ValueError(f"source {path} is neither a bulk .tar nor a per-paper .gz/.tar.gz file")
            continue
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        if any(p.is_file() and p.suffix in (".tex", ".ltx") for p in entries):
            units.append(Unit("doc_folders", [path]))  # the folder is itself one document
            continue
        for p in entries:
            if p.is_file() and p.name.endswith(".tar") and not p.is_symlink():
                units.append(Unit("bulk_tar", [p]))
        paper_files = [p for p in entries if _is_paper_file(p) and not p.is_symlink()]
        units += [Unit("paper_files", chunk) for chunk in _chunks(paper_files, FILES_PER_UNIT)]
        folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
        units += [Unit("doc_folders", chunk) for chunk in _chunks(folders, FOLDERS_PER_UNIT)]
    return units
