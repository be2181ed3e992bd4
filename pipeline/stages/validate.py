"""Stage `validate`: compile-check equations with real pdflatex (see docs/validate.md).

Reads JSON lines with `latex` (optionally `env`, `env_arg`), writes them back in order with
`compiles` and `error` added, and a summary beside the output (`<output>.summary.json`); the work
is `pipeline.texcheck.files.validate_file`. Imports nothing heavy: a one-equation check must start
in well under 3 s.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder
from pipeline.texcheck.files import validate_file
from pipeline.texcheck.preamble import Preamble

log = logging.getLogger("pipeline.validate")


def run(cfg: Any, folder: RunFolder) -> None:
    vc, tex = cfg.validate, cfg.tex
    given = vc.input is not None
    src = Path(vc.input) if given else folder.equations
    if not src.exists():
        if given:
            raise StageError(f"validate.input {src} does not exist; give a JSON-lines file with `latex`")
        log.warning("validate: nothing to check: %s does not exist (the prepare stage writes it); "
                    "give validate.input=FILE.jsonl to check a file of your own", src)
        return
    dst = Path(vc.output) if vc.output is not None else (
        folder.output("validated") if src == folder.equations else folder.validated_of(src))
    workers = int(vc.workers) if vc.workers else (os.cpu_count() or 1)
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    summary = validate_file(src, dst, preamble, mode=vc.mode, workers=workers, timeout_s=float(vc.timeout_s),
                            cache_dir=Path(tex.cache_dir) if tex.cache_dir else None, use_cache=bool(vc.cache),
                            progress=bool(vc.progress), top=int(vc.top_errors))
    if given:  # a user's own file: the summary on stdout; the run's own is in the file beside it
        print(json.dumps(summary, indent=2))
    log.info("validate: %d equations, compile rate %.3f, %.1f equations/s -> %s",
             summary["count"], summary["compile_rate"], summary["equations_per_s"], dst)
