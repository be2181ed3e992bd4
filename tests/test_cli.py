"""The command line: `python -m pipeline stage=...` as a user runs it."""
from __future__ import annotations

import json
from pathlib import Path

from tests.arxiv_files import DOC, bulk_tar, gz
from tests.conftest import ROOT, run_pipeline


def pipeline(*args: str, cwd: Path = ROOT):
    # a bare environment: the app must not depend on anything but PATH for TeX
    return run_pipeline(*args, cwd=cwd, env={"PATH": "/usr/bin:/bin"}, clean_env=True)


def test_unknown_stage_is_one_line_listing_the_stages(tmp_path):
    res = pipeline("stage=nope", f"paths.outputs={tmp_path}")
    assert res.returncode == 2
    from pipeline.stages import stage_names

    assert res.stderr.strip().splitlines() == [f"error: unknown stage 'nope'; stages: {', '.join(stage_names())}"]
    assert stage_names()[:4] == ["prepare", "validate", "topics", "train"]


def test_help_names_the_stages():
    res = pipeline("--help")
    from pipeline.stages import stage_names

    assert res.returncode == 0 and f"Stages: {', '.join(stage_names())}" in res.stdout


def tiny_corpus(tmp_path: Path) -> Path:
    members = {f"0301/hep-th030100{i}.gz": gz(DOC % f"paper {i}: $$x^{i}$$") for i in range(1, 4)}
    return bulk_tar(tmp_path / "arXiv_src_0301_001.tar", members)


def test_prepare_writes_into_the_run_folder_relative_to_cwd(tmp_path):
    tar = tiny_corpus(tmp_path)
    res = pipeline("stage=prepare", "run=t1", "paths.outputs=outs", f"data.sources=[{tar}]", "data.metadata=[]",
                   "experiment=tiny", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "outs" / "t1"
    stats = json.loads((run / "prepared" / "stats.json").read_text())["ingest"]
    assert stats["papers_flattened"] == 3
    assert (run / "prepare.log").exists()  # Hydra's log lives in the run folder
    assert not (ROOT / "outs").exists()


def test_multirun_jobs_write_their_own_folders(tmp_path):
    tar = tiny_corpus(tmp_path)
    res = pipeline("-m", "stage=prepare", "run=sw", "paths.outputs=outs", f"data.sources=[{tar}]",
                   "data.metadata=[]", "prepare.workers=1,2", "prepare.progress=false", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "outs" / "sw"
    for job in ("0", "1"):
        stats = json.loads((run / "sweeps" / "prepare" / job / "prepared" / "stats.json").read_text())
        assert stats["ingest"]["papers_flattened"] == 3
    assert not (run / "prepared").exists()  # the run's own outputs are untouched


def _paper_folder(tmp_path: Path, with_metadata: bool) -> Path:
    folder = tmp_path / ("with" if with_metadata else "without")
    folder.mkdir()
    for i in range(1, 4):
        (folder / f"2301.0000{i}.gz").write_bytes(gz(DOC % f"paper {i}: $$x^{i}$$"))
    if with_metadata:
        lines = [{"id": f"2301.0000{i}", "title": f"Title {i}", "categories": "astro-ph.GA",
                  "license": "http://creativecommons.org/licenses/by/4.0/"} for i in range(1, 4)]
        (folder / "arxiv-metadata-oai-snapshot.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return folder


def test_metadata_beside_the_sources_is_found_by_default(tmp_path):
    folder = _paper_folder(tmp_path, with_metadata=True)
    # named twice, once through `..`: still read once
    res = pipeline("stage=prepare", "run=m", "paths.outputs=outs", f"data.sources=[{folder}]",
                   f"data.metadata=[{folder}/../with/arxiv-metadata-oai-snapshot.jsonl]", "experiment=tiny", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "outs" / "m"
    meta = json.loads((run / "prepared" / "stats.json").read_text())["ingest"]["metadata"]
    assert meta["papers_with_metadata"] == 3 and meta["lines_read"] == 3 and len(meta["files"]) == 1
    titles = [json.loads(line)["title"] for line in (run / "prepared" / "papers.jsonl").read_text().splitlines()]
    assert sorted(titles) == ["Title 1", "Title 2", "Title 3"]
    assert "have metadata" not in res.stdout + res.stderr


def test_papers_without_metadata_are_warned_about(tmp_path):
    folder = _paper_folder(tmp_path, with_metadata=False)
    res = pipeline("stage=prepare", "run=n", "paths.outputs=outs", f"data.sources=[{folder}]", "experiment=tiny",
                   cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    said = res.stdout + res.stderr
    assert "only 0 of 3 papers (0%) have metadata" in said and "data.metadata" in said
    meta = json.loads((tmp_path / "outs" / "n" / "prepared" / "stats.json").read_text())["ingest"]["metadata"]
    assert meta["papers_with_metadata"] == 0 and meta["fraction"] == 0.0
