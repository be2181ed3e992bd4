"""What a model was trained on, by content, and the one check that a model fits a run.

The train stage records it in `train/model.pt` and `train/metrics.json`; every stage that loads a
model (train's evaluate-only and ablation, sample, report) refuses one trained on another
vocabulary or other topics than the run's, with a `ModelMismatchError` (a StageError).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import StageError
from pipeline.fingerprint import file_sha256
from pipeline.runfolder import RunFolder, as_folder


class ModelMismatchError(StageError):
    """The model was trained on another vocabulary or other topics than the run it is used with."""


# what the record holds -> (the run's file, how the message names it)
_CHECKED = {"vocab_sha256": ("vocab", "vocabulary (prepared/vocab.json)"),
            "theta_sha256": ("theta", "topics (topics/theta.npy)")}


def data_record(run: RunFolder | Path) -> dict[str, Any]:
    """The hashes of the data a model is trained on (never of code)."""
    run = as_folder(run)
    # The topic model by its topic-word matrix: the pickled model also holds fitting times, which
    # differ on every refit of the very same model.
    matrix = run.path("topic_word_matrix")
    return {"vocab_sha256": file_sha256(run.path("vocab")), "theta_sha256": file_sha256(run.path("theta")),
            "topic_model_sha256": file_sha256(matrix) if matrix.exists() else None}


def check_model_matches(data: dict, run: RunFolder | Path, model_file: Path) -> None:
    """Refuse a model (its recorded `data`) trained on another vocabulary or other topics than the run's."""
    run = as_folder(run)
    run.require(*(name for name, _ in _CHECKED.values()))
    wrong = [what for key, (name, what) in _CHECKED.items() if data.get(key) != file_sha256(run.path(name))]
    if wrong:
        raise ModelMismatchError(f"{model_file} was trained with another {' and '.join(wrong)} than {run.root} has; "
                                 "train again (python -m pipeline stage=train) or use the model in the run it "
                                 "belongs to")
