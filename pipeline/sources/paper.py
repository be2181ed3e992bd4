"""One paper from raw bytes or a folder to a flattened record (runs in a worker process)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.latex.comments import strip_comments
from pipeline.latex.flatten import flatten
from pipeline.skips import Skip
from pipeline.sources.archive import is_text_name, paper_files
from pipeline.sources.text_encoding import decode_tex


@dataclass(frozen=True)
class Limits:
    max_paper_bytes: int
    max_file_bytes: int
    max_input_depth: int


@dataclass
class RawPaper:
    """What the reading process hands a worker: an archive's bytes, or a folder to read."""

    id: str
    source: str
    blob: bytes | None = None   # a member/file: gzip, tar or plain .tex bytes
    name: str = ""              # its member or file name (names a single .tex)
    folder: str | None = None   # a plain per-document folder
    meta: dict | None = None


def read_folder(folder: str, limits: Limits) -> dict[str, bytes]:
    """Text files of a document folder. Links are not followed: a plain folder is trusted no more than an archive."""
    root = Path(folder)
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file() or not is_text_name(rel):
                continue
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                continue
            total += size
            if total > limits.max_paper_bytes:
                raise Skip("too_large", f"text files sum to more than {limits.max_paper_bytes} bytes")
            try:
                files[rel] = path.read_bytes()
            except OSError as exc:
                raise Skip("unreadable", f"{path}: {exc}") from None
    if not files:
        raise Skip("empty_archive", "no .tex files in the folder")
    return files


def ingest_paper(raw: RawPaper, limits: Limits) -> dict:
    """The flattened record of one paper (format: docs/formats.md); Skip on bad input."""
    if raw.folder is not None:
        blobs = read_folder(raw.folder, limits)
    else:
        assert raw.blob is not None
        blobs = paper_files(raw.blob, raw.name, limits.max_paper_bytes, limits.max_file_bytes)
    texts: dict[str, str] = {}
    fallback = False
    for path, data in blobs.items():
        text, used = decode_tex(data)
        fallback |= used
        texts[path] = strip_comments(text)
    main_tex = (raw.meta or {}).get("main_tex")
    flat = flatten(texts, raw.id, main_tex, limits.max_input_depth, limits.max_paper_bytes)
    return {
        "id": raw.id,
        "source": raw.source,
        "main_tex": flat.main_tex,
        "latex": flat.latex,
        "styles": flat.styles,
        "missing_inputs": flat.missing_inputs,
        "encoding_fallback": fallback,
        "n_files": len(blobs),
        "meta": raw.meta,
    }
