"""Prepare at 1x, 4x and 16x the shared corpora (arXiv tars and document folders), side by side.

Each copy has new ids and altered content (bench/scale_copies.py). Each scale runs
`python -m pipeline stage=prepare` in a fresh run folder, in a child process that reports CPU time
(all processes, from rusage) and peak resident memory (its process tree polled every 0.2 s: the
largest process, and all of them together). Prints wall, CPU and peak memory per scale and their
ratios to 1x (time per copy; memory as is).

    .venv/bin/python bench/scale_prepare.py                  # 1 4 16, in /tmp/scale_bench
    .venv/bin/python bench/scale_prepare.py --scales 1 4 --shards 2
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scale_copies import make_copies  # noqa: E402

MEASURE = """
import json, os, resource, subprocess, sys, time

def tree(root):
    # pids of root and all its descendants (a forkserver's workers included), from /proc
    parent = {}
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/stat') as fh:
                    parent[int(pid)] = int(fh.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out

def rss(pid):
    try:
        with open(f'/proc/{pid}/statm') as fh:
            return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0

log = open(LOG, 'w')
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=log)
peak_total = peak_one = 0
while proc.poll() is None:
    sizes = [rss(p) for p in tree(proc.pid)]
    peak_total, peak_one = max(peak_total, sum(sizes)), max(peak_one, max(sizes, default=0))
    time.sleep(0.2)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall": time.perf_counter() - t, "cpu": u.ru_utime + u.ru_stime,
                  "peak_mb": max(peak_one, u.ru_maxrss * 1024) / 2**20, "peak_all_mb": peak_total / 2**20}))
"""


def measure(cmd: list[str], log: Path) -> dict:
    """Run `cmd` in a child that polls the memory of its whole process tree every 0.2 s (peak of the largest
    process, and of all of them together) and reports its children's CPU time from rusage."""
    out = subprocess.run([sys.executable, "-c", MEASURE.replace("LOG", repr(str(log)), 1), *cmd],
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_growth(rows: list[dict]) -> None:
    """Growth between scales, per copy: a stage with a fixed part (start-up; topics: θ of the equation
    papers) grows linearly when these agree, though the time per copy from 1x falls."""
    for a, b in zip(rows, rows[1:]):
        step = (b["wall"] - a["wall"]) / (b["scale"] - a["scale"])
        first = (rows[1]["wall"] - rows[0]["wall"]) / (rows[1]["scale"] - rows[0]["scale"])
        cpu = (b["cpu"] - a["cpu"]) / (b["scale"] - a["scale"])
        print(f"{a['scale']}x -> {b['scale']}x: {step:.1f} s wall and {cpu:.1f} s CPU a copy ({step / first:.2f} of the "
              "first step)")


def warm_tex_cache(cache: Path) -> None:
    from pipeline.config import compose
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    tex = compose([]).tex
    known_commands(Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages), cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale_bench"))
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--shards", type=int, default=1, help="run the shards one after another, then the merge")
    args = ap.parse_args()
    t = time.perf_counter()
    copies = make_copies(args.corpus, args.work, max(args.scales), ("arxiv", "folders"))
    print(f"copies ready in {time.perf_counter() - t:.0f} s under {args.work / 'copies'}", flush=True)
    common = ["stage=prepare", f"paths.outputs={args.work / 'outputs'}", "prepare.progress=false",
              f"tex.cache_dir={args.work / 'texcache'}"]
    py = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pipeline"]
    warm_tex_cache(args.work / "texcache")  # asked of TeX once: in no scale's time
    rows = []
    for s in args.scales:
        sources = ",".join(f"{c / 'arxiv'},{c / 'folders'}" for c in copies[:s])
        run = f"x{s}-n{args.shards}"
        shutil.rmtree(args.work / "outputs" / run, ignore_errors=True)
        parts = []
        if args.shards > 1:
            for i in range(args.shards):
                parts.append(measure([*py, *common, f"run={run}", f"data.sources=[{sources}]",
                                      f"prepare.num_shards={args.shards}", f"prepare.shard={i}"],
                                     args.work / f"{run}-shard{i}.log"))
        parts.append(measure([*py, *common, f"run={run}", f"data.sources=[{sources}]", f"prepare.num_shards={args.shards}"],
                             args.work / f"{run}.log"))
        if any(p["rc"] for p in parts):
            sys.exit(f"prepare failed at {s}x: see {args.work}/{run}*.log")
        stats = json.loads((args.work / "outputs" / run / "prepared" / "stats.json").read_text())
        row = {"scale": s, "wall": sum(p["wall"] for p in parts), "cpu": sum(p["cpu"] for p in parts),
               "peak_mb": max(p["peak_mb"] for p in parts), "peak_all_mb": max(p["peak_all_mb"] for p in parts),
               "papers": stats["extract"]["papers"],
               "equations": stats["extract"]["equations_kept"], "vocab": stats["extract"]["vocab_size"],
               "disk_mb": sum(f.stat().st_size for f in (args.work / "outputs" / run).rglob("*") if f.is_file()) / 2**20}
        rows.append(row)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    base = rows[0]
    print_growth(rows)
    print(f"\nprepare, {args.shards} shard(s); ratios to {base['scale']}x: time per copy, memory as is")
    print(f"{'scale':>5} {'papers':>7} {'equations':>9} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'all MB':>7} "
          f"{'disk MB':>8} {'wall/copy':>9} {'cpu/copy':>8} {'peak':>6} {'all':>6}")
    for r in rows:
        k = r["scale"] / base["scale"]
        print(f"{r['scale']:>5} {r['papers']:>7} {r['equations']:>9} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['peak_mb']:>8.0f} "
              f"{r['peak_all_mb']:>7.0f} {r['disk_mb']:>8.0f} {r['wall'] / base['wall'] / k:>9.2f} "
              f"{r['cpu'] / base['cpu'] / k:>8.2f} {r['peak_mb'] / base['peak_mb']:>6.2f} "
              f"{r['peak_all_mb'] / base['peak_all_mb']:>6.2f}")


if __name__ == "__main__":
    main()
