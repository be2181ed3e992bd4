"""How well topics separate fields: the one rule model choice uses, and the fields report.

Definitions (docs/topics.md, "Choosing by field separation"):
- a paper's top topic is the argmax of its θ (θ inferred from its words, as for any unseen paper);
- a field's dominant topic over a set of papers is the topic most often top among its papers (ties:
  the lower topic id); its share is that fraction;
- fields in play: papers with a `field` label outside `exclude` (particle physics, the corpus's
  majority), and for ownership only fields with at least `min_papers` papers in the set;
- a field owns a topic when that topic is its dominant topic with a share of at least one half and
  no other field in play has it as its dominant topic;
- normalised mutual information between field and top topic, arithmetic-mean normalisation, over
  every paper in play (any number of papers a field);
- a field's own topic for held-out papers is the one it owns on the training papers; a held-out
  paper is a hit when its top topic is its field's own topic (never when the field owns none).

The choice rule (restarts.py, bench/topics_variants.py): among fits, the most validation hits;
ties: more fields owning a topic on train+val papers, then higher NMI on train+val papers, then
higher validation coherence. It reads training and validation papers only, never test ones.
The `field` label is read for evaluation and choice only; fitting never sees it.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FieldSettings:
    exclude: tuple[str, ...]   # fields left out of every figure (the majority field)
    min_papers: int            # a field takes part in ownership with at least this many papers


def in_play(field: str | None, s: FieldSettings) -> bool:
    return bool(field) and field not in s.exclude


def dominant_topics(fields: Sequence[str | None], tops: Sequence[int], s: FieldSettings,
                    min_papers: int | None = None) -> dict[str, dict]:
    """{field: {topic, share, papers}} for fields in play with at least `min_papers` papers."""
    by: dict[str, Counter] = defaultdict(Counter)
    for f, t in zip(fields, tops):
        if in_play(f, s):
            by[f][int(t)] += 1
    need = s.min_papers if min_papers is None else min_papers
    out = {}
    for f, c in by.items():
        n = sum(c.values())
        if n < need:
            continue
        k, m = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        out[f] = {"topic": k, "share": m / n, "papers": n}
    return out


def owned(dom: dict[str, dict]) -> dict[str, int]:
    """{field: topic} for the fields that own their dominant topic."""
    count = Counter(d["topic"] for d in dom.values())
    return {f: d["topic"] for f, d in dom.items() if d["share"] >= 0.5 and count[d["topic"]] == 1}


def nmi(a: Sequence, b: Sequence) -> float | None:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default)."""
    if len(a) == 0:
        return None
    _, ia = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1)
    p = joint / len(a)
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha = -float((pa[pa > 0] * np.log(pa[pa > 0])).sum())
    hb = -float((pb[pb > 0] * np.log(pb[pb > 0])).sum())
    if ha + hb == 0:
        return 1.0
    return max(0.0, 2 * mi / (ha + hb))


