"""The topics stage at 1x, 4x and 16x the shared prose corpus, side by side.

Each copy of the prose files has new ids and one word in 20 respelt per copy (bench/scale_copies.py),
so the dictionary grows as with real new papers. The equation papers (`topics.input`) stay those of a
prepared run (default: outputs/default). Each scale runs `python -m pipeline stage=topics` in a fresh
run folder, measured as bench/scale_prepare.py measures (CPU: the stage's own figure, which counts the
restarts' forkserver workers). Prints wall, CPU, peak memory and ratios to 1x.

    .venv/bin/python bench/scale_topics.py                       # 1 4 16
    .venv/bin/python bench/scale_topics.py --scales 1 4 --set topics.fit_workers=2 topics.restart_workers=1
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_copies import make_copies  # noqa: E402
from bench.scale_prepare import measure, print_growth  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale_bench"))
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--papers", type=Path, default=ROOT / "outputs" / "default" / "prepared" / "papers.jsonl")
    ap.add_argument("--set", nargs="*", default=[], help="more overrides, e.g. topics.fit_workers=2")
    args = ap.parse_args()
    if not args.papers.exists():
        sys.exit(f"{args.papers} does not exist: run prepare first (or give --papers)")
    t = time.perf_counter()
    copies = make_copies(args.corpus, args.work, max(args.scales), ("prose",))
    print(f"copies ready in {time.perf_counter() - t:.0f} s under {args.work / 'copies'}", flush=True)
    py = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pipeline", "stage=topics",
          f"paths.outputs={args.work / 'outputs'}", "topics.progress=false", f"topics.input={args.papers}", *args.set]
    rows = []
    for s in args.scales:
        files = [f for c in copies[:s] for f in sorted((c / "prose").glob("*.jsonl*"))]
        run = f"topics-x{s}"
        shutil.rmtree(args.work / "outputs" / run, ignore_errors=True)
        m = measure([*py, f"run={run}", f"topics.corpus=[{','.join(map(str, files))}]"], args.work / f"{run}.log")
        if m["rc"]:
            sys.exit(f"topics failed at {s}x: see {args.work}/{run}.log")
        rep = json.loads((args.work / "outputs" / run / "topics" / "report.json").read_text())
        stages = json.loads((args.work / "outputs" / run / "stages.json").read_text())
        # the stage's own CPU figure counts its forkserver's restart workers, which rusage misses
        row = {"scale": s, "wall": m["wall"], "cpu": max(m["cpu"], stages["topics"]["cpu_s"]), "peak_mb": m["peak_mb"],
               "peak_all_mb": m["peak_all_mb"],
               "train_docs": rep["documents"].get("train_documents"), "vocabulary": rep["documents"].get("vocabulary"),
               "val_accuracy": rep["figures"]["validation"].get("accuracy"),
               "c_npmi": rep["coherence_val"]["c_npmi"].get("mean"),
               "input_mb": sum(f.stat().st_size for f in files) / 2**20}
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    base = rows[0]
    print_growth(rows)
    print(f"\ntopics{' ' + ' '.join(args.set) if args.set else ''}; ratios to {base['scale']}x: time per copy, memory as is")
    print(f"{'scale':>5} {'docs':>7} {'vocab':>6} {'input MB':>8} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} "
          f"{'all MB':>7} {'wall/copy':>9} {'cpu/copy':>8} {'peak':>6} {'all':>6}")
    for r in rows:
        k = r["scale"] / base["scale"]
        print(f"{r['scale']:>5} {r['train_docs']:>7} {r['vocabulary']:>6} {r['input_mb']:>8.0f} {r['wall']:>8.1f} "
              f"{r['cpu']:>8.1f} {r['peak_mb']:>8.0f} {r['peak_all_mb']:>7.0f} {r['wall'] / base['wall'] / k:>9.2f} "
              f"{r['cpu'] / base['cpu'] / k:>8.2f} {r['peak_mb'] / base['peak_mb']:>6.2f} "
              f"{r['peak_all_mb'] / base['peak_all_mb']:>6.2f}")


if __name__ == "__main__":
    main()
