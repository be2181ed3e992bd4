"""Safe, in-memory reading of gzip and tar data: nothing is ever extracted to disk.

A paper's files become a dict {relative posix path: bytes}. Paths are checked before use (no
absolute paths, no '..', no links), and decompression stops at a byte cap so a bomb costs at
most that much memory.
"""
from __future__ import annotations

import io
import posixpath
import tarfile
import zlib

from pipeline.skips import Skip
from pipeline.sources.ids import strip_suffix

GZIP_MAGIC = b"\x1f\x8b"
# Files worth keeping from a paper: LaTeX sources and their styles. Everything else (figures,
# data) is listed nowhere and dropped at once to keep memory small.
TEXT_SUFFIXES = (".tex", ".ltx", ".latex", ".sty", ".cls", ".def", ".cfg", ".clo", ".bbl", ".txt")


def gunzip_capped(data: bytes, cap: int) -> bytes:
    """Decompress gzip `data` (all members) into at most `cap` bytes; Skip otherwise."""
    out = bytearray()
    buf = data
    dec = zlib.decompressobj(wbits=31)
    try:
        while True:
            room = cap + 1 - len(out)
            out += dec.decompress(buf, room)
            if len(out) > cap:
                raise Skip("decompression_bomb", f"more than {cap} bytes")
            if dec.unconsumed_tail:
                buf = dec.unconsumed_tail
                continue
            if not dec.eof:
                raise Skip("corrupt_gzip", "data ends before the gzip stream does")
            rest = dec.unused_data
            if rest.strip(b"\0"):
                if not rest.startswith(GZIP_MAGIC):
                    break  # trailing garbage after a complete member: gzip(1) ignores it too
                dec = zlib.decompressobj(wbits=31)
                buf = rest
                continue
            break
    except zlib.error as exc:
        raise Skip("corrupt_gzip", str(exc)) from None
    return bytes(out)


def safe_member_path(name: str) -> str:
    """The member's path relative to the archive root, or Skip if it could escape it."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise Skip("unsafe_path", name)
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise Skip("unsafe_path", name)
    path = posixpath.normpath("/".join(p for p in parts if p not in ("", ".")) or ".")
    return path


def is_text_name(path: str) -> bool:
    base = posixpath.basename(path).lower()
    return base.endswith(TEXT_SUFFIXES) or "." not in base


def ends_cleanly(tar: tarfile.TarFile) -> bool:
    """True if the archive ends with its end-of-archive zero block.

    tarfile stops silently when the data ends at or inside a header, so a tar cut between two
    members would look complete; a writer always ends it with zero blocks, a cut one has none.
    """
    fileobj = tar.fileobj
    fileobj.seek(tar.offset)
    block = fileobj.read(tarfile.BLOCKSIZE)
    return len(block) == tarfile.BLOCKSIZE and not block.strip(b"\0")


def read_tar_files(data: bytes, cap: int, max_file: int) -> dict[str, bytes]:
    """Regular files of an in-memory tar whose names look like LaTeX sources.

    The whole archive is refused (Skip) if any member is unsafe: a hostile paper is not worth
    partial trust.
    """
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                path = safe_member_path(member.name)
                if member.issym() or member.islnk():
                    raise Skip("link_member", member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise Skip("special_member", member.name)
                total += member.size
                if total > cap:
                    raise Skip("decompression_bomb", f"members sum to more than {cap} bytes")
                if not is_text_name(path) or member.size > max_file:
                    continue
                fh = tar.extractfile(member)
                content = fh.read() if fh is not None else b""
                if len(content) != member.size:
                    raise Skip("truncated_tar", f"{member.name} is cut short")
                files[path] = content
            if not ends_cleanly(tar):
                raise Skip("truncated_tar", "no end-of-archive block: the archive is cut short")
    except tarfile.ReadError as exc:
        raise Skip("truncated_tar", str(exc)) from None
    except (EOFError, OSError) as exc:
        raise Skip("truncated_tar", str(exc)) from None
    return files


def looks_like_tar(data: bytes) -> bool:
    if len(data) >= 262 and data[257:262] == b"ustar":
        return True
    if len(data) < 512 or len(data) % 512:
        return False
    try:  # old v7 tars have no magic: trust the header checksum
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
        return True
    except tarfile.HeaderError:
        return False


def paper_files(blob: bytes, name: str, cap: int, max_file: int) -> dict[str, bytes]:
    """The files of one arXiv paper member (`<id>.gz`, `.tar.gz`, plain `.tex`), told apart by content.

    `name` is the member's own name, used only to name a single .tex file.
    """
    if len(blob) > cap:
        raise Skip("too_large", f"{len(blob)} bytes")
    if blob.startswith(b"%PDF"):
        raise Skip("pdf")
    data = gunzip_capped(blob, cap) if blob.startswith(GZIP_MAGIC) else blob
    if data.startswith(b"%PDF"):
        raise Skip("pdf")
    if looks_like_tar(data):
        files = read_tar_files(data, cap, max_file)
        if not files:
            raise Skip("empty_archive")
        return files
    if not data.strip().strip(b"\0"):
        raise Skip("empty_archive", "no content (an empty tar is all zero blocks)")
    if b"\0" in data[:4096]:
        raise Skip("not_latex", "binary data")
    return {f"{strip_suffix(name)}.tex": data}