def wilson(hits: int, n: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return None
    p = hits / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def held_out_hits(fields: Sequence[str | None], splits: Sequence[str], tops: Sequence[int], s: FieldSettings,
                  held: tuple[str, ...]) -> dict:
    """Hits of the `held` splits' papers in play against the topics fields own on training papers."""
    train = [i for i, sp in enumerate(splits) if sp == "train"]
    own = owned(dominant_topics([fields[i] for i in train], [tops[i] for i in train], s))
    idx = [i for i, sp in enumerate(splits) if sp in held and in_play(fields[i], s)]
    hits = sum(1 for i in idx if own.get(fields[i]) == int(tops[i]))
    return {"hits": hits, "papers": len(idx), "share": hits / len(idx) if idx else None,
            "ci95": wilson(hits, len(idx)), "owned_on_train": own}


def choice_key(fields: Sequence[str | None], splits: Sequence[str], tops: Sequence[int], s: FieldSettings,
               coherence: float | None) -> tuple:
    """The rule's ranking key of one fit (higher is better); reads train and val papers only."""
    tv = [i for i, sp in enumerate(splits) if sp in ("train", "val")]
    f_tv, t_tv = [fields[i] for i in tv], [tops[i] for i in tv]
    hits = held_out_hits(fields, splits, tops, s, ("val",))["hits"]
    own = len(owned(dominant_topics(f_tv, t_tv, s)))
    play = [j for j, f in enumerate(f_tv) if in_play(f, s)]
    m = nmi([f_tv[j] for j in play], [t_tv[j] for j in play]) or 0.0
    c = coherence if coherence is not None and math.isfinite(coherence) else -math.inf
    return (hits, own, round(m, 6), c)


def fields_report(fields: Sequence[str | None], splits: Sequence[str], theta: np.ndarray, names: Sequence[str],
                  s: FieldSettings) -> dict:
    """fields.json: per field its dominant topic on all papers and on validation + test papers alone,
    who shares it, whether it owns it; NMI; fields owning a topic; held-out hits with an interval."""
    tops = theta.argmax(1) if len(theta) else np.zeros(0, dtype=int)

    def table(idx: list[int], min_papers: int) -> tuple[list[dict], int]:
        f, t = [fields[i] for i in idx], [int(tops[i]) for i in idx]
        dom = dominant_topics(f, t, s, min_papers)
        own = owned({k: v for k, v in dom.items() if v["papers"] >= s.min_papers})
        by_topic: dict[int, list[str]] = defaultdict(list)
        for fld, d in dom.items():
            by_topic[d["topic"]].append(fld)
        rows = [{"field": fld, "papers": d["papers"], "dominant_topic": d["topic"], "name": names[d["topic"]],
                 "share": round(d["share"], 4), "shared_with": sorted(x for x in by_topic[d["topic"]] if x != fld),
                 "owns": fld in own} for fld, d in dom.items()]
        return sorted(rows, key=lambda r: (-r["papers"], r["field"])), len(own)

    every = list(range(len(fields)))
    held = [i for i, sp in enumerate(splits) if sp in ("val", "test")]
    all_rows, n_owned = table(every, 1)
    held_rows, _ = table(held, 1)
    play = [i for i in every if in_play(fields[i], s)]
    return {
        "definitions": "pipeline/topics/separation.py, docs/topics.md",
        "exclude": list(s.exclude), "min_papers": s.min_papers,
        "all": all_rows,
        "held_out": held_rows,
        "fields_in_play": sum(1 for r in all_rows if r["papers"] >= s.min_papers),
        "fields_owning_a_topic": n_owned,
        "nmi": nmi([fields[i] for i in play], [int(tops[i]) for i in play]),
        "held_out_hits": {k: v for k, v in held_out_hits(fields, splits, tops, s, ("val", "test")).items()},
    }


def fields_markdown(report: dict) -> str:
    def rows(rs: list[dict]) -> list[str]:
        out = ["| field | papers | dominant topic | share | shared with | owns |", "|---|---:|---|---:|---|---|"]
        for r in rs:
            out.append(f"| {r['field']} | {r['papers']} | {r['dominant_topic']}: {r['name']} | {100 * r['share']:.0f}% | "
                       f"{', '.join(r['shared_with']) or '-'} | {'yes' if r['owns'] else ''} |")
        return out

    h = report["held_out_hits"]
    share = ("n/a" if h["share"] is None
             else f"{100 * h['share']:.0f}% (95% CI {100 * h['ci95'][0]:.0f}-{100 * h['ci95'][1]:.0f}%)")
    nm = "n/a" if report["nmi"] is None else f"{report['nmi']:.3f}"
    lines = ["# Fields and their dominant topics", "",
             f"Fields (at least {report['min_papers']} papers, outside {', '.join(report['exclude']) or 'none'}) "
             f"owning their dominant topic: **{report['fields_owning_a_topic']} of {report['fields_in_play']}**. "
             f"NMI(field, top topic): **{nm}**. Held-out (validation + test) papers whose top topic is the "
             f"topic their field owns on training papers: **{h['hits']} of {h['papers']}**, {share}.", "",
             "## All papers", "", *rows(report["all"]), "", "## Validation and test papers", "", *rows(report["held_out"])]
    return "\n".join(lines) + "\n"
