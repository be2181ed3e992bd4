"""What the report reads from a run folder, and which stage writes each file.

Every number in the report comes from these files (formats: docs/formats.md). A missing file is a
`MissingOutput` that names the stage to run.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# file (relative to outputs/<run>/) -> the stage that writes it
REQUIRED: dict[str, str] = {
    "prepared/stats.json": "prepare",
    "prepared/papers.jsonl": "prepare",
    "prepared/equations.jsonl": "prepare",
    "prepared/tokens/meta.json": "prepare",
    "topics/report.json": "topics",
    "topics/theta.npy": "topics",
    "topics/theta_ids.json": "topics",
    "topics/names.json": "topics",
    "train/metrics.json": "train",
    "train/curves/metrics.csv": "train",
    "samples/summary.json": "sample",
    "samples/samples.jsonl": "sample",
    "samples/grid.jsonl": "sample",
}
OPTIONAL: dict[str, str] = {
    "validate/equations.validated.jsonl.summary.json": "validate",
    "samples/context.jsonl": "sample",
    "train/ablation/curves/metrics.csv": "train",
    "stages.json": "all",
}


class MissingOutput(FileNotFoundError):
    """A stage output the report needs is not in the run folder."""


class RunFiles:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def check(self) -> None:
        missing = [(rel, stage) for rel, stage in REQUIRED.items() if not (self.root / rel).exists()]
        if missing:
            stages = sorted({s for _, s in missing}, key=list(dict.fromkeys(REQUIRED.values())).index)
            files = ", ".join(str(self.root / rel) for rel, _ in missing[:4]) + (" ..." if len(missing) > 4 else "")
            raise MissingOutput(
                f"the report needs {files}, written by the {' and '.join(stages)} stage"
                f"{'s' if len(stages) > 1 else ''}: run `python -m pipeline stage={stages[0]} run={self.root.name}` "
                f"first (or `python -m pipeline stage=all run={self.root.name}` for every stage)")

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def json(self, rel: str) -> Any:
        p = self.root / rel
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MissingOutput(f"{p} is missing: run `python -m pipeline stage={_stage(rel)} run={self.root.name}`") from exc
        except ValueError as exc:
            raise MissingOutput(f"{p} is not valid JSON ({exc}): run `python -m pipeline stage={_stage(rel)} "
                                f"run={self.root.name}` again") from exc

    def jsonl(self, rel: str) -> Iterator[dict]:
        with open(self.root / rel, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def csv(self, rel: str) -> list[dict[str, str]]:
        with open(self.root / rel, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def fingerprint(self) -> str:
        """Changes whenever what an input says changes. Stages rewrite unchanged files on a re-run
        with new timings and cache counts, so JSON files are compared without those fields
        (`VOLATILE`); stages.json, all timings, is left out."""
        h = hashlib.sha256()
        for rel in [r for r in [*REQUIRED, *OPTIONAL] if r != "stages.json"]:
            p = self.root / rel
            h.update(rel.encode())
            if not p.exists():
                h.update(b":absent")
            elif p.suffix == ".json":
                try:
                    h.update(json.dumps(_steady(json.loads(p.read_text(encoding="utf-8"))), sort_keys=True).encode())
                except ValueError:
                    h.update(p.read_bytes())
            else:
                with open(p, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
        return h.hexdigest()[:20]


VOLATILE = {"cached", "workers", "model_reused", "units_reused", "reused", "finished"}


def _steady(obj: Any) -> Any:
    """A JSON value without the fields that change on every run (timings, cache counts)."""
    if isinstance(obj, dict):
        return {k: _steady(v) for k, v in obj.items()
                if k not in VOLATILE and "seconds" not in k and not k.endswith("_per_s")}
    if isinstance(obj, list):
        return [_steady(v) for v in obj]
    return obj


def _stage(rel: str) -> str:
    return REQUIRED.get(rel) or OPTIONAL.get(rel) or "all"
