"""Shared helpers and fixtures.

Tests read only the repository, `../shared` and what they build themselves (in pytest's temporary
folders): never `/tmp` leftovers or `outputs/`, which earlier runs may or may not have left.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


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
