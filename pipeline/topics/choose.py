"""Choose a sweep's job by validation coherence: `python -m pipeline.topics.choose outputs/<run>/sweeps/topics`.

Reads every <job>/topics/report.json under the sweep folder, prints one line per job (num_topics,
c_npmi and c_v on validation, fields passing) and the chosen job: the highest validation c_npmi
among jobs whose topics separate the fields (every field other than particle physics with >= 8
train+val papers has a topic that is the top topic of >= 50% of them; `fields_train_val` in the
report); when no job does, the highest validation c_npmi overall, said so. Test figures and test
papers' θ are never read here.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def sweep_reports(sweep_dir: Path) -> list[tuple[Path, dict]]:
    out = []
    for f in sorted(Path(sweep_dir).glob("*/topics/report.json")):
        out.append((f.parent.parent, json.loads(f.read_text())))
    return out


def fields_passing(report: dict, min_papers: int = 8, exclude: str = "particle physics") -> tuple[int, int]:
    big = [r for r in report.get("fields_train_val", []) if r["papers"] >= min_papers and r["field"] != exclude]
    return sum(r["share"] >= 0.5 for r in big), len(big)


def separates(report: dict) -> bool:
    ok, n = fields_passing(report)
    return ok == n


def choose(sweep_dir: Path) -> tuple[Path, dict] | None:
    """The job with the highest validation c_npmi among those separating the fields (ties: fewer
    topics); among all jobs when none separates them."""
    rows = [(d, r) for d, r in sweep_reports(sweep_dir) if r["coherence_val"]["c_npmi"]["mean"] is not None]
    if not rows:
        return None
    separating = [(d, r) for d, r in rows if separates(r)]
    rows = separating or rows
    return max(rows, key=lambda dr: (dr[1]["coherence_val"]["c_npmi"]["mean"], -dr[1]["num_topics"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pipeline.topics.choose outputs/<run>/sweeps/topics", file=sys.stderr)
        return 2
    reports = sweep_reports(Path(argv[0]))
    if not reports:
        print(f"error: {argv[0]}: no */topics/report.json; run the sweep first "
              "(python -m pipeline -m stage=topics topics.num_topics=10,20,30)", file=sys.stderr)
        return 2
    print("job | num_topics | c_npmi val | c_v val | fields >=50% (train+val)")
    for d, r in reports:
        cv = r["coherence_val"]
        ok, n = fields_passing(r)
        print(f"{d.name} | {r['num_topics']} | {cv['c_npmi']['mean']:.4f} | {cv['c_v']['mean']:.4f} | {ok}/{n}")
    best = choose(Path(argv[0]))
    if best is None:
        print("error: no job has a defined validation coherence", file=sys.stderr)
        return 1
    d, r = best
    ok, n = fields_passing(r)
    if ok < n:
        print("note: no job separates every field; chosen by coherence alone")
    print(f"chosen: job {d.name}, num_topics={r['num_topics']} (validation c_npmi "
          f"{r['coherence_val']['c_npmi']['mean']:.4f}); settings: {json.dumps(r['settings'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
