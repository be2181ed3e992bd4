"""The preloaded format: the preamble read once and dumped (`pdflatex -ini ... \\dump`), cached by hash."""
from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.atomic import write_bytes
from pipeline.texcheck.logparse import first_error, read_log
from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.sandbox import run_pdflatex


def format_path(preamble: Preamble, cache_dir: Path, timeout_s: float = 60.0) -> Path:
    """The dumped format of `preamble` under `cache_dir/formats/`; built on first use (~0.3 s)."""
    target = Path(cache_dir) / "formats" / f"{preamble.hash}.fmt"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="texcheck-fmt-") as tmp:
        d = Path(tmp)
        (d / "pre.tex").write_text(preamble.text + "\\dump\n", encoding="utf-8")
        run = run_pdflatex(["-ini", "-jobname=pre", "&pdflatex", "pre.tex"], d, timeout_s)
        built = d / "pre.fmt"
        if run.timed_out or run.returncode != 0 or not built.exists():
            log = d / "pre.log"
            err = first_error(read_log(log.read_bytes()).splitlines()) if log.exists() else None
            raise RuntimeError(f"could not dump a format of the preamble (hash {preamble.hash}): "
                               f"{err or 'pdflatex failed'}; check the preamble (tex.preamble_file "
                               "or tex.packages) compiles on its own")
        # Rename into place: processes racing to build the same format never see half a file.
        write_bytes(target, built.read_bytes())
    return target
