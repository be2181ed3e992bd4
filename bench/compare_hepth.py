"""Our display-equation counts per hep-th 2003 paper against an outside extraction (run by hand).

    .venv/bin/python bench/compare_hepth.py [--flat outputs/default/prepared/flat] [--worst 25] [--json out.json]

The outside file (shared corpus, extra/hepth2003_equations.jsonl: {paper_id, env, latex}) was made from
the original sources, with the authors' macro definitions, from named environments only (equation,
eqnarray, align, displaymath, alignat, gather, multline, starred forms). Our count for a paper is what
`display_equations` (steps 1-4 of extract_paper: before any per-equation dropping) finds in those
environments, counted the way the outside counts:
- each distinct (environment, whitespace-normalised body) once: the outside file never repeats a text
  within a paper;
- equations written with shorthand pairs (`\\be..\\ee`, found by `shorthand_pairs_in_use`) only where
  the outside expanded them: its expansion of the lost definitions worked in some papers and not in
  others, which shows in its records. Decided per paper from content: at least half of our shorthand
  equations' bodies are among its records, or at least that many of its records are explained by none
  of our named environments. Raw counts with shorthands on/off for all papers are printed too.
A paper is within tolerance when |ours - outside| <= max(1, 10% of outside).

Kinds of difference detected automatically (a paper can have several):
  outside_truncated   the outside holds records whose body is one character (`\\begin{align}\\nR\\n\\end{align}`):
                      broken records, typically of starred/align environments, collapsed by its de-duplication
  source_lacks        outside records whose body does not occur in our flattened text at all (our source
                      is another version, or lost parts of the body)
  ours_extra          our environments whose body is not among the outside's records
  shorthand_unexpanded  the paper uses shorthand pairs the outside did not count
  shorthand_rejected  shorthand names occur but not as a begin/end pair around display math (e.g. \\ba..\\ea
                      as an array inside math): not counted by us
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.latex.extract import display_equations  # noqa: E402
from pipeline.latex.shorthands import SHORTHANDS  # noqa: E402

OUTSIDE = ROOT.parent / "shared" / "corpus" / "extra" / "hepth2003_equations.jsonl"
ENVS = frozenset(e + s for e in "equation eqnarray align displaymath alignat gather multline".split() for s in ("", "*"))
_STRIP = re.compile(r"\\(?:begin|end)\s*\{[a-z*]+\}|\\label\s*\{[^{}]*\}|\\nonumber|\\notag|\\nn(?![A-Za-z])|%[^\n]*")
_SH_NAMES = re.compile(r"\\(" + "|".join(sorted(SHORTHANDS, key=len, reverse=True)) + r")(?![A-Za-z@])")


def key(body: str) -> str:
    """A body's identity for matching across the two extractions (start, blanks/labels removed)."""
    return re.sub(r"\s+", "", _STRIP.sub("", body))[:40]


def loose_key(body: str) -> str:
    """Letters and digits only, control words removed: survives most macro expansions after the start."""
    return re.sub(r"\\[A-Za-z]+|[^A-Za-z0-9]", "", _STRIP.sub("", body))[:12]


def _body(latex: str) -> str:
    return re.sub(r"^\s*\\begin\s*\{[a-z*]+\}|\\end\s*\{[a-z*]+\}\s*$", "", latex).strip()


def within(ours: int, theirs: int) -> bool:
    return abs(ours - theirs) <= max(1, 0.1 * theirs)


def load_flat(flat: Path) -> dict[str, dict]:
    recs = {}
    for shard in json.loads((flat / "index.json").read_text())["shards"]:
        with gzip.open(flat / shard, "rt", encoding="utf-8") as fh:
            for line in fh:
                if '"hep-th/03' not in line[:40]:
                    continue
                d = json.loads(line)
                if d["id"].startswith("hep-th/03"):
                    recs[d["id"]] = d
    return recs


def named(found) -> list[tuple[str, str]]:
    return [(e.written, e.latex) for e in found if e.written in ENVS]


