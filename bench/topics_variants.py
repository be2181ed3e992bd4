"""Fit topic-model variants and print their validation figures side by side (run by hand).

    .venv/bin/python bench/topics_variants.py '{"name": "base"}' \
        '{"name": "K12", "num_topics": 12}' '{"name": "c2000", "chunk_max_tokens": 2000, "passes": 40}'

Each argument is a JSON object: `name` plus any FitSettings field overriding the defaults below (the
default config's values), and optionally `text` (TextSettings fields) and `df_stop` (drop from the
text every word in more than this fraction of training papers). One JSON line per variant is
printed and appended to --out (default outputs/bench/topics_variants.jsonl): validation c_npmi on
all validation papers and on its two halves (odd/even papers: how much a smaller reference corpus
moves the figure), per-topic scores, fields separated on train+val papers, top words. Only training
papers are fitted on and only train+val papers are read: like the stage, this never looks at test.
This is the script behind the "Second round" table of docs/topics.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import compose  # noqa: E402
from pipeline.stages.topics import settings as topic_settings  # noqa: E402
from pipeline.topics import quality as Q  # noqa: E402
from pipeline.topics.choose import fields_passing  # noqa: E402
from pipeline.topics.corpus import TextNormaliser, TextSettings, iter_papers  # noqa: E402
from pipeline.topics.fit import fit  # noqa: E402


def frequent_words(papers: Path, frac: float, text: TextSettings) -> tuple[str, ...]:
    norm, df, n = TextNormaliser(text), Counter(), 0
    for p in iter_papers(papers, ("train",)):
        n += 1
        df.update(set(norm.filter(p.get("prose") or [])))
    return tuple(sorted(w for w, c in df.items() if c / n > frac))


def run(papers: Path, work: Path, spec: dict) -> dict:
    spec = dict(spec)
    name = spec.pop("name")
    base = topic_settings(compose().topics)  # the default config's settings, one restart
    text = dataclasses.replace(base.text, **spec.pop("text", {}))
    if "df_stop" in spec:
        text = dataclasses.replace(text, stop_words=frequent_words(papers, spec.pop("df_stop"), text))
    s = dataclasses.replace(base, text=text, restarts=1, progress=False, **spec)
    t0 = time.time()
    model, stats = fit(papers, work / name, s)
    val = Q.reference_texts(model, papers, "val")
    c = Q.coherence(model, val)
    rows = ((p.get("field"), model.theta_of_tokens(p.get("prose") or [])) for p in iter_papers(papers, ("train", "val")))
    ok, n = fields_passing({"fields_train_val": Q.fields_table(rows, model)})
    return {"name": name, "c_npmi_val": c["mean"], "c_npmi_val_halves": [Q.coherence(model, val[0::2])["mean"],
                                                                         Q.coherence(model, val[1::2])["mean"]],
            "undefined": c["undefined_topics"], "per_topic": [None if x is None else round(x, 3) for x in c["per_topic"]],
            "fields_separated": f"{ok}/{n}", "vocabulary": stats["vocabulary"], "chunks": stats["train_chunks"],
            "seconds": round(time.time() - t0, 1),
            "top_words": [" ".join(model.top_words(k, 6)) for k in range(model.num_topics)]}


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
    logging.getLogger("gensim").setLevel(logging.WARNING)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for v in a.variants:
        res = run(a.papers, a.work, json.loads(v))
        print(json.dumps(res), flush=True)
        with a.out.open("a") as f:
            f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
