"""Equations each extraction fix gains, measured by turning it off, one at a time, in one run.

    .venv/bin/python bench/prepare_gains.py [--run default] [--workers 2]

Reads the run's flattened papers (`python -m pipeline stage=prepare` first) and extracts every paper
once with the current code and once per fix with that fix reverted to the earlier behaviour; prints
kept equations, the kept fraction where the macros are present, and the difference, side by side.
The variants patch this process (and its forked workers) only.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from pipeline.latex import extract, macros, rewrite
from pipeline.texcheck.known import known_commands
from pipeline.texcheck.preamble import Preamble

_OLD_WORD = re.compile(r"\\([A-Za-z]+)")


def _old_undefined(latex, known):  # before fix 1: `\\f` read as the command `\f`
    return {m.group(1) for m in _OLD_WORD.finditer(latex) if m.group(1) not in known and m.group(1) not in ("begin", "end")}


_NEW_RULE_PACKAGES = {"hyperref", "xspace", "amsthm"}


def _old_rules():
    rules = rewrite.load_rules()
    keep = []
    for r in rules:
        new_physics = r.package == "physics" and (r.only_if_loaded or r.slots in ("()", "||") or r.command in {
            "qty", "pqty", "bqty", "vqty", "Bqty", "mqty", "pmqty", "bmqty", "vmqty", "smqty", "innerproduct",
            "outerproduct", "expectationvalue", "matrixelement", "commutator", "anticommutator", "poissonbracket",
            "laplacian", "gradient", "divergence", "trace", "Trace", "Res", "erf", "erfc", "PV", "fdv",
            "functionalderivative", "derivative", "partialderivative"}
            or r.command.startswith("q") and r.command not in ("qq", "qc"))
        new_other = (r.package in _NEW_RULE_PACKAGES and r.command != "href") or r.command in ("qty", "unit")
        if not (new_physics or new_other):
            keep.append(r)
    return tuple(keep)


VARIANTS = {
    "current": [],
    "no fix 1 (\\\\ then a letter)": [("pipeline.latex.extract.undefined_commands", _old_undefined)],
    "no fix 2 (@ in names)": [("pipeline.latex.macros.MacroTable._regex", "no_at")],
    "no new definition forms (xparse, paired delimiters, @ifstar, env commands, mathchardef)": [
        ("pipeline.latex.macros._DEFINITION", re.compile(
            r"\\\\|(?:\\(?:long|global|outer|protected)\s*)*\\(?P<cmd>newcommand|renewcommand|providecommand"
            r"|DeclareRobustCommand|def|gdef|edef|xdef|let|DeclareMathOperator|newenvironment|renewenvironment)"
            r"(?P<star>\*?)(?![A-Za-z@])")),
        ("pipeline.latex.macros.MacroTable.add_lookahead_tests", lambda self: None)],
    "no new package rules (physics, hyperref, xspace, amsthm, siunitx \\qty)": [
        ("pipeline.latex.rewrite._default_rules", _old_rules)],
    "no glossary entries": [("pipeline.latex.extract.expand_glossary", lambda latex, entries: latex)],
    "no siunitx units": [("pipeline.latex.extract.rewrite_units", lambda latex: latex)],
    "no \\ensuremath, \\eqno, plain TeX matrices": [
        ("pipeline.latex.extract.unwrap_ensuremath", lambda latex: latex),
        ("pipeline.latex.rewrite.plain_tex_matrices", lambda latex: latex),
        ("pipeline.latex.normalise._drop_eqno", lambda s: s)],
}

_KNOWN: dict = {}
_VARIANT = "current"


def _init(known, variant):
    global _KNOWN, _VARIANT
    _KNOWN, _VARIANT = known, variant
    stack = ExitStack()
    for target, new in VARIANTS[variant]:
        if new == "no_at":
            original = macros.MacroTable._regex

            def patched(self, names, _orig=original):
                pool = self.macros.keys() if names is None else names
                letters = frozenset(n for n in pool if "@" not in n)
                return _orig(self, letters)
            stack.enter_context(mock.patch.object(macros.MacroTable, "_regex", patched))
        else:
            stack.enter_context(mock.patch(target, new))
    stack.pop_all()  # patches stay for the worker's life


def _one(line: str) -> tuple[str, int, int, int]:
    rec = json.loads(line)
    try:
        r = extract.extract_paper(rec["latex"], rec.get("styles") or {}, _KNOWN, 400, prose=False)
    except Exception:  # counted as nothing kept, as prepare does
        return rec["id"], 0, 0, 0
    return rec["id"], r.found, len(r.equations), r.dropped.get("diagram", 0)


def run_variant(flat_dir: Path, known, variant: str, workers: int) -> Counter:
    index = json.loads((flat_dir / "index.json").read_text())["shards"]
    lines = [line for shard in index for line in gzip.open(flat_dir / shard, "rt", encoding="utf-8")]
    c: Counter = Counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(known, variant)) as pool:
        for pid, found, kept, diagrams in pool.map(_one, lines, chunksize=8):
            group = "hep-th 2003" if pid.startswith("hep-th/03") else "macros present"
            c[f"{group} found"] += found
            c[f"{group} kept"] += kept
            c[f"{group} diagram"] += diagrams
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="default")
    ap.add_argument("--outputs", default="outputs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    flat = Path(args.outputs) / args.run / "prepared" / "flat"
    known = known_commands(Preamble(), Path(args.outputs) / ".cache" / "texcheck")
    rows = {v: run_variant(flat, known, v, args.workers) for v in VARIANTS}
    cur = rows["current"]
    print("variant | kept (all) | kept, macros present | kept fraction, macros present (no diagrams) | gain of the fix")
    for v, c in rows.items():
        kept = c["hep-th 2003 kept"] + c["macros present kept"]
        mp = c["macros present kept"] / max(1, c["macros present found"])
        mpd = c["macros present kept"] / max(1, c["macros present found"] - c["macros present diagram"])
        gain = (cur["hep-th 2003 kept"] + cur["macros present kept"]) - kept
        shown = gain if v != "current" else "-"
        print(f"{v} | {kept} | {c['macros present kept']} | {100 * mp:.2f}% ({100 * mpd:.2f}%) | {shown}")


if __name__ == "__main__":
    main()
