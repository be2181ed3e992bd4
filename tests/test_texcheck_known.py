"""The commands the preamble knows: found by TeX, checked against TeX."""
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.texcheck import Equation, Preamble, check
from pipeline.texcheck.known import known_commands

P = Preamble()
CORPUS_EQS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "extra" / "hepth2003_equations.jsonl"

# Commands of these packages whose arguments are not math (dimensions, numbers, environment or
# command names) or that only work inside alignments or in the preamble: `x` cannot fill them.
NOT_MATH_ARGS = {
    "Aboxed", "DeclarePairedDelimiterX", "DeclarePairedDelimiterXPP", "MakeAboxedCommand", "MoveEqLeft",
    "MultiIntegral", "begin", "downbracefill", "downbracketend", "downbracketfill", "endmathdisplay",
    "genfrac", "hdotsfor", "leftarrowfill", "mathdisplay", "mintagsep", "mspace", "raisetag",
    "reDeclarePairedDelimiterInnerWrapper", "rightarrowfill", "sideset", "skew", "tmspace", "upbracefill",
    "upbracketend", "upbracketfill",
}


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    return known_commands(P, tmp_path_factory.mktemp("known"))


def test_size_and_control_symbols(known):
    assert len(known) > 3000
    for sym in (",", ";", "!", "{", "}", "|", "\\", "%", "#"):
        assert sym in known
    assert known["frac"] == 2 and known["bm"] == 1 and known["alpha"] == 0 and known["relax"] is None
    assert "beq" not in known and "nn" not in known


def test_cached_on_disk_by_preamble_hash(tmp_path):
    a = known_commands(P, tmp_path)
    assert (tmp_path / f"known-{P.hash}.json").exists()
    assert known_commands(P, tmp_path) == a
    assert json.loads((tmp_path / f"known-{P.hash}.json").read_text()) == a


def math_pool(known):
    files = subprocess.run(["kpsewhich", "amsmath.sty", "amssymb.sty", "amsfonts.sty", "fontmath.ltx",
                            "mathtools.sty"], capture_output=True, text=True).stdout.split()
    declared = set()
    for f in files:
        declared |= set(re.findall(r"\\(?:DeclareMath\w+|DeclareRobustCommand|newcommand|def|let)\s*\{?\\([A-Za-z]+)",
                                   Path(f).read_text(encoding="latin-1")))
    return sorted(n for n in declared if n in known and known[n] is not None and n not in NOT_MATH_ARGS)


def test_hundred_math_commands_from_the_list_compile(known):
    pool = math_pool(known)
    assert len(pool) > 300
    names = random.Random(7).sample(pool, 100)
    vs = check([Equation("\\" + n + "{x}" * known[n]) for n in names], P, workers=2, use_cache=False)
    assert [(n, v.error) for n, v in zip(names, vs) if not v.compiles] == []


@pytest.mark.corpus
def test_hundred_names_outside_the_list_are_undefined(known):
    seen = set()
    with open(CORPUS_EQS, encoding="utf-8") as f:
        for line in f:
            seen |= set(re.findall(r"\\([A-Za-z]+)", json.loads(line)["latex"]))
            if len(seen) > 5000:
                break
    outside = sorted(n for n in seen if n not in known)
    rng = random.Random(7)
    names = rng.sample(outside, min(70, len(outside)))
    names += ["".join(rng.choice("qzxjvkw") for _ in range(6)) + str(i) for i in range(100 - len(names))]
    names = [re.match(r"[A-Za-z]+", n).group(0) for n in names]
    names = [n for n in names if n not in known]
    vs = check([Equation("\\" + n) for n in names], P, workers=2, use_cache=False)
    assert len(names) >= 95
    assert all(v.error.startswith("Undefined control sequence") for v in vs), \
        [(n, v) for n, v in zip(names, vs) if not (v.error or "").startswith("Undefined")]
