"""Reading TeX's log: the first error (message plus its `l.N ...` context line) and pages shipped."""
from __future__ import annotations

import re

_LINE_CONTEXT = re.compile(r"^l\.\d+ ")
_OUTPUT = re.compile(r"^Output written on .*\((\d+) pages?")


def read_log(data: bytes) -> str:
    # TeX writes bytes as they came (any encoding); latin-1 never fails and keeps line structure.
    return data.decode("utf-8", errors="replace")


def first_error(lines: list[str]) -> str | None:
    """`<message> | <l.N context>` for the first `! ` line, or None when there is none."""
    for i, line in enumerate(lines):
        if line.startswith("! "):
            msg = line[2:].strip()
            for ctx in lines[i + 1:i + 40]:
                if _LINE_CONTEXT.match(ctx):
                    return f"{msg} | {ctx.rstrip()}"
                if ctx.startswith("! "):
                    break
            return msg
    return None


def pages_written(lines: list[str]) -> int:
    for line in reversed(lines):
        m = _OUTPUT.match(line)
        if m:
            return int(m.group(1))
    return 0


def error_kind(error: str | None) -> str | None:
    """The error's message with names and numbers blanked, for counting kinds of error."""
    if error is None:
        return None
    msg = error.split(" | ", 1)[0]
    msg = re.sub(r"\\[A-Za-z@]+|\\.", r"\\X", msg)
    msg = re.sub(r"\b\d+(\.\d+)?\b", "N", msg)
    msg = re.sub(r"\{[^{}]*\}", "{…}", msg)
    return msg
