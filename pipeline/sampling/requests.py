"""What to sample: a list of requests {"conditioning": {...}, "theta": [...], "n": N} from the
sample options (a topic, a mixture, context words, a paper, or every topic)."""
from __future__ import annotations

import json
from typing import Any

from pipeline.model.conditioning import Topics
from pipeline.sampling.options import SampleOptions


def requests(opts: SampleOptions, topics: Topics) -> list[dict[str, Any]]:
    n = int(opts.n)
    if opts.topic is not None:
        ks = topics.topic_ids(opts.topic)
        cond = {"topic": ks[0]} if len(ks) == 1 else {"topics": ks}
        return [{"conditioning": {**cond, "name": topics.label(ks, opts.topic)}, "theta": topics.topic_theta(ks),
                 "n": n}]
    if opts.mixture:
        theta, weights = topics.mixture_theta(dict(opts.mixture))
        return [{"conditioning": {"mixture": {topics.names[k]: round(w, 4) for k, w in weights.items()}},
                 "theta": theta, "n": n}]
    if opts.words:
        theta, top, unknown = topics.words_theta(str(opts.words))
        print(f"Context words: {opts.words}")
        print("Inferred topics: " + ", ".join(f"{100 * p:.0f}% {name}" for _k, name, p in top))
        if unknown:
            print("Not used: " + ", ".join(unknown))
        return [{"conditioning": {"words": str(opts.words), "inferred": [[k, name, round(p, 4)] for k, name, p in top]},
                 "theta": theta, "n": n}]
    if opts.paper is not None:
        return [{"conditioning": {"paper": str(opts.paper)}, "theta": topics.paper_theta(str(opts.paper)), "n": n}]
    return [{"conditioning": {"topic": k, "name": topics.names[k]}, "theta": topics.topic_theta(k), "n": n}
            for k in range(topics.num_topics)]


def label(row: dict) -> str:
    """How a sample's conditioning reads in tables."""
    c = row["conditioning"]
    return c.get("name") or ("words: " + c["words"] if "words" in c else
                             "paper: " + c["paper"] if "paper" in c else json.dumps(c.get("mixture")))
