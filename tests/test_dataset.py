"""Splits, cross-split duplicates, vocabulary and token streams, on a corpus built here."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipeline.dataset.build import build_dataset
from pipeline.dataset.splits import check_fractions, split_of
from pipeline.dataset.streams import read_paper_index, read_split
from pipeline.latex.tokenizer import Vocabulary, detokenize, env_token
from pipeline.runfolder import RunFolder
from pipeline.sources.merge import ingest
from pipeline.texcheck.known import known_commands
from tests.arxiv_files import DOC, bulk_tar, gz
from tests.conftest import dataset_settings, ingest_settings

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_split_is_a_function_of_the_id_only():
    ids = [f"2101.{i:05d}" for i in range(3000)]
    first = {i: split_of(i, FRACTIONS) for i in ids}
    assert {i: split_of(i, FRACTIONS) for i in reversed(ids)} == first
    shares = {s: sum(v == s for v in first.values()) / len(ids) for s in FRACTIONS}
    assert all(abs(shares[s] - FRACTIONS[s]) < 0.03 for s in FRACTIONS)
    # growing the corpus never moves a paper
    more = {f"2102.{i:05d}": split_of(f"2102.{i:05d}", FRACTIONS) for i in range(100)}
    assert all(split_of(i, FRACTIONS) == first[i] for i in ids) and more
    with pytest.raises(ValueError):
        check_fractions({"train": 0.9, "val": 0.2, "test": 0.0})


def ids_in(split: str, n: int) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        pid = f"hep-th/03{i:05d}"
        if split_of(pid, FRACTIONS) == split:
            out.append(pid)
        i += 1
    return out


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    train, val = ids_in("train", 2), ids_in("val", 1)
    shared = "\\begin{equation} E = m c^2 \\end{equation}"
    bodies = {
        train[0]: shared + "\\begin{align} a &= b \\\\ c &= d \\label{x} \\end{align}"
                  "\\newcommand{\\R}{\\mathbb{R}} $$ x \\in \\R . $$ $$ x \\in \\R . $$",
        train[1]: "\\begin{equation} \\alpha + \\beta \\end{equation} \\[ \\undefinedthing x \\]",
        val[0]: shared + "\\begin{equation} \\gamma_{\\mu} \\end{equation}"
                "\\section{Stars} stars gravity galaxies \\section{Primes} primes modular forms",
    }
    members = {f"0301/{pid.replace('/', '')}.gz": gz(DOC % body) for pid, body in bodies.items()}
    tar = bulk_tar(tmp_path / "arXiv_src_0301_001.tar", members)
    out = tmp_path / "prepared"
    ingest([tar], [], ingest_settings(), RunFolder.at(tmp_path).prepared)
    stats = build_dataset(RunFolder.at(tmp_path), known_commands(None, tmp_path / "cache"),
                          dataset_settings(min_count=1, split=FRACTIONS))
    (out / "build_stats.json").write_text(json.dumps(stats))
    return out


def test_equations_tokens_and_streams(prepared: Path):
    stats = json.loads((prepared / "build_stats.json").read_text())
    eqs = [json.loads(line) for line in (prepared / "equations.jsonl").read_text().splitlines()]
    by_split = {s: [e for e in eqs if e["split"] == s] for s in ("train", "val", "test")}
    latex = {e["latex"] for e in by_split["train"]}
    assert "E=mc^2" in latex and "x\\in\\mathbb{R}" in latex  # macro expanded, punctuation dropped
    assert "a&=b\\\\c&=d" in latex
    assert sum(e["latex"] == "x\\in\\mathbb{R}" for e in eqs) == 1  # duplicate in one paper kept once
    # an equation of a training paper is never also a validation equation
    assert [e["latex"] for e in by_split["val"]] == ["\\gamma_{\\mu}"]
    assert stats["dropped"]["in_train_split"] == 1
    assert stats["dropped"]["undefined"] == 1 and stats["undefined_top50"] == {"undefinedthing": 1}

    vocab = Vocabulary.load(prepared / "vocab.json")
    paper_ids = json.loads((prepared / "tokens" / "paper_ids.json").read_text())
    assert paper_ids == [json.loads(line)["id"] for line in (prepared / "papers.jsonl").read_text().splitlines()]
    for split, rows in by_split.items():
        data, idx = read_split(prepared / "tokens", split)  # the test split is empty here
        papers = read_paper_index(prepared / "tokens", split)
        assert len(idx) == len(rows) + 1 and len(data) == idx[-1] and len(papers) == len(rows)
        for e in rows:
            ids = list(data[idx[e["row"]]: idx[e["row"] + 1]])
            # a row: the environment's token, the body, <eos>
            assert vocab.itos[ids[0]] == env_token(e["env"], e["env_arg"]) and ids[-1] == vocab.eos_id
            assert len(ids) == e["n_tokens"] + 2 and paper_ids[papers[e["row"]]] == e["paper_id"]
            if split == "train":  # the vocabulary comes from the training split only
                assert detokenize(vocab.decode(ids[1:])) == e["latex"]
    assert "\\gamma" not in vocab  # seen only in validation
    # every display environment has its token, even one no equation uses
    assert {"<env:equation>", "<env:align>", "<env:multline>", "<env:flalign>"} <= set(vocab.itos)
    assert vocab.env_ids == list(range(4, 4 + len(vocab.env_ids)))


def test_papers_file_and_resume(prepared: Path, tmp_path: Path):
    papers = [json.loads(line) for line in (prepared / "papers.jsonl").read_text().splitlines()]
    assert {p["split"] for p in papers} == {"train", "val"}
    assert all(p["split"] == split_of(p["id"], FRACTIONS) for p in papers)
    # the sections extraction cut, each where `section_starts` says it begins
    extracted = {}
    for f in (prepared / "extracted").glob("*.jsonl.gz"):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            extracted |= {r["id"]: r["prose_sections"] for r in map(json.loads, fh)}
    assert any(len(p["section_starts"]) > 1 for p in papers)
    for p in papers:
        ends = [*p["section_starts"][1:], len(p["prose"])]
        assert [p["prose"][a:b] for a, b in zip(p["section_starts"], ends)] == extracted[p["id"]], p["id"]
    shard = next((prepared / "extracted").glob("*.jsonl.gz"))
    mtime = shard.stat().st_mtime_ns
    build_dataset(RunFolder.at(prepared.parent), known_commands(None, tmp_path / "cache"),
                  dataset_settings(min_count=1, split=FRACTIONS))
    assert shard.stat().st_mtime_ns == mtime
