"""Where each stage's files live inside `outputs/<run>/`: the one place that names them.

A stage reads earlier stages' files from `root` (always `outputs/<run>/`) and writes its own into
`out`, which is `root` for a normal run and `outputs/<run>/sweeps/<stage>/<job>/` for a job of a
multirun sweep, so sweep jobs never overwrite each other or the run's own files. Every file
between stages is named in `FILES` with the stage that writes it; code asks for a file by name
(`folder.path("vocab")` to read, `folder.output("metrics")` to write) and never joins a run-folder
path by hand. A stage's working folders (`flat`, `extracted`, `topics_work`, `checkpoints`) are
named here too; the shards inside them are that stage's own business and no other stage reads
them. Formats of every file: docs/formats.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import StageError

# name -> (path inside outputs/<run>/, the stage that writes it)
FILES: dict[str, tuple[str, str]] = {
    # prepare
    "prepared": ("prepared", "prepare"),
    "flat": ("prepared/flat", "prepare"),
    "flat_index": ("prepared/flat/index.json", "prepare"),
    "metadata_db": ("prepared/metadata.sqlite", "prepare"),
    "extracted": ("prepared/extracted", "prepare"),
    "prepare_stats": ("prepared/stats.json", "prepare"),
    "skipped": ("prepared/skipped.jsonl", "prepare"),
    "papers": ("prepared/papers.jsonl", "prepare"),
    "equations": ("prepared/equations.jsonl", "prepare"),
    "vocab": ("prepared/vocab.json", "prepare"),
    "tokens": ("prepared/tokens", "prepare"),
    "tokens_meta": ("prepared/tokens/meta.json", "prepare"),
    "paper_ids": ("prepared/tokens/paper_ids.json", "prepare"),
    # validate
    "validate": ("validate", "validate"),
    "validated": ("validate/equations.validated.jsonl", "validate"),
    "validate_summary": ("validate/equations.validated.jsonl.summary.json", "validate"),
    # topics
    "topics": ("topics", "topics"),
    "topic_model": ("topics/model", "topics"),
    "topic_restarts": ("topics/model/restarts", "topics"),
    "topics_work": ("topics/work", "topics"),
    "topics_md": ("topics/topics.md", "topics"),
    "topic_word_matrix": ("topics/model/lda.model.expElogbeta.npy", "topics"),
    "theta": ("topics/theta.npy", "topics"),
    "theta_ids": ("topics/theta_ids.json", "topics"),
    "topic_names": ("topics/names.json", "topics"),
    "topics_report": ("topics/report.json", "topics"),
    # train
    "train": ("train", "train"),
    "model": ("train/model.pt", "train"),
    "checkpoints": ("train/checkpoints", "train"),
    "last_checkpoint": ("train/checkpoints/last.ckpt", "train"),
    "train_run": ("train/run.json", "train"),
    "metrics": ("train/metrics.json", "train"),
    "curves": ("train/curves/metrics.csv", "train"),
    "ablation": ("train/ablation", "train"),
    "ablation_curves": ("train/ablation/curves/metrics.csv", "train"),
    # sample
    "samples_dir": ("samples", "sample"),
    "samples": ("samples/samples.jsonl", "sample"),
    "samples_partial": ("samples/samples.jsonl.partial", "sample"),
    "grid": ("samples/grid.jsonl", "sample"),
    "context": ("samples/context.jsonl", "sample"),
    "sample_summary": ("samples/summary.json", "sample"),
    "syntax_rules": ("samples/syntax_rules.json", "sample"),
    "eos_calibration": ("samples/eos_calibration.json", "sample"),
    "requests": ("requests", "sample"),
    # judge
    "judge": ("judge", "judge"),
    "judge_summary": ("judge/summary.json", "judge"),
    "judge_pairs": ("judge/pairs.jsonl", "judge"),
    # report
    "report": ("report", "report"),
    "quiz": ("report/quiz.html", "report"),
    "report_html": ("report/report.html", "report"),
    "report_md": ("report/report.md", "report"),
    "gallery": ("report/gallery.pdf", "report"),
    "report_record": ("report/report.json", "report"),
    # every stage
    "stages": ("stages.json", "all"),
}


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

    def train_output(self) -> TrainFolder:
        """The train stage's files where this stage (or sweep job) writes them."""
        return TrainFolder(self.output("train"))

    @property
    def is_sweep_job(self) -> bool:
        return self.out != self.root

    def path(self, name: str) -> Path:
        """An input: the run's file `name` (FILES), as an earlier stage wrote it."""
        return self.root / _rel(name)

    def output(self, name: str) -> Path:
        """An output: where this stage (or this sweep job) writes the file `name`."""
        return self.out / _rel(name)

    def require(self, *names: str) -> None:
        """Refuse, naming the stage to run, when an input is missing."""
        for name in names:
            p = self.path(name)
            if not p.exists():
                raise StageError(f"{p} does not exist: run `python -m pipeline stage={FILES[name][1]}` first "
                                 f"(for this run folder: run={self.root.name})")

    # the names prepare and validate have always used ---------------------------------------
    @property
    def prepared(self) -> Path:
        return self.path("prepared")

    @property
    def flat_dir(self) -> Path:
        """Shards of flattened papers: flat/<shard>.jsonl.gz (+ .done.json manifests)."""
        return self.path("flat")

    @property
    def prepare_stats(self) -> Path:
        return self.path("prepare_stats")

    @property
    def skipped(self) -> Path:
        return self.path("skipped")

    @property
    def equations(self) -> Path:
        return self.path("equations")

    @property
    def validate_dir(self) -> Path:
        return self.output("validate")

    def validated_of(self, src: Path) -> Path:
        """Where validate writes the verdicts on a file of the user's own (`validate.input`)."""
        return self.output("validate") / f"{Path(src).stem}.validated.jsonl"


