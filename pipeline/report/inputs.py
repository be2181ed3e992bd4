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

from pipeline.errors import StageError
from pipeline.runfolder import RunFolder, as_folder, stage_of

# files (pipeline/runfolder.py names each, with the stage that writes it)
REQUIRED: tuple[str, ...] = ("prepare_stats", "papers", "equations", "tokens_meta", "topics_report", "theta",
                             "theta_ids", "topic_names", "metrics", "curves", "sample_summary", "samples", "grid")
OPTIONAL: tuple[str, ...] = ("validate_summary", "context", "ablation_curves", "judge_summary", "judge_pairs", "stages")


class MissingOutput(StageError, FileNotFoundError):
    """A stage output the report needs is not in the run folder."""


class RunFiles:
    """The run's files by name (pipeline/runfolder.py), read the way the report needs them."""

    def __init__(self, root: Path | RunFolder) -> None:
        self.folder = as_folder(root)
        self.root = self.folder.root

    def check(self) -> None:
        missing = [(name, stage_of(name)) for name in REQUIRED if not self.path(name).exists()]
        if missing:
            order = list(dict.fromkeys(stage_of(name) for name in REQUIRED))
            stages = sorted({s for _, s in missing}, key=order.index)
            files = ", ".join(str(self.path(name)) for name, _ in missing[:4]) + (" ..." if len(missing) > 4 else "")
            raise MissingOutput(
                f"the report needs {files}, written by the {' and '.join(stages)} stage"
                f"{'s' if len(stages) > 1 else ''}: run `python -m pipeline stage={stages[0]} run={self.root.name}` "
                f"first (or `python -m pipeline stage=all run={self.root.name}` for every stage)")

    def path(self, name: str) -> Path:
        return self.folder.path(name)

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def json(self, name: str) -> Any:
        p = self.path(name)
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise MissingOutput(f"{p} is missing: run `python -m pipeline stage={stage_of(name)} run={self.root.name}`") from exc
        except ValueError as exc:
            raise MissingOutput(f"{p} is not valid JSON ({exc}): run `python -m pipeline stage={stage_of(name)} "
                                f"run={self.root.name}` again") from exc

    def jsonl(self, name: str) -> Iterator[dict]:
        with open(self.path(name), encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def csv(self, name: str) -> list[dict[str, str]]:
        with open(self.path(name), newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def fingerprint(self) -> str:
        """Changes whenever what an input says changes. Stages rewrite unchanged files on a re-run
        with new timings and cache counts, so JSON files are compared without those fields
        (`VOLATILE`); stages.json, all timings, is left out."""
        h = hashlib.sha256()
        for name in [n for n in [*REQUIRED, *OPTIONAL] if n != "stages"]:
            p = self.path(name)
            h.update(p.relative_to(self.root).as_posix().encode())
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
