"""The command line: `python -m pipeline stage=...` as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures import DOC, bulk_tar, gz

ROOT = Path(__file__).resolve().parents[1]


def pipeline(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_unknown_stage_is_one_line_listing_the_stages(tmp_path):
    res = pipeline("stage=nope", f"paths.outputs={tmp_path}")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: unknown stage 'nope'; stages: prepare, validate, topics, all"
    ]


def test_help_names_the_stages():
    res = pipeline("--help")
    assert res.returncode == 0 and "Stages: prepare, validate, topics, all" in res.stdout


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
