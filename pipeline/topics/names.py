"""Topic names users can type: from the categories of the training papers a topic dominates.

A topic is named after a field (pipeline/data/arxiv_categories.tsv) when at least `min_papers`
training papers have it as their top topic and over half of those papers' primary categories map
to that field; otherwise it is named by its top three words joined by `-`. Names are lower case
(`[a-z0-9-]`), unique (a repeated name gets `-2`, `-3`... in topic order) and so safe on a command
line: `sample.topic=astrophysics`. A user's names (conf/topics/names/) replace these.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

from pipeline.topics.categories import category_name

_UNSAFE = re.compile(r"[^a-z0-9]+")


def safe(name: str) -> str:
    return _UNSAFE.sub("-", name.lower()).strip("-") or "topic"


def auto_names(num_topics: int, tops: Sequence[int], categories: Sequence[str | None],
               top_words: Callable[[int], list[str]], min_papers: int) -> list[str]:
    """One name per topic from the training papers' top topics and categories (module docstring)."""
    by: dict[int, Counter] = defaultdict(Counter)
    for t, cats in zip(tops, categories):
        by[int(t)][category_name(cats)] += 1
    names = []
    for k in range(num_topics):
        c = by.get(k, Counter())
        n = sum(c.values())
        named = [(name, m) for name, m in c.most_common() if name is not None]
        if n >= min_papers and named and named[0][1] > n / 2:
            names.append(safe(named[0][0]))
        else:
            names.append(safe("-".join(top_words(k)[:3])))
    return unique(names)


def unique(names: Sequence[str]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    # a suffixed name may collide with a name that already had that form
    if len(set(out)) != len(out):
        return [f"{n}-t{k}" for k, n in enumerate(out)]
    return out


def topic_by_name(name: str | int, names: Mapping[int, str] | Sequence[str]) -> int:
    """The topic id a user means: an id, or a name (case and separators ignored); a clear error
    listing the names otherwise."""
    items = list(names.items()) if isinstance(names, Mapping) else list(enumerate(names))
    if isinstance(name, int) or str(name).strip().isdigit():
        k = int(name)
        if any(k == i for i, _ in items):
            return k
        raise KeyError(f"topic {k} does not exist; topics are 0..{len(items) - 1}")
    want = safe(str(name))
    for i, n in items:
        if safe(n) == want:
            return i
    raise KeyError(f"no topic named {name!r}; the topics are: " + ", ".join(f"{i}={n}" for i, n in items))
