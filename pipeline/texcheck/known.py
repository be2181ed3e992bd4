"""The commands the preamble knows, found by TeX itself, with their numbers of mandatory arguments.

Candidate names come only from the TeX installation: the pdfTeX binary's strings (its primitives),
plain.tex, latex.ltx, and the class and packages the preamble loads with everything they load in turn
(found with kpsewhich). Each candidate is then tested inside TeX after the preamble and
`\\begin{document}` (`\\ifdefined`), and its `\\meaning` read for its parameter text. Nothing is typed
in and nothing comes from the corpus. Built once per preamble and cached on disk by its hash.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import tempfile
from pathlib import Path

from pipeline.atomic import write_text
from pipeline.texcheck.fmt import format_path
from pipeline.texcheck.preamble import Preamble
from pipeline.texcheck.sandbox import run_pdflatex, tex_env

_NAME = re.compile(r"\\([A-Za-z@]+)")
_LOADS = re.compile(r"\\(?:RequirePackage|usepackage|RequirePackageWithOptions|LoadClass|"
                    r"LoadClassWithOptions|documentclass)\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}")
_INPUTS = re.compile(r"\\(?:input|@@input|InputIfFileExists)\s*\{?([A-Za-z0-9_.-]+\.(?:def|clo|sty|cfg|tex))")
_MACRO = re.compile(r"^(?:\\long |\\protected |\\outer )*macro:(.*?)->", re.S)
_PARAM = re.compile(r"#[1-9]")
_OPT_PARAM = re.compile(r"\[#[1-9]\]")
_SYMBOLS = [c for c in string.punctuation + " " if c not in "\\"] + ["\\"]


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "texcheck"


def known_commands(preamble: Preamble | None = None, cache_dir: Path | None = None) -> dict[str, int | None]:
    """Every command defined after `preamble` and `\\begin{document}` (names without backslash,
    control symbols included) -> its number of mandatory arguments, or None where it cannot be read
    (primitives, registers, commands made with l3 tools)."""
    preamble = preamble or Preamble()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / f"known-{preamble.hash}.json"
    if target.exists():
        return json.loads(target.read_text(encoding="utf-8"))
    found = _ask_tex(preamble, sorted(candidate_names(preamble)), cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, json.dumps(found, sort_keys=True))
    return found


def candidate_names(preamble: Preamble) -> set[str]:
    names: set[str] = set(_SYMBOLS)
    names |= _primitive_candidates()
    for path in _source_files(preamble):
        names |= set(_NAME.findall(path.read_text(encoding="latin-1")))
    names |= set(_NAME.findall(preamble.text))  # a user's preamble may define its own
    return names


def _primitive_candidates() -> set[str]:
    exe = shutil.which("pdftex") or shutil.which("pdflatex")
    if exe is None:
        raise FileNotFoundError("pdftex is not on PATH; install TeX Live (pdftex) to list the primitives")
    data = Path(exe).resolve().read_bytes()
    return {w.decode() for w in re.findall(rb"(?<![A-Za-z])[A-Za-z]{2,32}(?![A-Za-z])", data)}


def _kpsewhich(names: list[str]) -> list[Path]:
    if not names:
        return []
    res = subprocess.run(["kpsewhich", *names], capture_output=True, text=True, env=tex_env(),
                         stdin=subprocess.DEVNULL, timeout=60)
    return [Path(p) for p in res.stdout.splitlines() if p.strip()]


def _source_files(preamble: Preamble) -> list[Path]:
    """plain.tex, latex.ltx and, transitively, every file the preamble's class and packages load."""
    seen: dict[str, Path] = {}
    queue = ["plain.tex", "latex.ltx", *_loaded_files(preamble.text)]
    while queue:
        batch = [n for n in dict.fromkeys(queue) if n not in seen]
        queue = []
        for path in _kpsewhich(batch):
            if path.name in seen:
                continue
            seen[path.name] = path
            queue += _loaded_files(path.read_text(encoding="latin-1"))
    return list(seen.values())


def _loaded_files(text: str) -> list[str]:
    text = re.sub(r"(?<!\\)%.*", "", text)
    out = []
    for m in _LOADS.finditer(text):
        kind = ".cls" if ("Class" in m.group(0) or "documentclass" in m.group(0)) else ".sty"
        out += [n.strip() + kind for n in m.group(1).split(",") if re.fullmatch(r"[A-Za-z0-9_-]+", n.strip())]
    out += _INPUTS.findall(text)
    return out


def _test_line(name: str) -> str:
    # names travel as text, never as tokens: an \outer macro as an argument would stop TeX
    if re.fullmatch(r"[A-Za-z@]+", name):
        return "\\vc:t{%s}\n" % name
    return "\\vc:s\\%s\n" % name  # a control symbol; \string with no escape char gives its name


