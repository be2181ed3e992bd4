"""Flattened papers -> papers, equations, vocabulary and memory-mappable token streams.

Two steps (formats: docs/formats.md):
1. Extraction, per paper in a worker pool, resumable per unit: `extracted/<key>.jsonl.gz`
   holds each paper's kept equations (already tokenised), drop counts and prose.
2. Assembly, streaming over the extracted shards twice: the first pass collects the training
   split's equations (as 64-bit hashes) and token counts; the second writes `papers.jsonl`,
   `equations.jsonl` and the token streams, dropping every validation or test equation that also
   occurs in a training paper, so that novelty and held-out perplexity stay honest.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import logging
import time
from array import array
from collections import Counter
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from pipeline.atomic import atomic_open, write_text
from pipeline.dataset.extraction import FORMAT_VERSION, extract_units
from pipeline.dataset.settings import DatasetSettings
from pipeline.dataset.splits import SPLITS
from pipeline.fingerprint import code_fingerprint
from pipeline.runfolder import RunFolder, TokenFolder

log = logging.getLogger(__name__)

# --- step 2: assembly ---------------------------------------------------------------------------

def _eq_hash(latex: str) -> int:
    return int.from_bytes(hashlib.blake2b(latex.encode(), digest_size=8).digest(), "big")


def _in_sorted(values: np.ndarray, x: int) -> bool:
    i = int(np.searchsorted(values, np.uint64(x)))
    return i < len(values) and int(values[i]) == x


def _papers(shards: list[Path], skip: Mapping[Path, frozenset[str]]) -> Iterator[dict]:
    for shard in shards:
        drop = skip.get(shard, frozenset())
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            for line in fh:
                paper = json.loads(line)
                if paper["id"] not in drop:
                    yield paper


def _group(paper: dict, groups: Mapping[str, tuple[str, ...]]) -> str:
    """The corpus group a paper is reported under (DatasetSettings.groups, else its kind)."""
    if paper.get("kind"):
        return f"folders:{paper['kind']}"
    for name, patterns in groups.items():
        if any(fnmatch.fnmatchcase(paper["id"], p) for p in patterns):
            return name
    return "arxiv:other"


def assemble(shards: list[Path], folder: RunFolder, settings: DatasetSettings,
             skip: Mapping[Path, frozenset[str]] | None = None) -> dict:
    """Write papers.jsonl, equations.jsonl, vocab.json and tokens/ from the extracted `shards` (in source
    order), leaving out the paper ids `skip` names for a shard (copies of papers an earlier unit had);
    returns the stats."""
    skip = skip or {}
    from pipeline.latex.equations import DISPLAY_ENVS
    from pipeline.latex.tokenizer import Vocabulary, env_token

    # Memory per equation or paper is a few bytes in arrays, never a Python object (docs/scale.md).
    hashes = array("Q")
    counts: Counter = Counter()
    envs: Counter = Counter()
    for paper in _papers(shards, skip):
        if paper["split"] == "train":
            for eq in paper["equations"]:
                hashes.append(_eq_hash(eq["latex"]))
                counts.update(eq["tokens"])
                envs[env_token(eq["env"], eq["env_arg"])] += 1
    train_hashes = np.unique(np.frombuffer(hashes, dtype=np.uint64))  # sorted: membership by bisection
    del hashes
    kept_tokens = sorted((t for t, c in counts.items() if c >= settings.min_count), key=lambda t: (-counts[t], t))
    # Every display environment has its token whatever min_count says (the sampler may be asked for
    # any); alignat's column counts as the training equations use them.
    env_tokens = sorted({env_token(e) for e in DISPLAY_ENVS} | set(envs), key=lambda t: (-envs[t], t))
    vocab = Vocabulary(env_tokens + kept_tokens)  # training split only; rarer tokens become <unk>
    vocab.save(folder.output("vocab"))
    dtype = np.uint16 if len(vocab) < 2**16 else np.uint32

    tokens = TokenFolder(folder.output("tokens"))
    tokens.dir.mkdir(exist_ok=True)
    files = ExitStack()
    bins = {s: files.enter_context(atomic_open(tokens.ids(s), "wb")) for s in SPLITS}
    offsets = {s: array("q", [0]) for s in SPLITS}
    paper_of_row = {s: array("i") for s in SPLITS}  # row -> paper's line in papers.jsonl
    n_papers = 0
    ids_file = files.enter_context(atomic_open(tokens.paper_ids))
    ids_file.write("[")  # a JSON list, written as it goes (the same bytes json.dumps(list) gives)
    stats: Counter = Counter()
    dropped: Counter = Counter()
    undefined: Counter = Counter()
    diagrams: Counter = Counter()
    groups: dict[str, Counter] = {}
    split_counts: dict[str, Counter] = {s: Counter() for s in SPLITS}
    unk = vocab.unk_id
    with files, atomic_open(folder.output("papers")) as pf, atomic_open(folder.output("equations")) as ef:
        files.callback(lambda: ids_file.write("]"))  # runs before the files close (last in, first out)
        for paper in _papers(shards, skip):
            split = paper["split"]
            ids_file.write((", " if n_papers else "") + json.dumps(paper["id"]))
            n_papers += 1
            kept = []
            for eq in paper["equations"]:
                if split != "train" and _in_sorted(train_hashes, _eq_hash(eq["latex"])):
                    dropped["in_train_split"] += 1
                    continue
                kept.append(eq)
            for eq in kept:
                body = vocab.encode(eq["tokens"])
                ids = [vocab.stoi.get(env_token(eq["env"], eq["env_arg"]), unk), *body, vocab.eos_id]
                row = len(offsets[split]) - 1
                bins[split].write(np.asarray(ids, dtype=dtype).tobytes())
                offsets[split].append(offsets[split][-1] + len(ids))
                paper_of_row[split].append(n_papers - 1)
                split_counts[split]["tokens"] += len(body)
                split_counts[split]["unk"] += sum(1 for i in ids if i == unk)
                ef.write(json.dumps({"paper_id": paper["id"], "split": split, "row": row, "env": eq["env"],
                                     "env_arg": eq["env_arg"], "latex": eq["latex"], "n_tokens": len(body)},
                                    ensure_ascii=False) + "\n")
            dropped.update(paper["dropped"])
            undefined.update(paper["undefined"])
            diagrams.update(paper.get("diagrams") or {})
            n_dropped = sum(paper["dropped"].values()) + len(paper["equations"]) - len(kept)
            g = groups.setdefault(_group(paper, settings.groups), Counter())
            g["papers"] += 1
            g["found"] += paper["found"]
            g["kept"] += len(kept)
            g["dropped_duplicate"] += paper["dropped"].get("duplicate", 0)
            g["diagram"] += paper["dropped"].get("diagram", 0)
            stats["papers"] += 1
            stats["errors"] += "error" in paper
            stats["found"] += paper["found"]
            stats["kept"] += len(kept)
            stats["diagram"] += paper["dropped"].get("diagram", 0)
            split_counts[split]["papers"] += 1
            split_counts[split]["equations"] += len(kept)
            prose = [t for s in paper["prose_sections"] for t in s]
            # sections as where each begins in `prose`: the tokens once (papers.jsonl is the prepared
            # data's largest file; twice, it would be ~130 GB of arXiv's prose)
            sections = paper["prose_sections"]
            starts = np.cumsum([0] + [len(s) for s in sections[:-1]]).tolist() if sections else []
            pf.write(json.dumps({
                "id": paper["id"], "title": paper["title"], "categories": paper["categories"],
                "license": paper["license"], "field": paper["field"], "kind": paper["kind"], "split": split,
                "n_equations_found": paper["found"], "n_equations_kept": len(kept), "n_equations_dropped": n_dropped,
                "n_prose_tokens": len(prose), "prose": prose, "section_starts": starts,
            }, ensure_ascii=False) + "\n")
    for s in SPLITS:
        with atomic_open(tokens.offsets(s), "wb") as fh:
            np.save(fh, np.asarray(offsets[s], dtype=np.int64))
        with atomic_open(tokens.papers(s), "wb") as fh:
            np.save(fh, np.asarray(paper_of_row[s], dtype=np.int32))
    meta = {"format_version": FORMAT_VERSION, "dtype": np.dtype(dtype).name, "eos_id": vocab.eos_id,
            "vocab_size": len(vocab), "splits": {s: dict(split_counts[s]) for s in SPLITS}}
    write_text(tokens.meta, json.dumps(meta, indent=1))

    def frac(c: Counter) -> float | None:
        return round(c["kept"] / c["found"], 4) if c["found"] else None

    def frac_no_diagrams(c: Counter) -> float | None:
        return round(c["kept"] / (c["found"] - c["diagram"]), 4) if c["found"] > c["diagram"] else None

    not_2003 = Counter()
    for name, c in groups.items():
        if name not in settings.macros_lost:
            not_2003.update(c)
    return {
        "papers": stats["papers"],
        "papers_with_extraction_errors": stats["errors"],
        "equations_found": stats["found"],
        "equations_kept": stats["kept"],
        "kept_fraction": frac(stats),
        "kept_fraction_with_macros_present": frac(not_2003),
        # the same two with diagrams (TikZ, xymatrix, ...) left out of the equations found
        "kept_fraction_without_diagrams": frac_no_diagrams(stats),
        "kept_fraction_with_macros_present_without_diagrams": frac_no_diagrams(not_2003),
        "dropped": dict(sorted(dropped.items())),
        "diagrams_by_construct": dict(diagrams.most_common()),
        "undefined_top50": dict(undefined.most_common(50)),
        "by_group": {k: dict(v) | {"kept_fraction": frac(v), "kept_fraction_without_diagrams": frac_no_diagrams(v)}
                     for k, v in sorted(groups.items())},
        "splits": {s: dict(split_counts[s]) for s in SPLITS},
        "vocab_size": len(vocab),
        "tokens_train": split_counts["train"]["tokens"],
        "tokens_per_equation": round(sum(c["tokens"] for c in split_counts.values())
                                     / max(1, sum(c["equations"] for c in split_counts.values())), 1),
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("groups", "macros_lost")}
                    | {"workers": None, "progress": None},
    }


ASSEMBLED = ("papers", "equations", "vocab", "tokens_meta")


def build_dataset(folder: RunFolder, known: Mapping[str, int | None], settings: DatasetSettings) -> dict:
    """Extract the units the flat index lists, each into the `extracted/` beside its flat folder (a
    shard's own, reusing finished units: in a merge, the shards have done it), and assemble them;
    when every unit and setting is as the last assembly found them (`assemble_key` in stats.json),
    its files and stats are kept as they are."""
    t0 = time.perf_counter()
    index_path = folder.output("flat_index")
    index = json.loads(index_path.read_text())
    flats = [index_path.parent / name for name in index["shards"]]
    by_folder: dict[Path, list[str]] = {}
    for f in flats:
        by_folder.setdefault(f.parent, []).append(f.name.split(".", 1)[0])
    for flat_dir, keys in by_folder.items():
        extract_units(flat_dir, flat_dir.parent / "extracted", keys, known, settings)
    shards = [f.parent.parent / "extracted" / f.name for f in flats]
    skip = {shards[flats.index(index_path.parent / name)]: frozenset(ids) for name, ids in index["duplicates"].items()}
    key = _assemble_key(shards, settings, index["duplicates"])
    before = _read_stats(folder.output("prepare_stats")).get("extract", {})
    if before.get("assemble_key") == key and all(folder.output(f).exists() for f in ASSEMBLED):
        log.info("extraction: units and settings unchanged: papers.jsonl, equations.jsonl, vocabulary and "
                 "token streams reused")
        return {**before, "reused": True}
    stats = assemble(shards, folder, settings, skip)
    stats["assemble_key"] = key
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    return stats


def _assemble_key(shards: list[Path], settings: DatasetSettings, duplicates: dict) -> str:
    h = hashlib.sha1(code_fingerprint("dataset/build.py", "dataset/extraction.py", "dataset/settings.py", "dataset/splits.py",
                                         "dataset/streams.py", "dataset/equations.py", "latex/tokenizer.py",
                                         "latex/equations.py").encode())
    h.update(json.dumps(duplicates, sort_keys=True).encode())
    for p in shards:
        h.update(p.name.encode() + (p.parent / p.name.replace(".jsonl.gz", ".done.json")).read_bytes())
    # how many workers did the work does not change what was made
    made = {k: v for k, v in asdict(settings).items() if k not in ("workers", "in_flight", "progress")}
    h.update(json.dumps(made, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _read_stats(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
