"""Choose a sweep's job by the one rule: `python -m pipeline.topics.choose outputs/<run>/sweeps/topics`.

Reads every <job>/topics/report.json under the sweep folder, prints one line per job and the
chosen job: the highest `choice.key` of separation.py's rule (validation papers whose top topic is
their field's own topic, then fields owning a topic and NMI on train+val papers, then validation
c_npmi). Test figures and test papers' θ are never read here.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def sweep_reports(sweep_dir: Path) -> list[tuple[Path, dict]]:
    out = []
    for f in sorted(Path(sweep_dir).glob("*/topics/report.json")):
        out.append((f.parent.parent, json.loads(f.read_text())))
    return out


def _key(report: dict) -> tuple:
    return tuple(-math.inf if k is None else k for k in report["choice"]["key"])


def choose(sweep_dir: Path) -> tuple[Path, dict] | None:
    """The job with the highest rule key (ties: fewer topics, then the lower job number)."""
    rows = [(d, r) for d, r in sweep_reports(sweep_dir) if "choice" in r]
    if not rows:
        return None
    return max(rows, key=lambda dr: (_key(dr[1]), -dr[1]["num_topics"]))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m pipeline.topics.choose outputs/<run>/sweeps/topics", file=sys.stderr)
        return 2
    reports = sweep_reports(Path(argv[0]))
    if not reports:
        print(f"error: {argv[0]}: no */topics/report.json; run the sweep first "
              "(python -m pipeline -m stage=topics topics.num_topics=20,28,36)", file=sys.stderr)
        return 2
    print("job | num_topics | validation hits | fields owning a topic (train+val) | NMI (train+val) | c_npmi val")
    for d, r in reports:
        c = r.get("choice")
        if c is None:
            print(f"{d.name} | {r['num_topics']} | (report of an older version: no choice figures)")
            continue
        cv = "n/a" if c["c_npmi_val"] is None else f"{c['c_npmi_val']:.4f}"
        print(f"{d.name} | {r['num_topics']} | {c['val_hits']} | {c['fields_owned_train_val']} | "
              f"{c['nmi_train_val']:.3f} | {cv}")
    best = choose(Path(argv[0]))
    if best is None:
        print("error: no job has choice figures; run the sweep again with this version", file=sys.stderr)
        return 1
    d, r = best
    print(f"chosen: job {d.name}, num_topics={r['num_topics']}; settings: {json.dumps(r['settings'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
