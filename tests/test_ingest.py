"""Ingest on fixtures built here: good papers kept, each kind of bad input skipped with its reason."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.runfolder import RunFolder
from pipeline.sources.merge import ingest
from pipeline.sources.select import Selection
from tests.arxiv_files import DOC, bulk_tar, gz, metadata, paper_tar_gz, tar_bytes
from tests.conftest import ingest_settings


def run_ingest(tmp_path: Path, sources, meta=(), workers: int = 1, **limits) -> tuple[dict, dict, list[dict]]:
    out = tmp_path / "prepared"
    settings = ingest_settings(workers, **limits)
    stats = ingest(sources, meta, settings, RunFolder.at(tmp_path).prepared)
    papers = {}
    index = json.loads((out / "flat" / "index.json").read_text())
    for shard in index["shards"]:
        later_copies = set(index["duplicates"].get(shard, ()))  # ids an earlier unit had: not the corpus's
        with gzip.open(out / "flat" / shard, "rt") as fh:
            for line in fh:
                rec = json.loads(line)
                assert rec["id"] not in papers or rec["id"] in later_copies
                if rec["id"] not in later_copies:
                    papers[rec["id"]] = rec
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    return stats, papers, skipped


GOOD_TAR = paper_tar_gz({
    "main.tex": "\\documentclass{article}\\usepackage{mymacros}\n\\input{defs}\n\\begin{document}\n"
                "\\input{sec/intro.tex}\nBody % a comment\n\\end{document}\n",
    "defs.tex": "\\newcommand{\\R}{\\mathbb{R}}\n",
    "sec/intro.tex": "Intro with $\\R$.\n",
    "mymacros.sty": "\\newcommand{\\eps}{\\varepsilon} % eps\n",
    "fig.eps": "%!PS binary-ish",
})
GOOD_TEX = gz(DOC % "A single gzipped tex with $x$.")


def noise(n: int, seed: int = 0) -> str:
    """Incompressible text, so that a cut archive is really cut."""
    import hashlib
    return "".join(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in range(n // 64 + 1))[:n]


def bomb(size: int) -> bytes:
    return gz(tar_bytes({"main.tex": DOC % "x", "pad.tex": b"%" * size}))


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> tuple[Path, Path]:
    truncated_inner = gz(tar_bytes({"main.tex": DOC % ("y" * 5000)})[:1500])
    members = {
        "0301/hep-th0301001.gz": GOOD_TAR,
        "0301/hep-th0301002.gz": GOOD_TEX,
        "0301/hep-th0301003.gz": b"\x1f\x8b\x08\x00garbage that is not deflate",
        "0301/hep-th0301004.gz": truncated_inner,
        "0301/hep-th0301005.gz": paper_tar_gz({"main.tex": DOC % "x", "../evil.tex": "owned"}),
        "0301/hep-th0301006.gz": paper_tar_gz({"main.tex": DOC % "x", "/etc/evil.tex": "owned"}),
        "0301/hep-th0301007.gz": paper_tar_gz({"main.tex": DOC % "x"}, links={"link.tex": "/etc/passwd"}),
        "0301/hep-th0301008.gz": bomb(3 << 20),
        "0301/hep-th0301009.gz": paper_tar_gz({"main.tex": DOC % "\\input{a}", "a.tex": "\\input{b}", "b.tex": "\\input{a}"}),
        "0301/hep-th0301010.gz": paper_tar_gz({"main.tex": DOC % "\\input{/etc/passwd}"}),
        "0301/hep-th0301011.gz": paper_tar_gz({"main.tex": DOC % "\\input{../x}"}),
        "0301/hep-th0301012.gz": paper_tar_gz({"notes.tex": "%\\begin{document}\nno document here\n"}),
        "0301/hep-th0301013.gz": gz(tar_bytes({})),
        "0301/hep-th0301014.pdf": b"%PDF-1.4 fake pdf",
        "0301/hep-th0301015.gz": gz(b"%PDF-1.4 a gzipped pdf"),
        "0301/hep-th0301016.gz": paper_tar_gz({"main.tex": DOC % noise(5000)})[:300],
        "0301/1234.5678.gz": GOOD_TEX,
    }
    tar = bulk_tar(tmp_path / "arXiv_src_0301_001.tar", members)
    meta = metadata(tmp_path / "meta.jsonl", [
        {"id": "hep-th/0301001", "title": "Good", "categories": "hep-th", "license": "CC BY 4.0"},
        "{this is not json",
        {"id": "1234.5678", "title": "New style", "categories": "math.AG", "license": None},
        {"id": "9999.0000", "title": "not in the corpus"},
    ])
    return tar, meta


EXPECTED = {
    "hep-th/0301003": "corrupt_gzip",
    "hep-th/0301004": "truncated_tar",  # valid gzip of a tar cut short
    "hep-th/0301016": "corrupt_gzip",  # a gzip stream cut short
    "hep-th/0301005": "unsafe_path",
    "hep-th/0301006": "unsafe_path",
    "hep-th/0301007": "link_member",
    "hep-th/0301008": "decompression_bomb",
    "hep-th/0301009": "input_cycle",
    "hep-th/0301010": "input_outside_paper",
    "hep-th/0301011": "input_outside_paper",
    "hep-th/0301012": "no_main_file",
    "hep-th/0301013": "empty_archive",
    "hep-th/0301014": "pdf",
    "hep-th/0301015": "pdf",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_inputs_are_skipped_and_good_papers_kept(tmp_path, hostile_corpus, workers):
    tar, meta = hostile_corpus
    stats, papers, skipped = run_ingest(tmp_path, [tar], [meta], workers=workers, max_paper_bytes=1 << 20)
    assert set(papers) == {"hep-th/0301001", "hep-th/0301002", "1234.5678"}
    got = {s["id"]: s["reason"] for s in skipped if s["id"]}
    assert got == EXPECTED
    bad_meta = [s for s in skipped if s["reason"] == "bad_metadata_line"]
    assert len(bad_meta) == 1 and bad_meta[0]["source"].endswith("meta.jsonl:2")
    assert stats["papers_found"] == 17 and stats["papers_flattened"] == 3
    assert stats["skipped"]["input_outside_paper"] == 2
    assert stats["skipped"]["bad_metadata_line"] == 1
    # nothing was extracted next to the archive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arXiv_src_0301_001.tar", "meta.jsonl", "prepared"]


def test_good_paper_is_flattened_with_styles_and_metadata(tmp_path, hostile_corpus):
    tar, meta = hostile_corpus
    _, papers, _ = run_ingest(tmp_path, [tar], [meta], max_paper_bytes=1 << 20)
    rec = papers["hep-th/0301001"]
    assert rec["main_tex"] == "main.tex"
    assert "\\newcommand{\\R}{\\mathbb{R}}" in rec["latex"]  # \input in the preamble resolved
    assert "Intro with $\\R$." in rec["latex"]  # \input with .tex, in a sub-folder
    assert "a comment" not in rec["latex"] and "Body" in rec["latex"]
    assert "\\input" not in rec["latex"]
    assert rec["styles"] == {"mymacros.sty": "\\newcommand{\\eps}{\\varepsilon} "}
    assert rec["meta"]["license"] == "CC BY 4.0" and rec["meta"]["title"] == "Good"
    assert papers["1234.5678"]["meta"]["categories"] == "math.AG"
    assert papers["hep-th/0301002"]["meta"] is None
    assert papers["hep-th/0301002"]["main_tex"] == "hep-th0301002.tex"


def test_truncated_bulk_tar_keeps_the_papers_before_the_cut(tmp_path):
    members = {f"0302/hep-th03020{i:02d}.gz": gz(DOC % ("paper %d " % i + noise(3000, i))) for i in range(10)}
    full = tar_bytes(members)
    cut = tmp_path / "arXiv_src_0302_001.tar"
    cut.write_bytes(full[: len(full) // 2])
    stats, papers, skipped = run_ingest(tmp_path, [cut])
    assert 0 < len(papers) < 10
    assert any(s["reason"] == "truncated_tar" for s in skipped)
    assert stats["papers_flattened"] == len(papers)


def test_main_file_detection(tmp_path):
    commented = "%\\documentclass{article}\n%\\begin{document}\nnot the main\n"
    header = "\\documentclass{article}\n\\usepackage{amsmath}\n"
    paper = paper_tar_gz({
        "aaa.tex": commented,                               # commented-out: not a candidate
        "zmain.tex": "\\input{header}\n\\begin{document}\nreal\n\\end{document}\n",
        "header.tex": header,                               # \documentclass via \input counts
        "standalone.tex": "\\begin{document}\nno class\n\\end{document}\n",
    })
    tar = bulk_tar(tmp_path / "arXiv_src_0303_001.tar", {"0303/hep-th0303001.gz": paper})
    _, papers, _ = run_ingest(tmp_path, [tar])
    rec = papers["hep-th/0303001"]
    assert rec["main_tex"] == "zmain.tex"
    assert rec["latex"].startswith("\\documentclass{article}")


def test_main_tex_from_metadata_wins(tmp_path):
    doc = tmp_path / "docs" / "mydoc"
    (doc / "chapters").mkdir(parents=True)
    (doc / "book.tex").write_text(DOC % "\\include{chapters/one}\\subfile{chapters/two}")
    (doc / "other.tex").write_text(DOC % "other")
    (doc / "chapters" / "one.tex").write_text("Chapter one.")
    (doc / "chapters" / "two.tex").write_text("\\documentclass[../book]{subfiles}\n\\begin{document}\nTwo.\n\\end{document}\n")
    meta = metadata(tmp_path / "m.jsonl", [{"id": "mydoc", "main_tex": "book.tex", "categories": "math.GT"}])
    _, papers, _ = run_ingest(tmp_path, [tmp_path / "docs"], [meta])
    rec = papers["mydoc"]
    assert rec["main_tex"] == "book.tex"
    assert "Chapter one." in rec["latex"] and "Two." in rec["latex"]
    assert rec["latex"].count("\\documentclass") == 1  # \subfile contributes its body only


def test_import_and_bare_input(tmp_path):
    doc = tmp_path / "d"
    (doc / "parts" / "sub").mkdir(parents=True)
    (doc / "main.tex").write_text(DOC % "\\import{parts/}{a}\n\\input parts/c.tex\n")
    (doc / "parts" / "a.tex").write_text("A \\subimport{sub/}{b}")
    (doc / "parts" / "sub" / "b.tex").write_text("B")
    (doc / "parts" / "c.tex").write_text("C\\endinput\nnot read")
    _, papers, _ = run_ingest(tmp_path, [doc])
    latex = papers["d"]["latex"]
    assert "A B" in latex and "C" in latex and "not read" not in latex


def test_encoding_fallback_is_counted(tmp_path):
    doc = tmp_path / "latin"
    doc.mkdir()
    (doc / "main.tex").write_bytes((DOC % "Schr\u00f6dinger \u2013 caf\u00e9").encode("cp1252"))
    stats, papers, _ = run_ingest(tmp_path, [doc])
    assert "Schr\u00f6dinger \u2013 caf\u00e9" in papers["latin"]["latex"]
    assert papers["latin"]["encoding_fallback"] is True
    assert stats["papers_needing_encoding_fallback"] == 1


def test_selection_filters_and_counts(tmp_path):
    members = {f"0301/hep-th03010{i:02d}.gz": GOOD_TEX for i in range(1, 5)}
    tar = bulk_tar(tmp_path / "arXiv_src_0301_001.tar", members)
    meta = metadata(tmp_path / "m.jsonl", [
        {"id": "hep-th/0301001", "categories": "hep-th gr-qc", "field": "particle physics", "license": "CC BY 4.0"},
        {"id": "hep-th/0301002", "categories": "math.AG", "field": "other: algebra", "license": "CC BY 4.0"},
        {"id": "hep-th/0301003", "categories": "hep-th", "field": "particle physics",
         "license": "NONE STATED - all rights reserved"},
    ])
    sel = Selection(categories=("hep-*",), exclude_licences=("*all rights reserved*",))
    stats = ingest([tar], [meta], replace(ingest_settings(), selection=sel), RunFolder.at(tmp_path).prepared)
    assert stats["selection"]["before"] == 4 and stats["selection"]["after"] == 1
    assert stats["selection"]["excluded_by"] == {"categories": 2, "exclude_licences": 1}
    assert Selection(fields=("other: *",)).reject_reason({"field": "Other: Algebra"}) is None


def test_rerun_resumes_from_done_shards(tmp_path, hostile_corpus):
    tar, meta = hostile_corpus
    first, papers1, _ = run_ingest(tmp_path, [tar], [meta], max_paper_bytes=1 << 20)
    shard = next((tmp_path / "prepared" / "flat").glob("*.jsonl.gz"))
    mtime = shard.stat().st_mtime_ns
    second, papers2, _ = run_ingest(tmp_path, [tar], [meta], max_paper_bytes=1 << 20)
    assert shard.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert papers1 == papers2 and first["skipped"] == second["skipped"]
    # a half-written shard (interrupted run) is never mistaken for a done one
    done = next((tmp_path / "prepared" / "flat").glob("*.done.json"))
    done.unlink()
    third, papers3, _ = run_ingest(tmp_path, [tar], [meta], max_paper_bytes=1 << 20)
    assert papers3 == papers1 and shard.stat().st_mtime_ns != mtime


def test_duplicate_ids_keep_the_first(tmp_path):
    a = bulk_tar(tmp_path / "arXiv_src_0301_001.tar", {"0301/hep-th0301001.gz": gz(DOC % "first")})
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "hep-th0301001.gz").write_bytes(gz(DOC % "second"))
    _, papers, skipped = run_ingest(tmp_path, [a, folder])
    assert "first" in papers["hep-th/0301001"]["latex"]
    assert [s["reason"] for s in skipped] == ["duplicate_id"]


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.sources"):
        run_ingest(tmp_path, [tmp_path / "nope"])


def test_new_style_ids_with_dots_keep_their_shards(tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    for i in (1, 2):
        (folder / f"2101.0000{i}.gz").write_bytes(gz(DOC % f"paper {i}"))
    stats, papers, _ = run_ingest(tmp_path, [folder])
    assert set(papers) == {"2101.00001", "2101.00002"} and stats["papers_flattened"] == 2
    again, papers2, _ = run_ingest(tmp_path, [folder])  # and a re-run reuses them
    assert papers2 == papers


def test_resume_redoes_duplicates_when_an_earlier_source_goes(tmp_path):
    a = bulk_tar(tmp_path / "arXiv_src_0301_001.tar", {"0301/hep-th0301001.gz": gz(DOC % "first")})
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "hep-th0301001.gz").write_bytes(gz(DOC % "second"))
    _, papers, _ = run_ingest(tmp_path, [a, folder])
    assert "first" in papers["hep-th/0301001"]["latex"]
    _, papers, skipped = run_ingest(tmp_path, [folder])  # the folder's unit must not be reused as is
    assert "second" in papers["hep-th/0301001"]["latex"] and skipped == []
