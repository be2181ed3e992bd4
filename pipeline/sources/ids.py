"""arXiv identifiers from file names.

arXiv stores old-style ids without their slash: `hep-th/0301001` is `hep-th0301001.gz`; new-style
ids (`1008.4686`) are stored as they are. A version suffix (`v2`) is dropped so a paper joins its
metadata whichever version was shipped. Names that are neither (a user's own folder) are their own id.
"""
from __future__ import annotations

import posixpath
import re

_OLD = re.compile(r"^(?P<arch>[a-z][a-z-]*(?:\.[A-Za-z-]+)?)(?P<num>\d{7})(?:v\d+)?$")
_NEW = re.compile(r"^(?P<num>\d{4}\.\d{4,5})(?:v\d+)?$")
_SUFFIXES = (".tar.gz", ".tgz", ".gz", ".tar", ".tex", ".pdf")


def strip_suffix(name: str) -> str:
    base = posixpath.basename(name.rstrip("/"))
    for suffix in _SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def paper_id(name: str) -> str:
    """The arXiv id a stored file or folder name stands for (`0301/hep-th0301001.gz` -> `hep-th/0301001`)."""
    stem = strip_suffix(name)
    m = _OLD.match(stem)
    if m:
        return f"{m.group('arch')}/{m.group('num')}"
    m = _NEW.match(stem)
    if m:
        return m.group("num")
    return stem


def canonical_id(identifier: str) -> str:
    """A metadata id in the form paper_id() gives (versions dropped)."""
    identifier = identifier.strip()
    return re.sub(r"v\d+$", "", identifier) if re.search(r"\d", identifier) else identifier
