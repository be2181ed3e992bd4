"""Glossary and acronym entries a paper defines, and what `\\gls{key}` and friends print.

Definitions read (glossaries, glossaries-extra, acronym): `\\newacronym[..]{key}{short}{long}`,
`\\newabbreviation[..]{key}{short}{long}`, `\\newglossaryentry{key}{name=..,symbol=..,..}` and
`\\acro{KEY}[short]{long}`. In an equation, a use is replaced by the entry's text as the paper
prints it: the short form for `\\gls`/`\\acrshort`/`\\acs`/`\\ac` of an acronym, the long form for
`\\acrlong`/`\\acl`, the name (or symbol for `\\glssymbol`) of a glossary entry; plural forms add
the entry's plural or an `s`; capitalised forms capitalise. Plain text goes into `\\text{..}`; text
that is itself math (`$\\alpha$`, `\\ensuremath{\\alpha}`) is used as math. A key the paper does not
define stays as written, so the equation is dropped as undefined: the text is unknown.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.latex.scan import match_brace, read_arg, read_optional

_DEFINE = re.compile(r"\\\\|\\(newacronym|newabbreviation|newglossaryentry|acro|acrodef)(?![A-Za-z@])")
_USE = re.compile(
    r"\\\\|\\(?P<cmd>gls|Gls|GLS|glspl|Glspl|GLSpl|glstext|Glstext|glsname|Glsname|glsentryname|Glsentryname"
    r"|glsentrytext|glssymbol|Glssymbol|glsentrysymbol|acrshort|Acrshort|acrshortpl|acrlong|Acrlong|acrlongpl"
    r"|acrfull|Acrfull|glsxtrshort|glsxtrlong|glsentryshort|glsentrylong|ac|Ac|acp|Acp|acs|acsp|acl|Acl|aclp"
    r"|acf|Acf|acfp|acused|glsadd)(?P<star>[*+]?)(?![A-Za-z@])"
)
_KEYVAL = re.compile(r"\s*([A-Za-z]+)\s*=\s*")
_MATH_ONLY = re.compile(r"\A\s*(?:\$(?P<d>[^$]+)\$|\\ensuremath\s*\{(?P<e>.*)\})\s*\Z", re.S)


@dataclass
class Entry:
    short: str | None = None
    long: str | None = None
    name: str | None = None
    symbol: str | None = None
    plural: str | None = None


def _keyvals(text: str) -> dict[str, str]:
    """`name={x}, description=y` -> {"name": "x", "description": "y"} (values braced or to the comma)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        m = _KEYVAL.match(text, i)
        if m is None:
            j = text.find(",", i)
            if j < 0:
                break
            i = j + 1
            continue
        j = m.end()
        if j < len(text) and text[j] == "{":
            k = match_brace(text, j)
            if k < 0:
                break
            out[m.group(1).lower()] = text[j + 1 : k - 1]
            i = k
            comma = text.find(",", i)
            i = len(text) if comma < 0 else comma + 1
        else:
            comma = text.find(",", j)
            end = len(text) if comma < 0 else comma
            out[m.group(1).lower()] = text[j:end].strip()
            i = end + 1
    return out


def read_entries(texts: Iterable[str]) -> dict[str, Entry]:
    """Every entry the texts define, by key (a later definition of a key wins)."""
    entries: dict[str, Entry] = {}
    for text in texts:
        if "\\newacronym" not in text and "\\newglossaryentry" not in text and "\\acro" not in text \
                and "\\newabbreviation" not in text:
            continue
        for m in _DEFINE.finditer(text):
            cmd = m.group(1)
            if cmd is None:
                continue
            i = m.end()
            if cmd in ("newacronym", "newabbreviation"):
                _opts, i = read_optional(text, i)
                parts = []
                for _ in range(3):
                    r = read_arg(text, i, braced_only=True)
                    if r is None:
                        break
                    parts.append(r[0])
                    i = r[1]
                if len(parts) == 3:
                    opts = _keyvals(_opts or "")
                    entries[parts[0].strip()] = Entry(short=parts[1], long=parts[2], plural=opts.get("shortplural"))
            elif cmd == "newglossaryentry":
                key = read_arg(text, i, braced_only=True)
                if key is None:
                    continue
                body = read_arg(text, key[1], braced_only=True)
                if body is None:
                    continue
                kv = _keyvals(body[0])
                entries[key[0].strip()] = Entry(name=kv.get("name"), symbol=kv.get("symbol"), plural=kv.get("plural"),
                                                short=kv.get("short"), long=kv.get("long"))
            else:  # acronym package: \acro{KEY}[short]{long}
                key = read_arg(text, i, braced_only=True)
                if key is None:
                    continue
                short, j = read_optional(text, key[1])
                long = read_arg(text, j, braced_only=True)
                if long is None:
                    continue
                entries[key[0].strip()] = Entry(short=short if short is not None else key[0].strip(), long=long[0])
    return entries


def _as_math(text: str) -> str:
    m = _MATH_ONLY.match(text)
    if m:
        return m.group("d") if m.group("d") is not None else m.group("e")
    return "\\text{" + text.strip() + "}"


def _text_for(cmd: str, entry: Entry) -> str | None:
    base = cmd.lower().lstrip()
    if base in ("acused", "glsadd"):
        return ""
    is_acronym = entry.short is not None and entry.name is None
    if "symbol" in base:
        text = entry.symbol
    elif "long" in base or base in ("acl", "aclp"):
        text = entry.long
    elif "full" in base or base in ("acf", "acfp"):
        text = f"{entry.long} ({entry.short})" if entry.long and entry.short else None
    elif "short" in base or base in ("acs", "acsp", "ac", "acp") or is_acronym:
        text = entry.short
    else:
        text = entry.name if entry.name is not None else entry.short
    if text is None:
        return None
    plural = base.endswith("pl") or base in ("acp", "acsp", "aclp", "acfp")
    if plural:
        text = entry.plural or text + "s"
    if cmd[:1].isupper() and text[:1].isalpha():
        text = text.upper() if cmd[:3].isupper() else text[:1].upper() + text[1:]
    return text


def expand_glossary(latex: str, entries: dict[str, Entry]) -> str:
    """`latex` with every use of a defined entry replaced by its text (see the module docstring)."""
    if not entries or "\\" not in latex:
        return latex
    out: list[str] = []
    pos = 0
    for m in _USE.finditer(latex):
        if m.group("cmd") is None or m.start() < pos:
            continue
        _opt, i = read_optional(latex, m.end())
        key = read_arg(latex, i, braced_only=True)
        if key is None or key[0].strip() not in entries:
            continue
        text = _text_for(m.group("cmd"), entries[key[0].strip()])
        if text is None:
            continue
        out.append(latex[pos : m.start()])
        out.append(_as_math(text) if text else "")
        pos = key[1]
    out.append(latex[pos:])
    return "".join(out)
