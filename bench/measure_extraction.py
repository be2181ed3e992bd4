"""Extraction quality figures, run by hand after `python -m pipeline stage=prepare`:

    .venv/bin/python bench/measure_extraction.py [--run default] [--n 2000] [--seed 0]

1. Compile rate of a seeded sample of KEPT equations (validate's verdict, no filtering by verdict),
   with the top error causes of the rest.
2. The same check BEFORE expansion and rewriting (raw display bodies as found in the flattened
   papers, comments stripped): the baseline.
3. `normalise` keeps the verdict: a seeded sample of expanded+rewritten bodies, judged before and
   after normalisation; the number of disagreements.
4. Round trip on every kept equation: detokenize(tokenize(y)) == y and tokenize(detokenize(t)) == t.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import Counter
from pathlib import Path

from pipeline.latex.comments import strip_comments
from pipeline.latex.conditionals import remove_iffalse
from pipeline.latex.equations import find_display_equations
from pipeline.latex.extract import BodyExpander, cut_at_end_document, display_equations
from pipeline.latex.flatten import document_body
from pipeline.latex.macros import ExpansionError
from pipeline.latex.normalise import normalise
from pipeline.latex.tokenizer import detokenize, tokenize
from pipeline.texcheck import Equation, Preamble, check
from pipeline.texcheck.known import known_commands
from pipeline.texcheck.logparse import error_kind


def flat_papers(prepared: Path):
    index = json.loads((prepared / "flat" / "index.json").read_text())
    for shard in index["shards"]:
        with gzip.open(prepared / "flat" / shard, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def report(name: str, eqs: list[Equation], cache: Path) -> None:
    t0 = time.perf_counter()
    verdicts = check(eqs, Preamble(), mode="fast", cache_dir=cache)
    ok = sum(v.compiles for v in verdicts)
    kinds = Counter(error_kind(v.error) for v in verdicts if not v.compiles)
    print(f"{name}: {ok}/{len(eqs)} compile = {100 * ok / max(1, len(eqs)):.2f}%  ({time.perf_counter() - t0:.1f} s)")
    for kind, n in kinds.most_common(8):
        print(f"    {n:5d}  {kind}")
    examples = [v.error for v in verdicts if not v.compiles][:5]
    for e in examples:
        print(f"      e.g. {e[:150]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="default")
    ap.add_argument("--outputs", default="outputs")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--n-normalise", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    prepared = Path(args.outputs) / args.run / "prepared"
    cache = Path(args.outputs) / ".cache" / "texcheck"
    rng = random.Random(args.seed)

    kept = [json.loads(line) for line in open(prepared / "equations.jsonl", encoding="utf-8")]
    bad_rt = 0
    for e in kept:
        t = tokenize(e["latex"])
        if detokenize(t) != e["latex"] or tokenize(detokenize(t)) != t:
            bad_rt += 1
    print(f"round trip: {len(kept) - bad_rt}/{len(kept)} kept equations exact")

    sample = rng.sample(kept, min(args.n, len(kept)))
    report(f"kept equations (seeded {len(sample)})", [Equation(e["latex"], e["env"], e["env_arg"]) for e in sample], cache)

    known = known_commands(Preamble(), cache)
    raw, pre_norm = [], []
    for paper in flat_papers(prepared):
        text = document_body(cut_at_end_document(remove_iffalse(strip_comments(paper["latex"]))))
        for eq in find_display_equations(text):
            raw.append(Equation(eq.latex.strip(), eq.env, eq.env_arg))
        styles = paper.get("styles") or {}
        found, table, text = display_equations(paper["latex"], styles, known)
        expander = BodyExpander.for_paper(paper["latex"], text, styles, table, known)
        for eq in found:
            try:
                pre_norm.append((expander.expand(eq.latex).strip(), eq.env, eq.env_arg))
            except ExpansionError:
                pass
    base = rng.sample(raw, min(args.n, len(raw)))
    report(f"baseline: raw display bodies before expansion and rewriting (seeded {len(base)} of {len(raw)})", base, cache)

    pairs = [p for p in rng.sample(pre_norm, min(args.n_normalise * 2, len(pre_norm))) if normalise(p[0])][: args.n_normalise]
    before = check([Equation(b, env, arg) for b, env, arg in pairs], Preamble(), cache_dir=cache)
    after = check([Equation(normalise(b), env, arg) for b, env, arg in pairs], Preamble(), cache_dir=cache)
    changed = [(p, b, a) for p, b, a in zip(pairs, before, after) if b.compiles != a.compiles]
    print(f"normalise keeps the verdict: {len(pairs) - len(changed)}/{len(pairs)} "
          f"(compile before {sum(v.compiles for v in before)}, after {sum(v.compiles for v in after)})")
    for (b, env, _), vb, va in changed[:10]:
        print(f"    {env}: {b[:100]!r} -> {normalise(b)[:100]!r}: {vb.compiles} -> {va.compiles} {va.error or vb.error}")


if __name__ == "__main__":
    main()
