"""siunitx's unit macros (`\\si{\\kilo\\meter\\per\\second}`) in plain symbols (`km\\,s^{-1}`).

The package rewrites turn `\\si{U}`, `\\SI{n}{U}`, `\\unit{U}`, `\\qty{n}{U}` and `\\SIrange` into
`\\mathrm{U}`; where U is written with siunitx's unit macros rather than literal text, those macros
mean nothing to the fixed preamble. This step, run on an equation before the package rewrites,
replaces them inside those arguments by the symbols siunitx prints with its default settings:
prefixes join their unit (`\\kilo\\gram` -> `kg`), units are separated by a thin space, `\\per`
gives the next unit a negative power, `\\square`/`\\cubic` (before) and `\\squared`/`\\cubed`/
`\\tothe{n}` (after) raise it. An argument with a macro outside these tables is left as it is,
so the equation keeps its undefined command and is dropped rather than guessed.
"""
from __future__ import annotations

import re

from pipeline.latex.scan import read_arg, read_optional

PREFIXES = {
    "yocto": "y", "zepto": "z", "atto": "a", "femto": "f", "pico": "p", "nano": "n", "micro": "\\mu ",
    "milli": "m", "centi": "c", "deci": "d", "deca": "da", "deka": "da", "hecto": "h", "kilo": "k",
    "mega": "M", "giga": "G", "tera": "T", "peta": "P", "exa": "E", "zetta": "Z", "yotta": "Y",
}
UNITS = {
    "ampere": "A", "candela": "cd", "kelvin": "K", "kilogram": "kg", "gram": "g", "metre": "m", "meter": "m",
    "mole": "mol", "second": "s", "becquerel": "Bq", "degreeCelsius": "{}^{\\circ}C", "celsius": "{}^{\\circ}C",
    "coulomb": "C", "farad": "F", "gray": "Gy", "hertz": "Hz", "henry": "H", "joule": "J", "katal": "kat",
    "lumen": "lm", "lux": "lx", "newton": "N", "ohm": "\\Omega", "pascal": "Pa", "radian": "rad",
    "siemens": "S", "sievert": "Sv", "steradian": "sr", "tesla": "T", "volt": "V", "watt": "W", "weber": "Wb",
    "day": "d", "degree": "{}^{\\circ}", "hectare": "ha", "hour": "h", "litre": "L", "liter": "L",
    "arcminute": "'", "arcsecond": "''", "minute": "min", "tonne": "t", "astronomicalunit": "au",
    "atomicmassunit": "u", "bohr": "a_0", "clight": "c", "dalton": "Da", "electronmass": "m_e",
    "electronvolt": "eV", "elementarycharge": "e", "hartree": "E_h", "planckbar": "\\hbar",
    "angstrom": "\\mathring{A}", "bar": "bar", "barn": "b", "bel": "B", "decibel": "dB", "knot": "kn",
    "mmHg": "mmHg", "nauticalmile": "M", "neper": "Np", "percent": "\\%", "erg": "erg", "gauss": "G",
    "parsec": "pc", "lightyear": "ly", "year": "yr", "calorie": "cal", "atmosphere": "atm",
}
_UNIT_COMMANDS = re.compile(r"\\\\|\\(?P<cmd>si|SI|unit|qty|SIrange|qtyrange)(?![A-Za-z@])")
_TOKEN = re.compile(r"\\([A-Za-z]+)|\s+|([^\\\s])", re.S)
_ARGS = {"si": 1, "unit": 1, "SI": 2, "qty": 2, "SIrange": 3, "qtyrange": 3}


def translate_units(units: str) -> str | None:
    """The symbols of a unit argument written with unit macros; None if it uses a macro this
    module does not know (the argument is then left to the caller as it was)."""
    if "\\" not in units:
        return units
    parts: list[str] = []
    prefix = ""
    power = 1  # set by \square, \cubic, \raiseto before the unit
    per = False
    pos = 0
    while pos < len(units):
        m = _TOKEN.match(units, pos)
        if m is None:
            return None
        pos = m.end()
        name = m.group(1)
        if name is None:
            if m.group(2) is not None:
                if m.group(2) in ".~":
                    continue  # siunitx's literal separators
                parts.append(m.group(2))
            continue
        if name in PREFIXES:
            prefix += PREFIXES[name]
        elif name in ("square", "cubic"):
            power = 2 if name == "square" else 3
        elif name == "raiseto":
            got = read_arg(units, pos, braced_only=True)
            if got is None:
                return None
            power, pos = got[0].strip(), got[1]
        elif name == "per":
            per = True
        elif name in ("squared", "cubed", "tothe"):
            if not parts:
                return None
            exp = {"squared": "2", "cubed": "3"}.get(name)
            if name == "tothe":
                got = read_arg(units, pos, braced_only=True)
                if got is None:
                    return None
                exp, pos = got[0].strip(), got[1]
            last = parts.pop()
            base, _, old = last.partition("^")
            sign = "-" if old.startswith("{-") else ""
            parts.append(f"{base}^{{{sign}{exp}}}")
        elif name in UNITS:
            sym = prefix + UNITS[name]
            exp = f"{'-' if per else ''}{power}" if per or power != 1 else ""
            parts.append(f"{sym}^{{{exp}}}" if exp else sym)
            prefix, power, per = "", 1, False
        else:
            return None
    return "\\,".join(p.strip() for p in parts)


def rewrite_units(latex: str) -> str:
    """`latex` with the unit arguments of siunitx's commands translated (see the module docstring)."""
    if "\\" not in latex or not _UNIT_COMMANDS.search(latex):
        return latex
    out: list[str] = []
    pos = 0
    for m in _UNIT_COMMANDS.finditer(latex):
        cmd = m.group("cmd")
        if cmd is None or m.start() < pos:
            continue
        _opt, i = read_optional(latex, m.end())
        args: list[tuple[int, int]] = []
        for _ in range(_ARGS[cmd]):
            got = read_arg(latex, i, braced_only=True)
            if got is None:
                break
            args.append((got[1] - len(got[0]) - 1, got[1] - 1))
            i = got[1]
        if len(args) != _ARGS[cmd]:
            continue
        a, b = args[-1]
        units = translate_units(latex[a:b])
        if units is None or units == latex[a:b]:
            continue
        out.append(latex[pos:a])
        out.append(units)
        pos = b
    out.append(latex[pos:])
    return "".join(out)
