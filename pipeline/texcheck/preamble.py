"""The fixed preamble every equation is judged in, and its hash (the key of every cache).

The hash covers the preamble text and the TeX installation (installation.py), so caches built by
another TeX Live are never reused."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.texcheck.installation import tex_installation_id

DEFAULT_PACKAGES = ("amsmath", "amssymb", "amsfonts", "mathtools", "bm")


@dataclass(frozen=True)
class Preamble:
    """Everything before `\\begin{document}`: a class and packages, or a user's own text."""

    documentclass: str = "article"
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    text_override: str | None = field(default=None, repr=False)

    @classmethod
    def from_file(cls, path: str | Path) -> "Preamble":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"preamble file {p} does not exist; give a file holding everything "
                                    "before \\begin{document} (tex.preamble_file)")
        text = p.read_text(encoding="utf-8")
        if "\\begin{document}" in text:
            raise ValueError(f"preamble file {p} contains \\begin{{document}}; keep only what comes before it")
        return cls(text_override=text)

    @classmethod
    def from_settings(cls, preamble_file: str | Path | None, documentclass: str = "article",
                      packages: tuple[str, ...] | list[str] = DEFAULT_PACKAGES) -> "Preamble":
        """The preamble `validate.*` settings describe: a user's file if given, else class + packages."""
        if preamble_file:
            return cls.from_file(preamble_file)
        return cls(documentclass=documentclass, packages=tuple(packages))

    @property
    def text(self) -> str:
        """The preamble exactly as the reference document has it; ends with a newline."""
        if self.text_override is not None:
            t = self.text_override
            return t if t.endswith("\n") else t + "\n"
        lines = [f"\\documentclass{{{self.documentclass}}}\n"]
        if self.packages:
            lines.append(f"\\usepackage{{{','.join(self.packages)}}}\n")
        return "".join(lines)

    @property
    def hash(self) -> str:
        key = self.text + "\0" + tex_installation_id()
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    @property
    def line_count(self) -> int:
        return self.text.count("\n")
