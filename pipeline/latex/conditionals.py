"""TeX conditionals that hide text: `\\iffalse ... \\fi` blocks are not part of the document."""
from __future__ import annotations

import re

_IF_TOKENS = re.compile(r"\\\\|\\newif\s*\\if[A-Za-z@]*|\\(if[A-Za-z@]*|fi)(?![A-Za-z@])")
_IFFALSE = re.compile(r"\\iffalse(?![A-Za-z@])")


def remove_iffalse(text: str) -> str:
    """`text` without its `\\iffalse ... \\fi` blocks (nested conditionals counted, `\\newif` not)."""
    if "\\iffalse" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        m = _IFFALSE.search(text, pos)
        if not m:
            break
        depth = 0
        end = -1
        for t in _IF_TOKENS.finditer(text, m.start()):
            name = t.group(1)
            if name is None:
                continue
            depth += -1 if name == "fi" else 1
            if depth == 0:
                end = t.end()
                break
        if end < 0:  # unterminated: TeX would skip to the end of the file
            out.append(text[pos : m.start()])
            pos = len(text)
            break
        out.append(text[pos : m.start()])
        pos = end
    out.append(text[pos:])
    return "".join(out)
