"""Fit topic-model variants and print the figures the choice rule reads, side by side (run by hand).

    .venv/bin/python bench/topics_variants.py [--papers P] \
        '{"name": "K28", "num_topics": 28}' '{"name": "K28-g60", "num_topics": 28, "max_papers_per_group": 60}'

Each argument is a JSON object: `name` plus any FitSettings field overriding the default config's
topic settings (`restarts` included: a variant is fitted exactly as the stage would fit it), and
optionally `text` (TextSettings fields). One JSON line per variant is printed and appended to --out
(default outputs/bench/topics_variants.jsonl): the rule's figures of the chosen fit (validation
papers hit, fields owning a topic on train+val papers, NMI on train+val papers, validation c_npmi),
every restart's figures, and the seconds taken. Only training papers are fitted on and only
train+val papers are read: like the stage, this never looks at test papers.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import compose  # noqa: E402
from pipeline.stages.topics import settings as topic_settings  # noqa: E402
from pipeline.topics.restarts import fit_with_restarts, validation_score  # noqa: E402


def run(papers: Path, work: Path, spec: dict) -> dict:
    spec = dict(spec)
    name = spec.pop("name")
    base = topic_settings(compose().topics)
    text = dataclasses.replace(base.text, **spec.pop("text", {}))
    s = dataclasses.replace(base, text=text, progress=False, **spec)
    t0 = time.time()
    target = work / name
    shutil.rmtree(target, ignore_errors=True)
    model = fit_with_restarts(papers, target, s)
    score = validation_score(model, papers, s.fields)
    restarts = [{k: r[k] for k in ("seed", "val_hits", "fields_owned_train_val", "nmi_train_val", "c_npmi_val")}
                for r in model.meta.get("restarts", [])]
    return {"name": name, **{k: score[k] for k in ("val_hits", "fields_owned_train_val", "nmi_train_val", "c_npmi_val")},
            "seed": model.seed, "restarts": restarts, "seconds": round(time.time() - t0, 1),
            "top_words": [" ".join(model.top_words(k, 5)) for k in range(model.num_topics)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help="JSON objects, see above")
    ap.add_argument("--papers", type=Path, default=ROOT / "outputs/default/prepared/papers.jsonl")
    ap.add_argument("--work", type=Path, default=ROOT / "outputs/bench/topics_variants")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs/bench/topics_variants.jsonl")
    a = ap.parse_args()
    if not a.papers.exists():
        print(f"error: {a.papers}: run `python -m pipeline stage=prepare` first (or pass --papers)", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for v in a.variants:
        res = run(a.papers, a.work, json.loads(v))
        short = {k: v for k, v in res.items() if k != "top_words"}
        print(json.dumps(short), flush=True)
        with a.out.open("a") as f:
            f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
