"""Which TeX installation judges: part of every cache key, so a TeX Live upgrade never reuses old verdicts.

A verdict depends on the preamble *and* on the pdfTeX binary, the LaTeX kernel and the packages the
preamble loads. The identity hashes: the first line of `pdftex --version`; the path, size and
modification time of the installed `pdflatex.fmt` (rebuilt when the kernel or a preloaded package
changes); and those of TEXMFDIST's `ls-R` file database (rewritten by mktexlsr whenever a TeX Live
package is installed, upgraded or removed, e.g. mathtools or bm). Files a user added to a personal
texmf tree by hand are not covered: clear `tex.cache_dir` after changing those.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import subprocess

log = logging.getLogger(__name__)


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out.strip() else ""


def _file_id(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


@functools.lru_cache(maxsize=1)  # subprocesses once per process: the installation does not change under a run
def tex_installation_id() -> str:
    """A 16-hex-digit hash naming this machine's TeX installation."""
    version = _first_line(["pdftex", "--version"])
    fmt = _first_line(["kpsewhich", "-engine=pdftex", "pdflatex.fmt"])
    dist = _first_line(["kpsewhich", "-var-value=TEXMFDIST"])
    parts = [version, _file_id(fmt) if fmt else "", _file_id(os.path.join(dist, "ls-R")) if dist else ""]
    if not all(parts):
        log.warning("TeX installation only partly identified (pdftex --version, pdflatex.fmt, ls-R: %s); "
                    "check that TeX Live is on PATH (scripts/setup.sh installs it). Caches stay keyed by "
                    "what was found.", ["ok" if p else "missing" for p in parts])
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def tex_versions() -> tuple[str | None, str | None]:
    """(pdfTeX version, TeX Live release) from `pdftex --version`, e.g. ("3.141592653-2.6-1.40.24",
    "TeX Live 2022/Debian"); (None, None) without pdfTeX."""
    first = _first_line(["pdftex", "--version"])
    if not first:
        return None, None
    version = first.split()[1] if len(first.split()) > 1 else None
    live = first[first.find("(") + 1 : first.rfind(")")] if "(" in first else None
    return version, live
