"""Ingest scaling, run by hand: `.venv/bin/python bench/bench_ingest.py [--copies 1,2,5,10]`.

1. Replicates the shared corpus k times on disk (bulk tars rewritten with renamed members, folders
   hard-linked under new names, metadata with the new ids), runs `python -m pipeline stage=prepare`
   on each size and prints wall time, papers/s and the peak memory of the whole process tree
   (sampled from /proc), with ratios to the 1x run: time should grow linearly, memory stay flat.
2. Joins synthetic metadata files of 200,000 and 2,000,000 lines to the corpus's ids and prints
   the time and peak memory of each: memory must not grow with the file.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    """(seconds, peak tree RSS KiB, stderr tail) of a command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kib(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    return time.perf_counter() - t0, peak, err[-500:]


def rename_id(name: str, tag: str) -> str:
    folder, base = name.rsplit("/", 1) if "/" in name else ("", name)
    return f"{folder}/{tag}-{base}" if folder else f"{tag}-{base}"


def replicate(work: Path, copies: int) -> tuple[list[Path], list[Path]]:
    """Sources and metadata files for `copies` copies of the corpus (copy 0 is the corpus itself)."""
    sources = [CORPUS / "arxiv", CORPUS / "folders"]
    metas = [CORPUS / "arxiv" / "arxiv-metadata.jsonl", CORPUS / "folders" / "metadata.jsonl"]
    from pipeline.sources.ids import paper_id

    for k in range(1, copies):
        tag = f"rep{chr(ord('a') + k)}"
        base = work / tag
        if not (base / "done").exists():
            shutil.rmtree(base, ignore_errors=True)
            (base / "arxiv").mkdir(parents=True)
            renamed: dict[str, str] = {}
            for tar_path in sorted((CORPUS / "arxiv").glob("*.tar")):
                with tarfile.open(tar_path) as src, tarfile.open(base / "arxiv" / tar_path.name, "w") as dst:
                    for m in src:
                        data = src.extractfile(m).read() if m.isfile() else None
                        new = rename_id(m.name, tag)
                        renamed[paper_id(m.name)] = paper_id(new)
                        m.name = new
                        dst.addfile(m, io.BytesIO(data) if data is not None else None)
            with open(base / "arxiv" / "meta.jsonl", "w") as out, open(metas[0]) as fh:
                for line in fh:
                    rec = json.loads(line)
                    rec["id"] = renamed.get(rec["id"], f"{tag}-{rec['id']}")
                    out.write(json.dumps(rec) + "\n")
            (base / "folders").mkdir()
            for doc in sorted(p for p in (CORPUS / "folders").iterdir() if p.is_dir()):
                shutil.copytree(doc, base / "folders" / f"{tag}-{doc.name}", copy_function=os.link)
            with open(base / "folders" / "meta.jsonl", "w") as out, open(metas[1]) as fh:
                for line in fh:
                    rec = json.loads(line)
                    rec["id"] = f"{tag}-{rec['id']}"
                    out.write(json.dumps(rec) + "\n")
            (base / "done").touch()
        sources += [base / "arxiv", base / "folders"]
        metas += [base / "arxiv" / "meta.jsonl", base / "folders" / "meta.jsonl"]
    return sources, metas


def bench_scaling(work: Path, sizes: list[int]) -> None:
    print(f"{'copies':>6} {'papers':>7} {'seconds':>8} {'papers/s':>9} {'peak MiB':>9} {'time ratio':>10} {'mem ratio':>9}")
    base = None
    for k in sizes:
        sources, metas = replicate(work, k)
        out = work / "outputs"
        shutil.rmtree(out / f"bench{k}", ignore_errors=True)
        cmd = [sys.executable, "-m", "pipeline", "stage=prepare", f"run=bench{k}", f"paths.outputs={out}",
               "prepare.progress=false", "prepare.extract=false", f"data.sources=[{','.join(map(str, sources))}]",
               f"data.metadata=[{','.join(map(str, metas))}]"]
        secs, peak, _ = run_measured(cmd, ROOT)
        stats = json.loads((out / f"bench{k}" / "prepared" / "stats.json").read_text())["ingest"]
        n = stats["papers_found"]
        if base is None:
            base = (secs / k, peak)
        print(f"{k:>6} {n:>7} {secs:>8.1f} {n / secs:>9.0f} {peak / 1024:>9.0f} "
              f"{secs / base[0]:>10.2f} {peak / base[1]:>9.2f}", flush=True)
        shutil.rmtree(out / f"bench{k}", ignore_errors=True)


def bench_metadata(work: Path, sizes: list[int]) -> None:
    ids = [json.loads(line)["id"] for line in open(CORPUS / "arxiv" / "arxiv-metadata.jsonl")]
    rng = random.Random(0)
    print(f"{'lines':>10} {'MB':>6} {'seconds':>8} {'lines/s':>10} {'peak MiB':>9} {'joined':>7}")
    for n in sizes:
        path = work / f"meta{n}.jsonl"
        if not path.exists():
            real = set(rng.sample(range(n), len(ids)))
            it = iter(ids)
            with open(path, "w") as fh:
                for i in range(n):
                    pid = next(it) if i in real else f"{2000 + i % 2000:04d}.{i:05d}"
                    fh.write(json.dumps({"id": pid, "title": f"Paper {i}", "abstract": "words " * 40,
                                         "categories": "hep-th", "license": None}) + "\n")
        code = ("import json,resource,sys,time;from pipeline.sources.metadata import join_metadata;"
                f"ids=set(json.loads(l)['id'] for l in open({str(CORPUS / 'arxiv' / 'arxiv-metadata.jsonl')!r}));"
                f"t=time.perf_counter();j=join_metadata([{str(path)!r}],ids);s=time.perf_counter()-t;"
                "print(s,resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,len(j.records))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        secs, peak, joined = out.split()
        secs = float(secs)
        print(f"{n:>10} {path.stat().st_size / 1e6:>6.0f} {secs:>8.1f} {n / secs:>10.0f} {int(peak) / 1024:>9.0f} {joined:>7}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", default="1,2,5,10", help="corpus sizes to run, in copies of the shared corpus")
    ap.add_argument("--metadata-lines", default="200000,2000000")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed after)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        print(f"# ingest of the shared corpus replicated on disk ({os.cpu_count()} cores)")
        bench_scaling(work, [int(x) for x in args.copies.split(",")])
        print("\n# streaming metadata join (891 wanted ids)")
        bench_metadata(work, [int(x) for x in args.metadata_lines.split(",")])
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