def compare_paper(rec: dict, outside: list[dict], known) -> dict:
    on = named(display_equations(rec["latex"], rec.get("styles") or {}, known, True)[0])
    off = named(display_equations(rec["latex"], rec.get("styles") or {}, known, False)[0])
    out_keys = {key(d["latex"]) for d in outside}
    off_count = Counter((w, key(b)) for w, b in off)
    sh_eqs = [(w, b) for w, b in on if not off_count.get((w, key(b)))]
    out_loose = {loose_key(d["latex"]) for d in outside}
    sh_matched = sum(key(b) in out_keys or loose_key(b) in out_loose for _w, b in sh_eqs)
    # Outside records none of our named environments explains: shorthand equations the outside
    # expanded (their texts may differ from ours where it expanded the paper's other macros too).
    off_keys = {key(b) for _w, b in off} | {loose_key(b) for _w, b in off}
    unexplained = sum(key(d["latex"]) not in off_keys and loose_key(d["latex"]) not in off_keys for d in outside)
    outside_expanded = bool(sh_eqs) and max(sh_matched, unexplained) >= 0.5 * len(sh_eqs)
    chosen = on if outside_expanded else off
    # The outside's broken records (a one- or two-character body, `\\l` of `\\label`) stand for
    # equations it cut short, collapsed by its de-duplication: left out on both sides, ours being
    # those not among its records whose body starts with such a stub.
    stubs = {_body(d["latex"]) for d in outside if len(_body(d["latex"])) <= 2}
    truncated = sum(len(_body(d["latex"])) <= 2 for d in outside)
    out_loose_all = {loose_key(d["latex"]) for d in outside}
    cut = {(w, re.sub(r"\s+", "", b)) for w, b in chosen
           if stubs and key(b) not in out_keys and loose_key(b) not in out_loose_all
           and any(b.strip().startswith(t) for t in stubs)}
    ours = len({(w, re.sub(r"\s+", "", b)) for w, b in chosen} - cut)
    flat_text = re.sub(r"\s+", "", rec["latex"])
    lacks = sum(1 for d in outside if len(_body(d["latex"])) > 2 and key(d["latex"])[:25] not in flat_text)
    our_keys = {key(b) for _w, b in chosen}
    extra = sum(1 for k in our_keys if k not in out_keys)
    names = Counter(m.group(1) for m in _SH_NAMES.finditer(rec["latex"]))
    n_out = len(outside) - truncated
    kinds = []
    if not within(ours, n_out):
        if truncated:
            kinds.append("outside_truncated")
        if lacks:
            kinds.append("source_lacks")
        if extra:
            kinds.append("ours_extra")
        if sh_eqs and not outside_expanded:
            kinds.append("shorthand_unexpanded")
        if names and not sh_eqs:
            kinds.append("shorthand_rejected")
        if not kinds:
            kinds.append("other")
    return {"ours": ours, "outside": n_out, "ours_stub_matched": len(cut), "outside_all": len(outside), "on": len(on),
            "off": len(off), "shorthand_eqs": len(sh_eqs),
            "outside_expanded": outside_expanded, "truncated": truncated, "lacks": lacks, "extra": extra,
            "ok": within(ours, n_out), "kinds": kinds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flat", type=Path, default=ROOT / "outputs/default/prepared/flat")
    ap.add_argument("--known", type=Path, default=None, help="known-commands JSON (default: the texcheck cache's)")
    ap.add_argument("--worst", type=int, default=25)
    ap.add_argument("--json", type=Path, default=None, help="write per-paper results here")
    a = ap.parse_args()
    known_path = a.known or next(iter(sorted((ROOT / "outputs/.cache/texcheck").glob("known-*.json"))), None)
    known = json.loads(known_path.read_text()) if known_path else {}
    outside: dict[str, list[dict]] = {}
    with open(OUTSIDE, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            outside.setdefault(d["paper_id"], []).append(d)
    recs = load_flat(a.flat)
    covered = sorted(set(outside) & set(recs))
    res = {pid: compare_paper(recs[pid], outside[pid], known) for pid in covered}
    n_ok = sum(r["ok"] for r in res.values())
    print(f"outside papers {len(outside)}, ours {len(recs)}, compared {len(covered)} "
          f"(outside papers we lack: {len(set(outside) - set(recs))})")
    print(f"within tolerance: {n_ok}/{len(res)} = {n_ok / len(res):.1%}")
    for label, fld in (("shorthands off for all", "off"), ("shorthands on for all", "on")):
        k = sum(within(r[fld], r["outside_all"]) for r in res.values())
        print(f"  (for reference, raw counts, {label}: {k}/{len(res)} = {k / len(res):.1%})")
    sh = [r for r in res.values() if r["shorthand_eqs"]]
    print(f"papers with shorthand environments: {len(sh)}; outside counted them in "
          f"{sum(r['outside_expanded'] for r in sh)}")
    kinds = Counter(k for r in res.values() for k in r["kinds"])
    print("differences by kind (papers outside tolerance; a paper can have several):")
    for k, v in kinds.most_common():
        print(f"  {k:22s} {v}")
    print(f"worst {a.worst} papers (|ours - outside|):")
    worst = sorted(res.items(), key=lambda kv: -abs(kv[1]["ours"] - kv[1]["outside"]))[: a.worst]
    for pid, r in worst:
        print(f"  {pid:16s} ours {r['ours']:4d} outside {r['outside']:4d}  (on {r['on']}, off {r['off']}, "
              f"truncated {r['truncated']}, lacks {r['lacks']}, extra {r['extra']})  {','.join(r['kinds'])}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
