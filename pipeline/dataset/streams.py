"""Reading the token streams prepare writes (format: docs/formats.md, `prepared/tokens/`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.runfolder import TokenFolder


def read_split(tokens_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, offsets) of one split, the ids memory-mapped: equation `row` is
    `ids[offsets[row]:offsets[row + 1]]`: its environment token, its body, its <eos>. An empty split gives empty arrays
    (numpy cannot memory-map an empty file)."""
    files = TokenFolder(Path(tokens_dir))
    meta = json.loads(files.meta.read_text())
    path = files.ids(split)
    offsets = np.load(files.offsets(split))
    if path.stat().st_size == 0:
        return np.empty(0, dtype=meta["dtype"]), offsets
    return np.memmap(path, dtype=meta["dtype"], mode="r"), offsets


def read_paper_index(tokens_dir: str | Path, split: str) -> np.ndarray:
    """For each row of the split, its paper's position in papers.jsonl (and in `paper_ids.json`)."""
    return np.load(TokenFolder(Path(tokens_dir)).papers(split), mmap_mode="r")
