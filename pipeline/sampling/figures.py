"""Figures of a set of samples: compile rates (overall, by conditioning), length limits, lengths,
novelty, near copies, distinct n-grams; and the table the stage prints."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.dataset.equations import read_equations
from pipeline.latex.tokenizer import tokenize
from pipeline.model.novelty import TrainingSet, distinct_n
from pipeline.sampling.requests import label


def share(rows: list[dict], key: str) -> float:
    """The share of rows whose `key` is true (0 for no rows): compile rate, length-limited, copies."""
    return sum(bool(r[key]) for r in rows) / max(1, len(rows))


def by(rows: Iterable[dict], key: Callable[[dict], str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def real_test_tokens(equations_file: Path, n: int) -> list[list[str]]:
    """Token sequences of n real test equations (the first n, a fixed order), for equal-size comparisons."""
    out = []
    for e in read_equations(equations_file, split="test"):
        out.append(tokenize(e["latex"]))
        if len(out) >= n:
            break
    return out


def figures(rows: list[dict], training: TrainingSet, real: list[list[str]], novelty_check: int,
            near_copy_ratio: float) -> dict[str, Any]:
    n = len(rows)
    if not n:
        return {"n": 0, "compile_rate": None}
    near = [training.nearest(r["tokens"], near_copy_ratio) for r in rows[:novelty_check]]
    return {
        "n": n,
        "compile_rate": share(rows, "compiles"),
        "per_conditioning": {k: {"n": len(v), "compile_rate": share(v, "compiles")} for k, v in by(rows, label).items()},
        "length_limited": share(rows, "length_limited"),
        "mean_tokens": float(np.mean([len(r["tokens"]) for r in rows])),
        "real_test_mean_tokens": float(np.mean([len(t) for t in real])) if real else None,
        "in_training_set": share(rows, "in_training_set"),
        "near_copies": {"checked": len(near), "near": sum(d is not None for d in near),
                        "definition": f"token edit distance to the closest training equation < "
                                      f"{100 * near_copy_ratio:g}% of the length"},
        "distinct_n": {str(k): {"samples": distinct_n((r["tokens"] for r in rows[: len(real)]), k),
                                "real_test": distinct_n(real, k)} for k in (1, 2, 3, 4)},
    }


def grid_figures(rows: list[dict]) -> dict[str, Any]:
    """One grid setting's figures, with the compile rate of each topic."""
    return {"n": len(rows), "compile_rate": share(rows, "compiles"), "length_limited": share(rows, "length_limited"),
            "mean_tokens": float(np.mean([len(r["tokens"]) for r in rows])) if rows else None,
            "in_training_set": share(rows, "in_training_set"),
            "per_topic": {k: share(v, "compiles") for k, v in by(rows, lambda r: r["name"]).items()}}


def print_table(rows: list[dict], only_compiling: bool) -> None:
    print(f"{'topic':28s} {'n':>5s} {'compile':>8s}  examples")
    for name, rs in by(rows, label).items():
        ex = [r["latex"] for r in rs if r["compiles"] or not only_compiling][:2]
        print(f"{name[:28]:28s} {len(rs):5d} {100 * share(rs, 'compiles'):7.1f}%  " + "   |   ".join(e[:60] for e in ex))
