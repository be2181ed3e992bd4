"""Sharded prepare: shards through Hydra's launcher, merged into the files one unsharded run makes."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from pipeline.sources.discover import Unit, discover
from pipeline.sources.shards import shard_of, slice_of
from tests.arxiv_files import bulk_tar
from tests.conftest import CORPUS, ROOT, run_pipeline

MERGED = ["vocab.json", "equations.jsonl", "papers.jsonl", "skipped.jsonl", "tokens/meta.json",
          "tokens/paper_ids.json", *(f"tokens/{s}.{x}" for s in ("train", "val", "test")
                                     for x in ("bin", "idx.npy", "papers.npy"))]


def test_a_units_shard_depends_on_its_key_alone(tmp_path):
    tars = []
    for i in range(12):
        (tmp_path / f"arXiv_src_03{i:02d}_001.tar").write_bytes(b"")
        tars.append(tmp_path / f"arXiv_src_03{i:02d}_001.tar")
    units = discover(tars[:8])
    more = discover(tars)  # sources added later
    for n in (2, 3, 7):
        slices = [slice_of(units, i, n) for i in range(n)]
        assert sorted((u.key for s in slices for u in s)) == sorted(u.key for u in units)  # each unit in one shard
        for i in range(n):  # adding sources moves no unit already placed
            assert {u.key for u in slices[i]} <= {u.key for u in slice_of(more, i, n)}
    assert len({shard_of(u.key, 4) for u in more}) > 1
    # the same on every machine and Python (not hash(), which is salted per process)
    assert shard_of("arXiv_src_0301_001-0123456789", 1000) == 979


def _shard(tar: Path) -> int:
    return shard_of(Unit("bulk_tar", [tar]).key, 2)


def _sources(tmp_path: Path) -> list[Path]:
    """Two shared bulk tars of each of 2 shards, and a bulk tar of our own holding a new paper and a copy
    of a paper from a tar of the other shard: an id repeated across units and across shards."""
    tars = sorted((CORPUS / "arxiv").glob("arXiv_src_*.tar"))
    ours = tmp_path / "arXiv_src_2301_001.tar"
    ours.write_bytes(b"")  # a unit's key (and so its shard) is its kind and path: known before its contents
    by_shard = {i: [t for t in tars if _shard(t) == i][:2] for i in (0, 1)}
    original = by_shard[1 - _shard(ours)][0]
    with tarfile.open(original) as tar:
        member = next(m for m in tar if m.isfile())
        copy = tar.extractfile(member).read()
    bulk_tar(ours, {member.name: copy, "2301/2301.99999.gz": _gz_doc()})
    return [*by_shard[0], *by_shard[1], ours]


def _gz_doc() -> bytes:
    from tests.arxiv_files import DOC, gz

    return gz(DOC % "A new paper. \\begin{equation} \\int_0^1 f(x)\\,dx = F(1) - F(0) \\end{equation}")


def _prepare(tmp_path: Path, *args: str):
    return run_pipeline("stage=prepare", "paths.outputs=outs", "prepare.progress=false", *args, cwd=tmp_path,
                        timeout=600)


@pytest.mark.slow
@pytest.mark.corpus
def test_two_shards_through_the_launcher_merge_into_the_unsharded_files(tmp_path):
    sources = _sources(tmp_path)
    data = f"data.sources=[{','.join(map(str, sources))}]"
    one = _prepare(tmp_path, "run=one", data)
    assert one.returncode == 0, one.stderr[-3000:]

    # the merge refuses, naming the shards to run, before they exist
    early = _prepare(tmp_path, "run=two", data, "prepare.num_shards=2")
    assert early.returncode == 2
    assert "shards 0, 1" not in early.stderr and ": 0, 1." in early.stderr and "prepare.shard=0,1" in early.stderr

    # the two shards as one sweep through Hydra's submitit launcher (local processes here, SLURM on a cluster)
    sweep = run_pipeline("-m", "stage=prepare", "run=two", "paths.outputs=outs", "prepare.progress=false", data,
                         "prepare.num_shards=2", "prepare.shard=0,1", "hydra/launcher=submitit_local", cwd=tmp_path,
                         timeout=600)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    run = tmp_path / "outs" / "two"
    shards = [json.loads((run / "prepared" / "shards" / f"{i}-of-2" / "shard.json").read_text()) for i in (0, 1)]
    assert all(s["units"] for s in shards) and not set(shards[0]["units"]) & set(shards[1]["units"])
    assert not (run / "prepared" / "papers.jsonl").exists()  # shards make no corpus-wide file

    merge = _prepare(tmp_path, "run=two", data, "prepare.num_shards=2")
    assert merge.returncode == 0, merge.stderr[-3000:]
    for name in MERGED:
        a, b = tmp_path / "outs" / "one" / "prepared" / name, run / "prepared" / name
        assert a.read_bytes() == b.read_bytes(), name
    stats = [json.loads((tmp_path / "outs" / r / "prepared" / "stats.json").read_text()) for r in ("one", "two")]
    for key in ("papers_found", "selection", "papers_flattened", "skipped", "by_source_kind", "metadata"):
        assert stats[0]["ingest"][key] == stats[1]["ingest"][key], key
    assert stats[1]["ingest"]["papers_duplicated_across_units"] == 1 and stats[1]["ingest"]["skipped"]["duplicate_id"] == 1
    ids = [json.loads(line)["id"] for line in (run / "prepared" / "papers.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) and "2301.99999" in ids and len(ids) > 40
    assert stats[1]["extract"]["equations_kept"] > 1000

    # a shard redone with other settings than the merge's is refused, by number
    stale = _prepare(tmp_path, "run=two", data, "prepare.num_shards=2", "prepare.shard=1", "prepare.max_tokens=300")
    assert stale.returncode == 0, stale.stderr[-3000:]
    refused = _prepare(tmp_path, "run=two", data, "prepare.num_shards=2")
    assert refused.returncode == 2 and "settings: 1. Run them" in refused.stderr, refused.stderr


@pytest.mark.parametrize("args, says", [
    (["prepare.num_shards=2", "prepare.shard=2"], "prepare.shard=2: give a shard from 0 to 1"),
    (["prepare.num_shards=0"], "prepare.num_shards=0: give a whole number"),
])
def test_bad_shard_settings_are_refused(tmp_path, args, says):
    res = run_pipeline("stage=prepare", "paths.outputs=outs", f"data.sources=[{tmp_path}]", *args, cwd=tmp_path)
    assert res.returncode == 2 and says in res.stderr, res.stderr[-2000:]


def test_the_slurm_launcher_config_composes():
    res = run_pipeline("stage=prepare", "hydra/launcher=slurm", "prepare.num_shards=4", "hydra.launcher.partition=gpu",
                       "--cfg", "hydra", "-p", "hydra.launcher", cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "SlurmLauncher" in res.stdout and "cpus_per_task: 16" in res.stdout and "partition: gpu" in res.stdout
