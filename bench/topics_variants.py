"""Fit topic-model variants and print their validation figures and cost side by side (run by hand).

    .venv/bin/python bench/topics_variants.py [--run default] [--seeds 1234,1235] \
        '{"name": "default"}' '{"name": "cap400", "max_words": 400}' '{"name": "half", "record_share": 0.5}' \
        '{"name": "1 pass", "passes": 1}'

Each argument is a JSON object: `name` plus any FitSettings field overriding the default config's topic
settings. Every variant is fitted once per seed (restarts off: a seed is a draw), on the run's prepared
papers and the configured prose files, exactly as the stage fits; only validation records are scored
(never test ones), by the stage's own rule. Printed per variant: the mean over seeds of validation
accuracy for bodies, abstracts and papers, balanced accuracy, groups without a topic, and the seconds
spent reading the documents and fitting. One JSON line per variant and seed is appended to --out.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import compose  # noqa: E402
from pipeline.runfolder import RunFolder  # noqa: E402
from pipeline.stages.topics import evaluation, inputs, naming, settings  # noqa: E402
from pipeline.topics.evaluation import accuracy_file, owned  # noqa: E402
from pipeline.topics.fit import WorkFiles, build_corpus, build_normaliser, fit, prepare_documents  # noqa: E402
from pipeline.topics.restarts import label_topics  # noqa: E402


def one(cfg, variant: dict, seed: int, work_root: Path) -> dict:
    base = settings(cfg.topics)
    s = replace(base, **{k: v for k, v in variant.items() if k != "name"}, seed=seed, restarts=1, progress=False)
    rule, ev = naming(cfg.topics), evaluation(cfg.topics)
    work = WorkFiles(work_root)
    t0 = time.perf_counter()
    docs = prepare_documents(inputs(cfg, RunFolder.from_config(cfg)), work, s)
    norm = build_normaliser(work, s)
    d, stats = build_corpus(work, norm, s)
    t1 = time.perf_counter()
    model = fit(work, d, norm, s)
    t2 = time.perf_counter()
    names, _ = label_topics(model, work, rule)
    groups = [t.group for t in names]
    val = accuracy_file(model, groups, work.held_out("val"), ev.min_group_records)
    own = owned(groups, stats["labelled_documents_by_group"], s.min_group_records)
    return {"name": variant["name"], "seed": seed, "documents": docs["documents"], "train_documents": stats["train_documents"],
            "seconds_documents": round(t1 - t0, 1), "seconds_fit": round(t2 - t1, 1),
            "val": {k: v["accuracy"] for k, v in val["by_kind"].items()}, "val_balanced": val["balanced_accuracy"],
            "without_a_topic": own["without_a_topic"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help='JSON objects, e.g. \'{"name": "K32", "num_topics": 32}\'')
    ap.add_argument("--run", default="default", help="run whose prepared papers are read")
    ap.add_argument("--seeds", default="1234,1235,1236,1237")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "topics_variants.jsonl"))
    a = ap.parse_args(argv)
    cfg = compose([f"run={a.run}"])
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / "topics_variants_work"
    rows = []
    for v in a.variants:
        variant = json.loads(v)
        for seed in (int(x) for x in a.seeds.split(",")):
            r = one(cfg, variant, seed, work)
            rows.append(r)
            with out.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'variant':24s} {'seeds':>5s} {'bodies':>7s} {'abstracts':>9s} {'papers':>7s} {'balanced':>8s} "
          f"{'docs s':>7s} {'fit s':>6s}  groups without a topic")
    for name in dict.fromkeys(r["name"] for r in rows):
        rs = [r for r in rows if r["name"] == name]

        def m(f):
            xs = [f(r) for r in rs if f(r) is not None]
            return statistics.mean(xs) if xs else float("nan")

        print(f"{name:24s} {len(rs):5d} {100 * m(lambda r: r['val'].get('body')):6.1f}% "
              f"{100 * m(lambda r: r['val'].get('abstract')):8.1f}% {100 * m(lambda r: r['val'].get('paper')):6.1f}% "
              f"{100 * m(lambda r: r['val_balanced']):7.1f}% {m(lambda r: r['seconds_documents']):7.1f} "
              f"{m(lambda r: r['seconds_fit']):6.1f}  {sorted({g for r in rs for g in r['without_a_topic']})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
