"""Speed and exactness of the validate stage's fast mode against its reference mode.

    python bench/bench_validate.py --build-oracle      # reference verdicts of every labelled equation (~10 min)
    python bench/bench_validate.py                     # 10% and 40% failure mixes: both modes side by side
    python bench/bench_validate.py --compare-all       # fast mode on all labelled equations vs the oracle

Equations are real (the shared corpus' hep-th 2003 compile labels); compiled/failed ones are drawn by
their reference verdict (the oracle). The verdict cache is off throughout: every rate is an empty-cache
rate. The dumped format is built before timing (once per preamble, ~0.3 s, cached on disk).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.texcheck import Equation, Preamble, check  # noqa: E402
from pipeline.texcheck.fmt import format_path  # noqa: E402
from pipeline.texcheck.logparse import error_kind  # noqa: E402

LABELS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "extra" / "hepth2003_compile_labels.jsonl"
ORACLE = Path("outputs/oracle/hepth2003_reference.jsonl")


def load_labels(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_oracle(rows: list[dict], out: Path, workers: int) -> None:
    t0 = time.perf_counter()
    vs = check([Equation(r["latex"]) for r in rows], Preamble(), mode="reference", workers=workers,
               use_cache=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for r, v in zip(rows, vs):
            f.write(json.dumps({"hash": r["hash"], "label": r["label"], "compiles": v.compiles,
                                "error": v.error}) + "\n")
    print(f"oracle: {len(rows)} reference verdicts in {time.perf_counter() - t0:.0f} s -> {out}")


def timed(eqs: list[Equation], mode: str, workers: int, cache_dir: Path) -> tuple[list, float]:
    t0 = time.perf_counter()
    vs = check(eqs, Preamble(), mode=mode, workers=workers, cache_dir=cache_dir, use_cache=False)
    return vs, time.perf_counter() - t0


def mix(rows: list[dict], oracle: dict[str, dict], n: int, fail_rate: float, rng: random.Random) -> list[dict]:
    ok = [r for r in rows if oracle[r["hash"]]["compiles"]]
    bad = [r for r in rows if not oracle[r["hash"]]["compiles"]]
    k = round(n * fail_rate)
    sample = rng.sample(bad, k) + rng.sample(ok, n - k)
    rng.shuffle(sample)
    return sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--oracle", type=Path, default=ORACLE)
    ap.add_argument("--build-oracle", action="store_true")
    ap.add_argument("--compare-all", action="store_true")
    ap.add_argument("--n", type=int, default=1000, help="equations per fast-mode mix")
    ap.add_argument("--ref-n", type=int, default=150, help="equations per reference-mode mix (smaller: slow)")
    ap.add_argument("--fail-rates", type=float, nargs="+", default=[0.1, 0.4])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    rows = load_labels(args.labels)
    if args.build_oracle:
        build_oracle(rows, args.oracle, args.workers)
        return
    if not args.oracle.exists():
        sys.exit(f"no oracle at {args.oracle}; build it first: python bench/bench_validate.py --build-oracle")
    oracle = {o["hash"]: o for o in load_labels(args.oracle)}
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        cache_dir = Path(tmp)
        t0 = time.perf_counter()
        format_path(Preamble(), cache_dir)
        print(f"format dump: {time.perf_counter() - t0:.3f} s (once per preamble, then cached)")
        if args.compare_all:
            compare_all(rows, oracle, args.workers, cache_dir)
            return
        rng = random.Random(args.seed)
        print(f"{'failures':>8} {'fast n':>7} {'fast eq/s':>10} {'ref n':>6} {'ref eq/s':>9} {'ratio':>6} "
              f"{'disagree':>8}")
        for rate in args.fail_rates:
            sample = mix(rows, oracle, args.n, rate, rng)
            eqs = [Equation(r["latex"]) for r in sample]
            fast, tf = timed(eqs, "fast", args.workers, cache_dir)
            ref_eqs = eqs[:args.ref_n]
            ref, tr = timed(ref_eqs, "reference", args.workers, cache_dir)
            wrong = sum(v.compiles != oracle[r["hash"]]["compiles"] for v, r in zip(fast, sample))
            wrong += sum(a.compiles != b.compiles for a, b in zip(fast, ref))
            rf, rr = len(eqs) / tf, len(ref_eqs) / tr
            print(f"{rate:>8.0%} {len(eqs):>7} {rf:>10.1f} {len(ref_eqs):>6} {rr:>9.1f} {rf / rr:>6.1f} {wrong:>8}")


def compare_all(rows: list[dict], oracle: dict[str, dict], workers: int, cache_dir: Path) -> None:
    eqs = [Equation(r["latex"]) for r in rows]
    vs, t = timed(eqs, "fast", workers, cache_dir)
    diff = [(r, v) for r, v in zip(rows, vs) if v.compiles != oracle[r["hash"]]["compiles"]]
    same_err = sum(v.error == oracle[r["hash"]]["error"] for r, v in zip(rows, vs))
    print(f"fast mode on all {len(rows)} labelled equations: {t:.1f} s, {len(rows) / t:.1f} eq/s")
    print(f"verdicts differing from the reference: {len(diff)}; identical error text: {same_err}/{len(rows)}")
    for r, v in diff[:20]:
        print("  DIFF", r["hash"], v, oracle[r["hash"]])
    agree = sum((oracle[r["hash"]]["compiles"]) == (r["label"] == "compiled") for r in rows)
    print(f"reference verdict agrees with the file's label on {agree}/{len(rows)} ({agree / len(rows):.2%})")
    kinds = Counter()
    for r in rows:
        o = oracle[r["hash"]]
        if o["compiles"] != (r["label"] == "compiled"):
            kinds[(r["label"], "compiles" if o["compiles"] else error_kind(o["error"]))] += 1
    for (label, kind), c in kinds.most_common(15):
        print(f"  label {label:>8}, ours: {kind}: {c}")


if __name__ == "__main__":
    main()
