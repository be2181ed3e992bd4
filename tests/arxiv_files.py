"""Builders of tiny arXiv-format fixtures: bulk tars, per-paper gzipped tars and single .tex files."""
from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

DOC = "\\documentclass{article}\n\\begin{document}\n%s\n\\end{document}\n"


def tar_bytes(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> bytes:
    """An uncompressed tar with `files` (name -> content) and symlinks `links` (name -> target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def gz(data: bytes | str) -> bytes:
    return gzip.compress(data.encode() if isinstance(data, str) else data)


def paper_tar_gz(files: dict[str, bytes | str], links: dict[str, str] | None = None) -> bytes:
    return gz(tar_bytes(files, links))


def bulk_tar(path: Path, members: dict[str, bytes]) -> Path:
    """An arXiv bulk tar at `path` whose members are `<yymm>/<id>.gz` blobs."""
    path.write_bytes(tar_bytes(members))
    return path


def metadata(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path
