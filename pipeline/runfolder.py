"""Where each stage's files live inside `outputs/<run>/`: the one place that names them.

A stage reads earlier stages' files from `root` (always `outputs/<run>/`) and writes its own into
`out`, which is `root` for a normal run and `outputs/<run>/sweeps/<stage>/<job>/` for a job of a
multirun sweep, so sweep jobs never overwrite each other or the run's own files. Formats of every
file are written down in docs/formats.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunFolder:
    root: Path  # outputs/<run>/: inputs of this stage (what earlier stages wrote)
    out: Path   # where this stage writes

    @classmethod
    def from_config(cls, cfg: Any) -> "RunFolder":
        root = Path(cfg.paths.run_dir)
        out = root
        try:
            from hydra.core.hydra_config import HydraConfig

            hc = HydraConfig.get()
            if hc.mode is not None and hc.mode.name == "MULTIRUN":
                out = Path(hc.runtime.output_dir)
        except (ImportError, ValueError):
            pass  # not under Hydra (library use, tests): write into the run folder
        return cls(root=root, out=out)

    @classmethod
    def at(cls, root: str | Path) -> "RunFolder":
        return cls(root=Path(root), out=Path(root))

    def for_output(self) -> "RunFolder":
        """The same layout rooted where this stage writes: paths from it are the stage's outputs."""
        return RunFolder(root=self.out, out=self.out)

    # prepare (ingest half) ------------------------------------------------------------------
    @property
    def prepared(self) -> Path:
        return self.root / "prepared"

    @property
    def flat_dir(self) -> Path:
        """Shards of flattened papers: flat/<shard>.jsonl.gz (+ .done.json manifests)."""
        return self.prepared / "flat"

    @property
    def prepare_stats(self) -> Path:
        return self.prepared / "stats.json"

    @property
    def skipped(self) -> Path:
        return self.prepared / "skipped.jsonl"

    # prepare (extraction half) -------------------------------------------------------------
    @property
    def equations(self) -> Path:
        return self.prepared / "equations.jsonl"

    # validate ------------------------------------------------------------------------------
    @property
    def validate_dir(self) -> Path:
        return self.out / "validate"
