"""Paper-level train/val/test split from a hash of the paper id.

A paper's split depends on its id and the configured fractions only, never on which other papers
are in the corpus or on the order they were read, so it keeps its split when the corpus grows or
is prepared in shards. The hash is SHA-256 of the id (with an optional salt), read as a number in
[0, 1) and placed on the cumulative fractions in their configured order.
"""
from __future__ import annotations

import hashlib
from typing import Mapping

SPLITS = ("train", "val", "test")


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    fr = {k: float(v) for k, v in fractions.items()}
    if set(fr) != set(SPLITS) or any(v < 0 for v in fr.values()) or abs(sum(fr.values()) - 1) > 1e-9:
        raise ValueError(f"prepare.split must give train, val and test fractions >= 0 summing to 1, got {dict(fractions)}")
    return fr


def split_of(paper_id: str, fractions: Mapping[str, float], salt: str = "") -> str:
    """The split of `paper_id` ('train', 'val' or 'test')."""
    digest = hashlib.sha256(f"{salt}{paper_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    cum = 0.0
    for name in SPLITS:
        cum += fractions[name]
        if u < cum:
            return name
    return SPLITS[-1]
