"""Which TeX installation judges: part of every cache key, so a TeX Live upgrade never reuses old verdicts.

A verdict depends on the preamble *and* on the pdfTeX binary and the LaTeX kernel and packages it
loads. The identity is the first line of `pdftex --version` plus the path, size and modification
time of the installed `pdflatex.fmt` (found with kpsewhich): Debian's TeX Live packages rebuild that
format whenever the kernel or a preloaded package changes, so an upgrade changes the identity even
when pdfTeX's own version does not.
"""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out.strip() else ""


@functools.lru_cache(maxsize=1)  # two subprocesses, once per process: the installation does not change under a run
def tex_installation_id() -> str:
    """A short hash naming this machine's TeX installation ("" parts when a tool is missing)."""
    version = _first_line(["pdftex", "--version"])
    fmt = _first_line(["kpsewhich", "-engine=pdftex", "pdflatex.fmt"])
    try:
        st = os.stat(fmt) if fmt else None
        fmt_id = f"{fmt}:{st.st_size}:{st.st_mtime_ns}" if st else ""
    except OSError:
        fmt_id = ""
    return hashlib.sha256(f"{version}\n{fmt_id}".encode()).hexdigest()[:16]