def _ask_tex(preamble: Preamble, names: list[str], cache_dir: Path) -> dict[str, int | None]:
    fmt = format_path(preamble, cache_dir)
    tests = "".join(_test_line(n) for n in names)
    driver = (
        "\\makeatletter\\catcode`\\:=11\n"
        "\\def\\vc:s#1{\\begingroup\\escapechar=-1 \\xdef\\vc:n{\\string#1}\\endgroup\\vc:test}\n"
        "\\def\\vc:t#1{\\def\\vc:n{#1}\\vc:test}\n"
        "\\def\\vc:test{\\ifcsname\\vc:n\\endcsname"
        "\\immediate\\write-1{VCKM\\@backslashchar\\vc:n=\\expandafter\\meaning\\csname\\vc:n\\endcsname}"
        "\\ifcsname\\vc:n\\space\\endcsname"
        "\\immediate\\write-1{VCKR\\@backslashchar\\vc:n=\\expandafter\\meaning\\csname\\vc:n\\space\\endcsname}\\fi"
        "\\ifcsname\\@backslashchar\\vc:n\\endcsname"
        "\\immediate\\write-1{VCKO\\@backslashchar\\vc:n=\\expandafter\\meaning\\csname\\@backslashchar\\vc:n\\endcsname}\\fi"
        "\\fi}\n"
        "\\catcode`\\:=12\\makeatother\n"
        "\\begin{document}\n\\makeatletter\\catcode`\\:=11\n" + tests + "\\csname @@end\\endcsname\n")
    with tempfile.TemporaryDirectory(prefix="texcheck-known-") as tmp:
        d = Path(tmp)
        (d / "known.tex").write_text(driver, encoding="utf-8")
        (d / "pre.fmt").symlink_to(fmt.resolve())
        run = run_pdflatex(["&pre", "known.tex"], d, 120.0)
        log = d / "known.log"
        if run.timed_out or not log.exists():
            raise RuntimeError(f"TeX could not list the known commands of preamble {preamble.hash}; "
                               "run pdflatex on the preamble by hand to see why")
        lines = log.read_bytes().decode("utf-8", errors="replace").splitlines()
    return _read_meanings(lines)


def _split(line: str, tag: str) -> tuple[str, str] | None:
    if not line.startswith(tag + "\\"):
        return None
    rest = line[len(tag) + 1:]
    if rest[:1].isalpha() or rest[:1] == "@":
        m = re.match(r"[A-Za-z@]+", rest)
        name = m.group(0)
    else:
        name = rest[:1]
    if rest[len(name):len(name) + 1] != "=":
        return None
    return name, rest[len(name) + 1:]


def _read_meanings(lines: list[str]) -> dict[str, int | None]:
    meaning: dict[str, str] = {}
    robust: dict[str, str] = {}
    optional: dict[str, str] = {}
    for line in lines:
        for tag, table in (("VCKM", meaning), ("VCKR", robust), ("VCKO", optional)):
            got = _split(line, tag)
            if got:
                table[got[0]] = got[1]
    resolved: dict[str, int | None] = {}
    for name in meaning:
        _arity(name, meaning, robust, optional, resolved, depth=0)
    return resolved


# Primitives that, heading a macro's body, take nothing from after the macro: `\quad` is
# `\hskip 1em\relax`, `\alpha` a math character; a body headed by anything else may take arguments.
_SELF_CONTAINED = frozenset("mathchar delimiter char hskip kern mskip mkern penalty relax nonscript mathrel "
                            "mathbin mathop mathord mathpunct mathopen mathclose mathinner hbox mathchoice "
                            "vrule hrule hfil hfill hss vskip vss unskip".split())
_HEAD = re.compile(r"^\\([A-Za-z@]+|.)")


def _arity(name: str, meaning: dict[str, str], robust: dict[str, str], optional: dict[str, str],
           resolved: dict[str, int | None], depth: int) -> int | None:
    if name in resolved:
        return resolved[name]
    resolved[name] = None  # guards against cycles while this one is being resolved
    m = meaning[name]
    # LaTeX's robust commands: `\foo` is `\protect \foo<space>`; the work is in `\foo<space>`
    if name in robust and re.match(r"^(\\protected )?macro:->(\\x@protect \\%s)?\\protect \\%s  $"
                                     % (re.escape(name), re.escape(name)), m):
        m = robust[name]
    if name in optional and re.search(r"\\@(protected@)?testopt ", m):
        m = optional[name]  # `\@testopt \\foo {default}`: `\\foo` holds `[#1]#2...`
    result: int | None = None
    if m.startswith(("\\char\"", "\\mathchar\"")):
        result = 0
    elif (mac := _MACRO.match(m)) is not None:
        params = mac.group(1)
        result = len(_PARAM.findall(params)) - len(_OPT_PARAM.findall(params))
        if result == 0:
            result = _body_arity(m[mac.end():], meaning, robust, optional, resolved, depth)
    resolved[name] = result
    return result


def _body_arity(body: str, meaning: dict[str, str], robust: dict[str, str], optional: dict[str, str],
                resolved: dict[str, int | None], depth: int) -> int | None:
    body = re.sub(r"^(\\relax ?)+", "", body)
    head = _HEAD.match(body)
    if head is None:
        return 0  # plain characters: nothing taken from outside
    h = head.group(1)
    if h in _SELF_CONTAINED:
        return 0
    if h in meaning and depth < 8:
        return 0 if _arity(h, meaning, robust, optional, resolved, depth + 1) == 0 else None
    return None
