"""Running pdflatex on untrusted input: no shell escape, no file access outside its folder,
a wall-clock limit that kills the whole process group (and a CPU-time limit the kernel enforces,
should the parent die first), stdin closed, output captured."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PDFLATEX = "pdflatex"


def tex_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "shell_escape": "f",          # \write18 is never run, whatever texmf.cnf says
        "openin_any": "p",            # paranoid: no absolute paths, no `..`, no dotfiles
        "openout_any": "p",
        "max_print_line": "100000",   # one log line per message, so markers and errors never wrap
        "error_line": "254",          # TeX's maximum: the `l.N ...` context shows the whole line
        "half_error_line": "238",
        "TEXMFOUTPUT": "",            # never fall back to writing elsewhere
    })
    return env


@dataclass(frozen=True)
class TexRun:
    returncode: int | None  # None: killed at the time limit
    timed_out: bool
    seconds: float


def run_pdflatex(args: list[str], cwd: Path, timeout_s: float) -> TexRun:
    """Run `pdflatex args...` in `cwd` (a fresh temporary folder the caller owns)."""
    return run_tex(PDFLATEX, args, cwd, timeout_s)


def run_tex(engine: str, args: list[str], cwd: Path, timeout_s: float) -> TexRun:
    """Run a TeX engine (`pdflatex`, `latex` for DVI) or a TeX tool (`dvisvgm`) in `cwd` with the
    sandbox's environment and time limit. TeX engines get no shell escape and nonstop mode."""
    t0 = time.perf_counter()
    flags = ["-no-shell-escape", "-interaction=nonstopmode"] if engine in (PDFLATEX, "latex") else []
    # A CPU-time limit the kernel enforces, a little above the wall-clock one: a TeX run whose
    # parent died (killed, crashed) cannot loop on for ever (`*{321311}{c}` runs for hours).
    cpu_s = int(timeout_s) + 5
    cmd = ["sh", "-c", f'ulimit -t {cpu_s} && exec "$0" "$@"', engine, *flags, *args]
    # TeX's terminal output goes to a file: read when the log says nothing (e.g. a missing format).
    with open(cwd / "terminal.txt", "wb") as term:
        proc = subprocess.Popen(cmd, cwd=cwd, env=tex_env(), stdin=subprocess.DEVNULL,
                                stdout=term, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own process group: killed as one on timeout
        return _wait(proc, timeout_s, t0)


def _wait(proc: subprocess.Popen, timeout_s: float, t0: float) -> TexRun:

    try:
        rc = proc.wait(timeout=timeout_s)
        return TexRun(rc, False, time.perf_counter() - t0)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return TexRun(None, True, time.perf_counter() - t0)
    finally:
        if proc.poll() is None:  # interrupted (KeyboardInterrupt): leave no TeX behind
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