@dataclass(frozen=True)
class TokenFolder:
    """prepare's token streams (`prepared/tokens/`): per split the ids, the row offsets and each row's paper."""
    dir: Path

    meta = property(lambda self: self.dir / "meta.json")
    paper_ids = property(lambda self: self.dir / "paper_ids.json")

    def ids(self, split: str) -> Path:
        return self.dir / f"{split}.bin"

    def offsets(self, split: str) -> Path:
        return self.dir / f"{split}.idx.npy"

    def papers(self, split: str) -> Path:
        return self.dir / f"{split}.papers.npy"


@dataclass(frozen=True)
class TrainFolder:
    """The files of one training: the run's train/ or its ablation/ (the same layout)."""
    dir: Path

    model = property(lambda self: self.dir / "model.pt")              # the best validation checkpoint's network
    checkpoints = property(lambda self: self.dir / "checkpoints")     # Lightning's best.ckpt and last.ckpt
    last_checkpoint = property(lambda self: self.dir / "checkpoints" / "last.ckpt")
    run_record = property(lambda self: self.dir / "run.json")         # settings and data the checkpoints were made with
    metrics = property(lambda self: self.dir / "metrics.json")
    curves = property(lambda self: self.dir / "curves")               # curves/metrics.csv

    @property
    def ablation(self) -> "TrainFolder":
        return TrainFolder(self.dir / "ablation")


def as_folder(where: "RunFolder | str | Path") -> RunFolder:
    """A RunFolder from a folder given as a path (library callers, tests)."""
    return where if isinstance(where, RunFolder) else RunFolder.at(where)


def stage_of(name: str) -> str:
    """The stage that writes the file `name`."""
    return FILES[name][1]


def _rel(name: str) -> str:
    try:
        return FILES[name][0]
    except KeyError:
        raise KeyError(f"no run-folder file named {name!r}; the names are in pipeline/runfolder.py FILES") from None
