"""Bytes of a .tex file to text.

UTF-8 first (a BOM is dropped). Files that are not valid UTF-8 are decoded as Windows-1252, the
usual encoding of older Western sources (it is ISO-8859-1 plus typographic quotes and dashes in
0x80-0x9F); the five bytes cp1252 leaves undefined fall back to their ISO-8859-1 meaning, so
decoding never fails. Papers that needed the fallback are counted in stats.json.
"""
from __future__ import annotations


def _cp1252_lenient(data: bytes) -> str:
    # surrogateescape turns each undefined byte b into U+DC00+b; map it to U+00b (ISO-8859-1).
    text = data.decode("cp1252", errors="surrogateescape")
    return "".join(chr(ord(c) - 0xDC00) if "\udc80" <= c <= "\udcff" else c for c in text)


def decode_tex(data: bytes) -> tuple[str, bool]:
    """(text, needed_fallback)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), True
    except UnicodeDecodeError:
        return _cp1252_lenient(data), True
