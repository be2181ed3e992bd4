"""Topics named as arXiv fields, from the labelled training records each topic dominates.

For topic k, the records it dominates are the labelled training records whose top topic is k. When at
least `min_records` of them exist and one archive group holds more than `min_share` of them, the topic
stands for that group, and for the archive most common among those records of the group (hep-th rather
than hep-ph...); `confidence` is the group's share. Its name is arXiv's name (pipeline/data/
arxiv_taxonomy.tsv) of the category most of those records carry when at least `min_category_records`
of them, and `min_category_share` of the group's records, name a category and over half of those agree
("astrophysics: cosmology"), else of the archive ("condensed matter"). Otherwise the topic is general:
archive none, named "general: " and its top three words. A repeated name gets the topic's most
distinctive word not yet in it nor given to a namesake ("astrophysics / galaxy"). Names hold no comma
or bracket, so Hydra reads them as typed: `'sample.topic=astrophysics / galaxy'`.

Users type names on the command line with any case and separators: `sample.topic=astrophysics-cosmology`
or `'sample.topic="astrophysics: cosmology"'`; an archive, a group or their names select every topic that
stands for it (`sample.topic=astro-ph`, `sample.topic=astrophysics`).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from pipeline.topics import archives

_UNSAFE = re.compile(r"[^a-z0-9]+")


def safe(name: str) -> str:
    return _UNSAFE.sub("-", str(name).lower()).strip("-") or "topic"


@dataclass
class TopicName:
    topic: int
    name: str
    group: str | None        # archive group it stands for (hep, astro-ph...), None: general
    archive: str | None      # archive (hep-th, astro-ph...), None: general
    category: str | None     # the category it is named after, if any (astro-ph.CO)
    confidence: float        # share of the records it dominates that are of its group
    records: int             # labelled training records whose top topic it is
    groups: dict[str, int]   # those records by group

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NamingRule:
    min_records: int = 5
    min_share: float = 0.5
    min_category_records: int = 3
    min_category_share: float = 0.25


def name_topics(dominated: Sequence[Sequence[tuple[str, str | None, str | None]]],
                top_words: Callable[[int], list[str]], rule: NamingRule) -> list[TopicName]:
    """dominated[k]: (group, archive, category) of each labelled training record whose top topic is k;
    top_words(k): the topic's words, most distinctive first."""
    out = []
    for k, recs in enumerate(dominated):
        groups = Counter(g for g, _, _ in recs)
        n = len(recs)
        g, m = (groups.most_common(1)[0] if groups else (None, 0))
        if n >= rule.min_records and m > rule.min_share * n:
            mine = [(a, c) for gg, a, c in recs if gg == g]
            archive = Counter(a for a, _ in mine).most_common(1)[0][0]
            cats = Counter(c for a, c in mine if c and "." in c and a == archive)
            cat, cn = cats.most_common(1)[0] if cats else (None, 0)
            with_cat = sum(cats.values())
            named = cat if (cat and with_cat >= rule.min_category_records and with_cat >= rule.min_category_share * len(mine)
                            and cn > with_cat / 2) else None
            out.append(TopicName(k, archives.name_of(named or archive), g, archive, named, m / n, n, dict(groups)))
        else:
            out.append(TopicName(k, "general: " + " ".join(top_words(k)[:3]), None, None, None,
                                 (m / n) if n else 0.0, n, dict(groups)))
    taken: Counter = Counter(t.name for t in out)
    used: dict[str, set[str]] = {}
    for t in out:  # a repeated name gets the topic's most probable word not in it and not given to a namesake
        if taken[t.name] > 1:
            seen = used.setdefault(t.name, set())
            word = next((w for w in top_words(t.topic)[:20] if w not in t.name and w not in seen), f"topic {t.topic}")
            seen.add(word)
            t.name = f"{t.name} / {word}"
    final = unique([t.name for t in out])
    for t, n in zip(out, final):
        t.name = n
    return out


def unique(names: Sequence[str]) -> list[str]:
    """Names made unique by their typed (safe) form: a repeat gets ` 2`, ` 3`... in topic order."""
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[safe(n)] += 1
        out.append(n if seen[safe(n)] == 1 else f"{n} {seen[safe(n)]}")
    if len({safe(n) for n in out}) != len(out):
        return [f"{n} / topic {k}" for k, n in enumerate(out)]
    return out


def topics_for(name: str | int, names: Mapping[int, str] | Sequence[str],
               topics: Sequence[Mapping] | None = None) -> list[int]:
    """The topics a user means: a topic id or name, or an archive / group (code or name) standing for
    one or more topics (`topics`: names.json's per-topic entries). A clear error listing what exists."""
    items = list(names.items()) if isinstance(names, Mapping) else list(enumerate(names))
    if isinstance(name, int) or str(name).strip().isdigit():
        k = int(name)
        if any(k == i for i, _ in items):
            return [k]
        raise KeyError(f"topic {k} does not exist; topics are 0..{len(items) - 1}")
    want = safe(str(name))
    for i, n in items:
        if safe(n) == want:
            return [i]
    # An archive or group, by code or name; a name may be given by its first words ("relativity").
    keys: dict[int, set[str]] = {}
    for t in topics or ():
        codes = {x for x in (t.get("archive"), t.get("group")) if x}
        keys[int(t["topic"])] = {safe(x) for x in codes | {archives.name_of(x) for x in codes}}
    for exact in (True, False):
        matched = [k for k, ks in keys.items() if any(x == want if exact else x.startswith(want + "-") for x in ks)]
        if matched:
            return sorted(matched)
    fields = sorted({(t.get("group"), t.get("archive")) for t in topics or () if t.get("group")})
    listed = sorted({f"{c} ({archives.name_of(c)})" for g, a in fields for c in (g, a)})
    raise KeyError(f"no topic named {name!r}; the topics are: " + ", ".join(f"{i}={n}" for i, n in items)
                   + (f"; or give an archive or group for all its topics: {', '.join(listed)}" if listed else ""))


def topic_by_name(name: str | int, names: Mapping[int, str] | Sequence[str]) -> int:
    """One topic by id or name (topics_for without archives); a clear error otherwise."""
    return topics_for(name, names)[0]
