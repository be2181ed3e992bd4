"""Copies of the shared corpora for the scale benchmarks: each copy with new ids and altered content.

Copy k of an arXiv bulk tar holds every paper under a new old-style id (`copy<letters>/<n>`, unique by
construction) with the Greek-letter commands of its .tex files rotated by k+1 places (`\\alpha` ->
`\\beta` ...): the equations, their hashes and the duplicate sets grow as with real new papers, while
the work per paper stays what it was. Document folders get `-c<k>` names; prose records (for topics)
new ids and, for one word in 20 (by a hash of the word), a copy-specific spelling, so the dictionary
grows too. Metadata is rewritten to the new ids beside each copy. Used by scale_prepare.py and
scale_topics.py; run by hand.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
         "phi chi psi omega").split()
_GREEK_RE = re.compile(r"\\(" + "|".join(sorted(GREEK, key=len, reverse=True)) + r")(?![A-Za-z])")


def letters(k: int) -> str:
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(97 + r) + out
    return out


def rotate_greek(text: str, k: int) -> str:
    shift = k + 1
    return _GREEK_RE.sub(lambda m: "\\" + GREEK[(GREEK.index(m.group(1)) + shift) % len(GREEK)], text)


def _alter_blob(blob: bytes, name: str, k: int) -> bytes:
    """A paper file (gzipped tar or gzipped single .tex) with its .tex files altered."""
    raw = gzip.decompress(blob)
    try:
        src = tarfile.open(fileobj=io.BytesIO(raw))
    except tarfile.TarError:
        return gzip.compress(rotate_greek(raw.decode("latin-1"), k).encode("latin-1"), compresslevel=3)
    out = io.BytesIO()
    with src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src:
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None and m.name.lower().endswith(".tex"):
                data = rotate_greek(data.decode("latin-1"), k).encode("latin-1")
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return gzip.compress(out.getvalue(), compresslevel=3)


def copy_arxiv(src: Path, dst: Path, k: int) -> None:
    from pipeline.sources.ids import canonical_id, paper_id

    dst.mkdir(parents=True, exist_ok=True)
    meta = {}
    for line in (src / "arxiv-metadata.jsonl").open(encoding="utf-8"):
        obj = json.loads(line)
        meta[canonical_id(obj["id"])] = obj
    n, new_meta = 0, []
    for tar_path in sorted(src.glob("arXiv_src_*.tar")):
        with tarfile.open(tar_path) as tar, tarfile.open(dst / tar_path.name, "w") as out:
            for m in tar:
                if not m.isfile():
                    continue
                old = paper_id(m.name)
                n += 1
                new = f"copy{letters(k)}/{n:07d}"
                data = _alter_blob(tar.extractfile(m).read(), m.name, k)
                info = tarfile.TarInfo(f"{m.name.split('/')[0]}/{new.replace('/', '')}.gz")
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
                if old in meta:
                    new_meta.append({**meta[old], "id": new})
    with (dst / "arxiv-metadata.jsonl").open("w", encoding="utf-8") as fh:
        for obj in new_meta:
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


def copy_folders(src: Path, dst: Path, k: int) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    suffix = f"-c{k}"
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.is_symlink()):
        target = dst / (folder.name + suffix)
        shutil.copytree(folder, target, symlinks=True, dirs_exist_ok=True)
        for tex in target.rglob("*.tex"):
            if tex.is_file() and not tex.is_symlink():
                tex.write_bytes(rotate_greek(tex.read_bytes().decode("latin-1"), k).encode("latin-1"))
    with (src / "metadata.jsonl").open(encoding="utf-8") as fh, (dst / "metadata.jsonl").open("w", encoding="utf-8") as out:
        for line in fh:
            obj = json.loads(line)
            obj["id"] = obj["id"] + suffix
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")


_WORD = re.compile(r"[A-Za-z]{4,}")


def _respell(text: str, k: int) -> str:
    def sub(m: re.Match) -> str:
        w = m.group(0)
        return w + letters(k) if hashlib.blake2b(w.lower().encode(), digest_size=2).digest()[0] % 20 == 0 else w
    return _WORD.sub(sub, text)


def copy_prose(src: Path, dst: Path, k: int) -> None:
    """A prose file (JSON lines, .gz or not) with new ids and one word in 20 respelt."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    gz = src.name.endswith(".gz")
    reader = gzip.open(src, "rt", encoding="utf-8") if gz else open(src, encoding="utf-8")
    writer = gzip.open(dst, "wt", encoding="utf-8", compresslevel=3) if gz else open(dst, "w", encoding="utf-8")
    with reader as fh, writer as out:
        for line in fh:
            obj = json.loads(line)
            obj["id"] = f"c{letters(k)}-{obj['id']}"
            for key in ("text", "abstract", "title"):
                if isinstance(obj.get(key), str):
                    obj[key] = _respell(obj[key], k)
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def make_copies(corpus: Path, work: Path, n: int, parts: tuple[str, ...]) -> list[Path]:
    """Copies 0..n-1 under work/copies/<k>/ (made once; a `done` file marks a finished copy)."""
    out = []
    for k in range(n):
        root = work / "copies" / str(k)
        done = root / ("done-" + "-".join(parts))
        if not done.exists():
            if "arxiv" in parts:
                copy_arxiv(corpus / "arxiv", root / "arxiv", k)
            if "folders" in parts:
                copy_folders(corpus / "folders", root / "folders", k)
            if "prose" in parts:
                for f in sorted((corpus / "prose").glob("*.jsonl*")):
                    copy_prose(f, root / "prose" / f.name, k)
            done.write_text("ok")
        out.append(root)
    return out
