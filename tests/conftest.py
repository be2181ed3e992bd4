"""Shared helpers and fixtures.

Tests read only the repository, `../shared` and what they build themselves (in pytest's temporary
folders): never `/tmp` leftovers or `outputs/`, which earlier runs may or may not have left.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


# Fixtures that build from ../shared/corpus: a test using one (directly or through another fixture)
# is a `corpus` test.
CORPUS_FIXTURES = frozenset({"tiny_run", "tiny_trained", "tiny_judged", "prepared_corpus", "validated_corpus"})


def pytest_collection_modifyitems(config, items) -> None:
    """Mark the tests that need the shared corpus `corpus`, and skip them (saying why) where it is
    absent; every other test runs in a clone with no ../shared at all."""
    present = CORPUS.is_dir()
    for item in items:
        if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)
        if not present and item.get_closest_marker("corpus") is not None:
            item.add_marker(pytest.mark.skip(reason=f"needs the shared corpus ({CORPUS}), which is not present"))


def run_pipeline(*args: str, cwd: Path = ROOT, timeout: int = 300, env: dict[str, str] | None = None,
                 clean_env: bool = False) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` as a user runs it, from `cwd`; output captured as text. `env` adds
    to this process's environment (or, with `clean_env`, is all of it besides PYTHONPATH)."""
    full_env = {**({} if clean_env else os.environ), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def default_config(*overrides: str):
    """The app's configuration composed from conf/ (the defaults users run with)."""
    from pipeline.config import compose

    return compose(list(overrides))


def ingest_settings(workers: int = 1, **limits):
    """prepare's ingest settings from the default config, one worker, no bar; `limits` override."""
    from pipeline.stages.prepare import ingest_settings as build

    s = build(default_config())
    return replace(s, limits=replace(s.limits, **limits), workers=workers, progress=False)


def dataset_settings(**kw):
    """prepare's extraction settings from the default config, one worker, no bar; `kw` override."""
    from pipeline.stages.prepare import dataset_settings as build

    return replace(build(default_config()), workers=1, progress=False, **kw)


@pytest.fixture(scope="session")
def known(tmp_path_factory) -> dict[str, int | None]:
    """The fixed preamble's known commands, asked of TeX in a folder of this session."""
    from pipeline.texcheck.known import known_commands
    from pipeline.texcheck.preamble import Preamble

    return known_commands(Preamble(), tmp_path_factory.mktemp("known"))


# Seven real documents of the shared corpus (lecture notes, papers) in every split: a run small
# enough for tests to prepare, fit topics on and train a 2x32 network on in seconds.
TINY_DOCS = ["camnotes_IA_M_groups", "openintro_ch_probability", "gh_alekseygenerozov_SMBH_env", "napkin_topology",
             "gh_mayeechen_value-of-data", "napkin_calculus", "msc-viterbo_Rudolf2022-billiard-characterization"]


def copy_run(outputs: Path, name: str, parts: tuple[str, ...], source: str = "tiny") -> None:
    """Run folder `name` with `parts` (prepared, topics, train...) copied from run `source`."""
    for part in parts:
        shutil.copytree(outputs / source / part, outputs / name / part, dirs_exist_ok=True)


def kill_resume_and_compare(outputs: Path, whole: str, killed: str, overrides: list[str], timeout: int = 300) -> None:
    """Train run `killed` (its inputs copied already), SIGKILLed after step 25 (its last checkpoint
    is step 20's, mid-epoch), then again: it resumes and ends with run `whole`'s metrics and curves."""
    r = run_pipeline("stage=train", f"run={killed}", *overrides,
                     "+callbacks.killer._target_=tests.crash_callbacks.KillAtStep", "+callbacks.killer.step=25",
                     timeout=timeout)
    assert r.returncode == -9
    train = outputs / killed / "train"
    assert (train / "checkpoints" / "last.ckpt").exists() and not (train / "model.pt").exists()
    r = run_pipeline("stage=train", f"run={killed}", *overrides, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming from" in r.stdout + r.stderr
    a, b = (json.loads((outputs / n / "train" / "metrics.json").read_text()) for n in (whole, killed))
    for m in (a, b):
        m.pop("train_seconds_this_call")
    assert b == a
    curves = [(outputs / n / "train" / "curves" / "metrics.csv").read_text() for n in (whole, killed)]
    assert curves[0] == curves[1]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """(outputs folder, the overrides of the tiny run) with prepare, validate and topics done (run=tiny)."""
    if not (CORPUS / "folders").exists():
        pytest.skip("shared corpus not present")
    outputs = tmp_path_factory.mktemp("outputs")
    sources = "[" + ",".join(str(CORPUS / "folders" / d) for d in TINY_DOCS) + "]"
    common = [f"paths.outputs={outputs}", "experiment=tiny", f"data.sources={sources}",
              f"data.metadata=[{CORPUS / 'folders' / 'metadata.jsonl'}]", f"tex.cache_dir={outputs}/.cache"]
    for stage in ("prepare", "validate", "topics"):
        r = run_pipeline(f"stage={stage}", "run=tiny", *common)
        assert r.returncode == 0, r.stderr[-2000:]
    return outputs, common


@pytest.fixture(scope="session")
def tiny_trained(tiny_run) -> tuple[Path, list[str]]:
    """The tiny run with a trained 2x32 model too (run=trained)."""
    outputs, common = tiny_run
    copy_run(outputs, "trained", ("prepared", "validate", "topics"))
    r = run_pipeline("stage=train", "run=trained", *common)
    assert r.returncode == 0, r.stderr[-2000:]
    return outputs, common


TINY_SAMPLE = ["sample.n=6", "sample.grid.n=12", "sample.grid.temperatures=[0.7,1.0]", "sample.context_n=2",
               "sample.context_examples=[group element,probability random variable]"]


@pytest.fixture(scope="session")
def tiny_judged(tiny_trained) -> tuple[Path, list[str]]:
    """The trained tiny run sampled and judged too (run=judged)."""
    outputs, common = tiny_trained
    copy_run(outputs, "judged", ("prepared", "validate", "topics", "train"), source="trained")
    for stage in ("sample", "judge"):
        r = run_pipeline(f"stage={stage}", "run=judged", *common, *TINY_SAMPLE)
        assert r.returncode == 0, r.stderr[-2000:]
    return outputs, common


@pytest.fixture(scope="session")
def prepared_corpus(tmp_path_factory) -> Path:
    """The shared corpus prepared with the default config, once per session (about a minute):
    the run folder (`.../t`), holding `prepared/`."""
    if not (CORPUS / "arxiv").exists():
        pytest.skip("shared corpus not present")
    outputs = tmp_path_factory.mktemp("outputs")
    res = run_pipeline("stage=prepare", "run=t", f"paths.outputs={outputs}", f"tex.cache_dir={outputs}/.cache",
                       "prepare.progress=false", timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    return outputs / "t"


@pytest.fixture(scope="session")
def validated_corpus(prepared_corpus) -> Path:
    """The prepared shared corpus with the validate stage run too (a few minutes with no cache)."""
    outputs = prepared_corpus.parent
    res = run_pipeline("stage=validate", "run=t", f"paths.outputs={outputs}", f"tex.cache_dir={outputs}/.cache",
                       "validate.progress=false", timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    return prepared_corpus
