"""Topics of many documents at once: JSON lines in, one line of θ and its top topics out per document.

Input lines are `{"id": ..., "text": ...}` or records in the arXiv metadata snapshot's schema (`title`,
`abstract`, optionally `text`); gzipped or not; streamed, so the file can be any size. Output lines are
`{"id", "theta", "top", "name", "archive"}` (docs/formats.md): θ over every topic, the top topics with
names and shares, and the top topic's name and archive. A document with an id but no word the model
knows gets `{"id", "error"}`; a line without an id is skipped. Both are counted in the summary.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_open
from pipeline.topics.model import TopicModel
from pipeline.topics.records import open_text, words_of


def infer_file(model: TopicModel, archives: Sequence[str | None], src: Path, dst: Path, top: int = 3,
               progress: bool = True) -> dict:
    from pipeline.progress import bar

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: input not found (topics.infer_input); give JSON lines with `id` and `text` "
                                "(or the arXiv metadata schema: `title`, `abstract`)")
    counts: Counter = Counter()
    t0 = time.perf_counter()
    pb = bar(None, "topics: inferring", "doc", enabled=progress)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open_text(src) as fin, atomic_open(dst, "w") as fout:
        for n, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                rid = r["id"]
            except (ValueError, KeyError, TypeError):
                counts["skipped: not a JSON object with an id"] += 1
                continue
            text = "\n".join(str(r[k]) for k in ("title", "abstract", "text") if isinstance(r.get(k), str))
            bow = model.dictionary.doc2bow(model.normaliser(words_of(text)))
            if not bow:
                fout.write(json.dumps({"id": rid, "error": "no word of the text is in the topic model's vocabulary"}) + "\n")
                counts["no known word"] += 1
                continue
            th = model.theta_of_bow(bow)
            k = int(np.argmax(th))
            fout.write(json.dumps({"id": rid, "theta": [round(float(x), 5) for x in th],
                                   "top": [[t, name, round(p, 4)] for t, name, p in model.top_topics(th, top)],
                                   "name": model.label(k), "archive": archives[k] if k < len(archives) else None},
                                  ensure_ascii=False) + "\n")
            counts["documents"] += 1
            pb.update(1)
    pb.close()
    seconds = time.perf_counter() - t0
    return {"input": str(src), "output": str(dst), **counts, "seconds": round(seconds, 2),
            "documents_per_second": round(counts["documents"] / seconds, 1) if seconds > 0 else None}
