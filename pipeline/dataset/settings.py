"""The extraction's settings (prepare's config as plain values; conf/prepare/default.yaml holds the
defaults)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DatasetSettings:
    max_tokens: int
    min_count: int
    split: dict
    split_salt: str
    workers: int
    in_flight: int
    progress: bool
    # Report groups: group name -> paper-id patterns (fnmatch); papers of no group are reported by
    # their `kind` (folders:<kind>) or as arxiv:other.
    groups: dict[str, tuple[str, ...]]
    # Groups whose macro definitions were lost upstream: left out of kept_fraction_with_macros_present.
    macros_lost: tuple[str, ...]
