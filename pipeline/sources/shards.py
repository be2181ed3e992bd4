"""Which shard a unit of work belongs to, and where a shard's files live.

`prepare.shard=i prepare.num_shards=N` ingests and extracts the units whose key hashes to i (mod N)
into `prepared/shards/<i>-of-<N>/`; a unit's shard depends on its key alone, so adding sources
never moves a unit already done. An unsharded run is the one shard of one, in `prepared/` itself.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

U = TypeVar("U")


def shard_of(key: str, num_shards: int) -> int:
    """The shard of the unit `key`: stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % num_shards


def slice_of(units: Sequence[U], shard: int, num_shards: int) -> list[U]:
    """The units of `shard`, in source order."""
    return [u for u in units if shard_of(u.key, num_shards) == shard]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ShardPlace:
    """A shard's folder: flat/ and extracted/ per unit, its metadata store and its manifest."""

    root: Path
    shard: int = 0
    num_shards: int = 1

    @classmethod
    def of(cls, prepared: Path, shard: int, num_shards: int) -> "ShardPlace":
        if num_shards == 1:
            return cls(prepared, 0, 1)
        return cls(prepared / "shards" / f"{shard}-of-{num_shards}", shard, num_shards)

    @property
    def flat(self) -> Path:
        return self.root / "flat"

    @property
    def extracted(self) -> Path:
        return self.root / "extracted"

    @property
    def metadata_db(self) -> Path:
        return self.root / "metadata.sqlite"

    @property
    def manifest(self) -> Path:
        return self.root / "shard.json"

    @property
    def name(self) -> str:
        return f"{self.shard}-of-{self.num_shards}"
