"""Small pieces of ingest: ids, gzip with a cap, member paths, selection without metadata."""
from __future__ import annotations

import gzip

import pytest

from pipeline.skips import Skip
from pipeline.sources.archive import gunzip_capped, paper_files, safe_member_path
from pipeline.sources.ids import canonical_id, paper_id
from pipeline.sources.metadata import join_metadata
from pipeline.sources.select import Selection
from pipeline.sources.text_encoding import decode_tex


@pytest.mark.parametrize("name, expected", [
    ("0301/hep-th0301001.gz", "hep-th/0301001"),
    ("math0211159.gz", "math/0211159"),
    ("cond-mat0101001v2.tar.gz", "cond-mat/0101001"),
    ("1008/1008.4686.gz", "1008.4686"),
    ("2312/2312.01234v3.gz", "2312.01234"),
    ("camnotes_IA_L_analysis_i", "camnotes_IA_L_analysis_i"),
])
def test_paper_ids(name, expected):
    assert paper_id(name) == expected
    assert canonical_id(expected + ("v2" if expected[0].isdigit() else "")) == expected


def test_gunzip_capped_reads_all_members_and_stops_at_the_cap():
    data = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    assert gunzip_capped(data, 5000) == b"a" * 1000 + b"b" * 1000
    with pytest.raises(Skip) as e:
        gunzip_capped(gzip.compress(b"\0" * 10_000_000), 1_000_000)
    assert e.value.reason == "decompression_bomb"
    with pytest.raises(Skip) as e:
        gunzip_capped(gzip.compress(b"x" * 100)[:-12], 5000)
    assert e.value.reason == "corrupt_gzip"


@pytest.mark.parametrize("name", ["/etc/passwd", "../up.tex", "a/../../up.tex", "C:evil.tex", "\\\\server\\x"])
def test_unsafe_member_paths(name):
    with pytest.raises(Skip):
        safe_member_path(name)


def test_safe_member_path_normalises():
    assert safe_member_path("./a//b/./c.tex") == "a/b/c.tex"


def test_single_tex_told_apart_by_content_not_name():
    tex = b"\\documentclass{article}\\begin{document}x\\end{document}"
    assert paper_files(gzip.compress(tex), "0301/hep-th0301001.gz", 1 << 20, 1 << 20) == {"hep-th0301001.tex": tex}
    assert paper_files(tex, "weird.pdf", 1 << 20, 1 << 20) == {"weird.tex": tex}  # named .pdf, is LaTeX
    with pytest.raises(Skip) as e:
        paper_files(gzip.compress(b"\x00\x01\x02binary" * 10), "x.gz", 1 << 20, 1 << 20)
    assert e.value.reason == "not_latex"


def test_decode_fallback():
    assert decode_tex("\ufeffé".encode()) == ("é", False)
    assert decode_tex("“é”".encode("cp1252")) == ("“é”", True)
    assert decode_tex(b"\x81x") == ("\x81x", True)  # undefined in cp1252: never an exception


def test_selection_without_metadata():
    assert Selection().reject_reason(None) is None
    assert Selection(categories=("hep-th",)).reject_reason(None) == "categories"
    assert Selection(exclude_licences=("*rights reserved*",)).reject_reason(None) is None


def test_metadata_join_keeps_only_wanted_ids(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a/0001", "title": "A"}\n{"id": "b"}\nnot json\n\n{"id": "a/0001v2", "title": "dup"}\n[1]\n')
    joined = join_metadata([path], {"a/0001"})
    assert len(joined.records) == 1 and joined.records.get("a/0001")["title"] == "A"
    assert [w.rsplit(":", 1)[1] for w, _ in joined.bad_lines] == ["3", "6"]
    with pytest.raises(FileNotFoundError, match="data.metadata"):
        join_metadata([tmp_path / "missing.jsonl"], set())
