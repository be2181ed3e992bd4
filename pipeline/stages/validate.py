"""Stage `validate`: compile-check equations with real pdflatex (see docs/validate.md).

Reads JSON lines with `latex` (optionally `env`, `env_arg`), writes them back in order with
`compiles` and `error` added, and a summary beside the output (`<output>.summary.json`).
Imports nothing heavy: a one-equation check must start in well under 3 s.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.runfolder import RunFolder
from pipeline.texcheck import Equation, Preamble, Verdict, check_with_stats
from pipeline.texcheck.logparse import error_kind
from pipeline.texcheck.record import DISPLAY_ENVS

log = logging.getLogger("pipeline.validate")

PROGRESS_MIN = 200  # a bar for shorter inputs is noise
CHUNK = 20000       # input lines held in memory at once


def run(cfg: Any, folder: RunFolder) -> None:
    vc = cfg.validate
    given = vc.input is not None
    src = Path(vc.input) if given else folder.equations
    if not src.exists():
        if given:
            raise FileNotFoundError(f"validate.input {src} does not exist; give a JSON-lines file with `latex`")
        log.warning("validate: nothing to check: %s does not exist (the prepare stage writes it); "
                    "give validate.input=FILE.jsonl to check a file of your own", src)
        return
    dst = Path(vc.output) if vc.output is not None else folder.validate_dir / f"{src.stem}.validated.jsonl"
    workers = int(vc.workers) if vc.workers else (os.cpu_count() or 1)
    preamble = Preamble.from_settings(vc.preamble_file, vc.documentclass, vc.packages)
    summary = validate_file(src, dst, preamble, mode=vc.mode, workers=workers, timeout_s=float(vc.timeout_s),
                            cache_dir=Path(vc.cache_dir) if vc.cache_dir else None, use_cache=bool(vc.cache),
                            progress=bool(vc.progress), top=int(vc.top_errors))
    print(json.dumps(summary, indent=2))
    log.info("validate: %d equations, compile rate %.3f, %.1f equations/s -> %s",
             summary["count"], summary["compile_rate"], summary["equations_per_s"], dst)


def read_records(src: Path, chunk: int = CHUNK) -> Iterator[list[tuple[dict | None, Equation | None, str | None]]]:
    """Input lines in chunks: per line the parsed object (or None), its Equation (or None), and why
    the line is bad (or None). Chunks keep memory bounded on inputs of any length."""
    part: list[tuple[dict | None, Equation | None, str | None]] = []
    with open(src, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            part.append(_parse(line, n, src))
            if len(part) >= chunk:
                yield part
                part = []
    if part:
        yield part


def _parse(line: str, n: int, src: Path) -> tuple[dict | None, Equation | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return None, None, f"{src}:{n}: not JSON ({e.msg})"
    if not isinstance(obj, dict) or not isinstance(obj.get("latex"), str):
        return (obj if isinstance(obj, dict) else None), None, f"{src}:{n}: no string field `latex`"
    env = obj.get("env") or "equation"
    if not isinstance(env, str) or env.rstrip("*") not in DISPLAY_ENVS:
        return obj, None, f"{src}:{n}: env {env!r} is not one of {', '.join(DISPLAY_ENVS)}"
    return obj, Equation(obj["latex"], env, obj.get("env_arg")), None


def validate_file(src: Path, dst: Path, preamble: Preamble, mode: str = "fast", workers: int | None = None,
                  timeout_s: float = 10.0, cache_dir: Path | None = None, use_cache: bool = True,
                  progress: bool = True, top: int = 10) -> dict:
    t0 = time.perf_counter()
    with open(src, encoding="utf-8", errors="replace") as f:
        total = sum(1 for line in f if line.strip())
    bar = None
    if progress and total >= PROGRESS_MIN:
        from tqdm import tqdm

        bar = tqdm(total=total, file=sys.stderr, unit="eq", desc="validate")
    tally = _Tally()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dst, "w", encoding="utf-8") as out:
            for part in read_records(src):
                good = [eq for _, eq, _ in part if eq is not None]
                verdicts, stats = check_with_stats(good, preamble, mode=mode, workers=workers, timeout_s=timeout_s,
                                                   cache_dir=cache_dir, use_cache=use_cache,
                                                   on_done=bar.update if bar else None)
                if bar is not None:
                    bar.update(len(part) - len(good))
                tally.cached += stats.cached
                it = iter(verdicts)
                for obj, eq, why in part:
                    v = next(it) if eq is not None else Verdict(False, why)
                    if why:
                        log.warning("validate: bad input line: %s", why)
                    tally.add(v, bad=why is not None)
                    row = dict(obj) if obj is not None else {"input_line_error": True}
                    row["compiles"], row["error"] = v.compiles, v.error
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if bar is not None:
            bar.close()
    summary = make_summary(tally, preamble, mode, workers, time.perf_counter() - t0, top)
    summary["input"], summary["output"] = str(src), str(dst)
    Path(str(dst) + ".summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


@dataclass
class _Tally:
    count: int = 0
    compiled: int = 0
    bad_lines: int = 0
    cached: int = 0
    kinds: Counter = field(default_factory=Counter)

    def add(self, v: Verdict, bad: bool) -> None:
        self.count += 1
        self.compiled += v.compiles
        if bad:
            self.bad_lines += 1
        elif not v.compiles:
            self.kinds[error_kind(v.error)] += 1


def make_summary(t: _Tally, preamble: Preamble, mode: str, workers: int | None, seconds: float, top: int) -> dict:
    pdftex, texlive = tex_versions()
    return {
        "count": t.count,
        "compiled": t.compiled,
        "compile_rate": t.compiled / t.count if t.count else 0.0,
        "bad_lines": t.bad_lines,
        "top_errors": [{"kind": k, "count": c} for k, c in t.kinds.most_common(top)],
        "pdftex_version": pdftex,
        "texlive_version": texlive,
        "preamble_hash": preamble.hash,
        "mode": mode,
        "workers": workers,
        "cached": t.cached,
        "seconds": round(seconds, 3),
        "equations_per_s": round(t.count / seconds, 1) if seconds > 0 else None,
    }


def tex_versions() -> tuple[str | None, str | None]:
    try:
        first = subprocess.run(["pdftex", "--version"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None, None
    # "pdfTeX 3.141592653-2.6-1.40.24 (TeX Live 2022/Debian)"
    version = first.split()[1] if len(first.split()) > 1 else None
    live = first[first.find("(") + 1:first.rfind(")")] if "(" in first else None
    return version, live
