"""One paper's files to one flattened LaTeX text: find the main file, resolve inputs, keep styles.

Input is the paper's text files (relative posix path -> text, comments already stripped).

Main file, when the metadata does not name one: the `.tex` files that contain `\\begin{document}`
are candidates; the first of them by this order wins (the tie-break):
  1. it has `\\documentclass` (or LaTeX 2.09's `\\documentstyle`) before `\\begin{document}`, in
     itself or in a file it `\\input`s there;
  2. it is not `\\input` by another candidate;
  3. it sits higher in the folder tree;
  4. it is named like a main file (main, ms, paper, article, manuscript, the paper's id);
  5. it is the larger file;
  6. its path sorts first.
No candidate is a `no_main_file` skip.

`\\input{f}`, `\\input f`, `\\include{f}`, `\\subfile{f}` and the `import` package's `\\import{d}{f}`,
`\\subimport{d}{f}` (and their `*from` forms) are replaced by the file's text, recursively. A name
is tried as given and with `.tex`, relative to the main file's folder, then to the including file's
folder (`\\subimport` and `*from` commands: the including file's folder joined with `d`). A
`\\subfile` contributes its document body only; text after `\\endinput` is dropped. A name that
leaves the paper (absolute, or `..` above its root) skips the paper, as does a cycle or nesting
deeper than `max_depth`; a file the paper does not ship is left out and listed in
`missing_inputs` (papers often `\\input` generated files such as `.bbl` or figure code).
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from pipeline.latex.comments import VERBATIM_ENVS
from pipeline.skips import Skip

_BEGIN_DOC = re.compile(r"\\begin\s*\{document\}")
_END_DOC = re.compile(r"\\end\s*\{document\}")
_DOCCLASS = re.compile(r"\\document(?:class|style)(?![A-Za-z@])")
_ENDINPUT = re.compile(r"\\endinput(?![A-Za-z@])")

_INPUTS = re.compile(
    # `\\` is read whole (TeX's line break), so `\\\\input` is a break and letters, not an input.
    r"(?P<verbatim>\\begin\{(?P<venv>" + VERBATIM_ENVS + r")\}.*?\\end\{(?P=venv)\}"
    r"|\\verb\*?(?P<d>[^a-zA-Z\s*])[^\n]*?(?P=d)|\\\\)"
    r"|\\(?P<imp>import|subimport|inputfrom|subinputfrom|includefrom|subincludefrom)\*?"
    r"\s*\{(?P<dir>[^{}]*)\}\s*\{(?P<file>[^{}]*)\}"
    r"|\\(?P<inp>input|include|subfile)(?![A-Za-z@])\s*(?:\{(?P<name>[^{}]*)\}|(?P<bare>[^\s{}\\%]+))",
    re.S,
)

_PACKAGES = re.compile(
    r"\\(?P<cmd>usepackage|RequirePackage|documentclass|documentstyle|LoadClass|RequirePackageWithOptions"
    r"|LoadClassWithOptions)(?![A-Za-z@])\s*(?:\[(?P<opts>[^\]]*)\])?\s*\{(?P<names>[^{}]*)\}"
)

_MAIN_NAMES = ("main", "ms", "paper", "article", "manuscript")


@dataclass
class Flattened:
    main_tex: str
    latex: str
    styles: dict[str, str]
    missing_inputs: list[str] = field(default_factory=list)


def _resolve(name: str, bases: list[str], files: dict[str, str]) -> str | None:
    """The paper path `name` refers to from `bases`, None if not shipped; Skip if it leaves the paper."""
    name = name.strip().strip('"')
    if not name:
        return None
    if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", name):
        raise Skip("input_outside_paper", name)
    for base in bases:
        joined = posixpath.normpath(posixpath.join(base, name)) if base else posixpath.normpath(name)
        if joined == ".." or joined.startswith("../"):
            raise Skip("input_outside_paper", name)
        for candidate in (joined, joined + ".tex"):
            if candidate in files:
                return candidate
    return None


class _Flattener:
    def __init__(self, files: dict[str, str], main: str, max_depth: int, max_chars: int) -> None:
        self.files = files
        self.main_dir = posixpath.dirname(main)
        self.max_depth = max_depth
        self.max_chars = max_chars
        self.missing: list[str] = []
        self.chars = 0

    def expand(self, path: str, stack: tuple[str, ...]) -> str:
        if path in stack:
            raise Skip("input_cycle", " -> ".join((*stack, path)))
        if len(stack) > self.max_depth:
            raise Skip("input_too_deep", f"{len(stack)} levels at {path}")
        text = self.files[path]
        if stack:  # an included file
            end = _ENDINPUT.search(text)
            if end:
                text = text[: end.start()]
        here = posixpath.dirname(path)
        stack = (*stack, path)

        def substitute(m: re.Match) -> str:
            if m.group("verbatim") is not None:
                return m.group(0)
            if m.group("imp"):
                cmd, directory, name = m.group("imp"), m.group("dir"), m.group("file")
                relative = cmd.startswith("sub")
                base = posixpath.join(here if relative else self.main_dir, directory.strip())
                bases = [base]
            else:
                cmd = m.group("inp")
                name = m.group("name") if m.group("name") is not None else m.group("bare")
                bases = [self.main_dir, here] if here != self.main_dir else [self.main_dir]
            if "#" in name or "\\" in name:
                return m.group(0)  # inside a macro definition: not a file name yet
            target = _resolve(name, bases, self.files)
            if target is None:
                self.missing.append(name.strip())
                return ""
            body = self.expand(target, stack)
            if cmd == "subfile":
                body = document_body(body)
            self.chars += len(body)
            if self.chars > self.max_chars:
                raise Skip("output_too_large", f"more than {self.max_chars} characters")
            # a newline keeps `\input{a}\input{b}` from gluing the last and first lines
            return body + "\n"

        return _INPUTS.sub(substitute, text)


def document_body(text: str) -> str:
    """The text between \\begin{document} and \\end{document}; all of it if there is none."""
    return split_preamble(text)[1]


def split_preamble(text: str) -> tuple[str, str]:
    """(preamble, body) of a flattened document; the body excludes \\begin/\\end{document}."""
    begin = _BEGIN_DOC.search(text)
    if not begin:
        return "", text
    end = _END_DOC.search(text, begin.end())
    return text[: begin.start()], text[begin.end() : end.start() if end else len(text)]


def find_main(files: dict[str, str], paper_id: str, max_depth: int = 16) -> str:
    """The main .tex of a paper by the tie-break in the module docstring; Skip if there is none."""
    candidates = [p for p, t in files.items() if p.endswith((".tex", ".ltx", ".latex")) and _BEGIN_DOC.search(t)]
    if not candidates:
        raise Skip("no_main_file")
    if len(candidates) == 1:
        return candidates[0]
    stem_id = paper_id.replace("/", "").rsplit(".", 1)[-1] if paper_id else ""
    included: set[str] = set()
    has_class: dict[str, bool] = {}
    for cand in candidates:
        preamble = files[cand][: _BEGIN_DOC.search(files[cand]).start()]
        flat = _Flattener({**files, "\0pre": preamble}, cand, max_depth, 1 << 26)
        try:
            text = flat.expand("\0pre", ())
        except Skip:
            text = preamble
        has_class[cand] = bool(_DOCCLASS.search(text))
        for m in _INPUTS.finditer(files[cand]):
            if m.group("verbatim") is not None:
                continue
            name = m.group("file") or m.group("name") or m.group("bare")
            if name:
                try:
                    target = _resolve(name, [posixpath.dirname(cand)], files)
                except Skip:
                    target = None
                if target and target != cand:
                    included.add(target)

    def rank(path: str) -> tuple:
        stem = posixpath.splitext(posixpath.basename(path))[0].lower()
        named = stem in _MAIN_NAMES or (stem_id and stem.endswith(stem_id.lower()))
        return (not has_class[path], path in included, path.count("/"), not named, -len(files[path]), path)

    return min(candidates, key=rank)


def _style_names(text: str) -> list[tuple[str, str]]:
    """(file name, kind) of every package/class a text loads, e.g. ("mymacros.sty", "sty")."""
    out = []
    for m in _PACKAGES.finditer(text):
        cmd = m.group("cmd")
        suffix = ".cls" if cmd in ("documentclass", "LoadClass", "LoadClassWithOptions") else ".sty"
        names = [n.strip() for n in m.group("names").split(",") if n.strip()]
        if cmd == "documentclass" or cmd == "documentstyle":
            # LaTeX 2.09's \documentstyle[a,b]{article} loads a.sty and b.sty as options
            if cmd == "documentstyle" and m.group("opts"):
                out += [(o.strip() + ".sty", "sty") for o in m.group("opts").split(",") if o.strip()]
        out += [(n + suffix, suffix[1:]) for n in names]
    return out


def collect_styles(text: str, files: dict[str, str], main_dir: str) -> dict[str, str]:
    """The paper's own .sty/.cls files that `text` (or one of them) loads, by file name."""
    by_base: dict[str, str] = {}
    for path in sorted(files, key=lambda p: (posixpath.dirname(p) != main_dir, p.count("/"), p)):
        by_base.setdefault(posixpath.basename(path), path)
    styles: dict[str, str] = {}
    todo = [name for name, _ in _style_names(text)]
    while todo:
        name = todo.pop(0)
        base = posixpath.basename(name)
        path = by_base.get(base)
        if path is None or base in styles:
            continue
        styles[base] = files[path]
        todo += [n for n, _ in _style_names(files[path])]
    return styles


def flatten(
    files: dict[str, str],
    paper_id: str = "",
    main_tex: str | None = None,
    max_depth: int = 16,
    max_chars: int = 1 << 26,
) -> Flattened:
    """Flatten one paper (comment-stripped texts by path); Skip on bad input."""
    if main_tex and main_tex in files:
        main = main_tex
    else:
        main = find_main(files, paper_id, max_depth)
    flat = _Flattener(files, main, max_depth, max_chars)
    latex = flat.expand(main, ())
    styles = collect_styles(latex, files, posixpath.dirname(main))
    return Flattened(main_tex=main, latex=latex, styles=styles, missing_inputs=flat.missing)
