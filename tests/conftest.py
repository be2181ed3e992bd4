"""Shared helpers and fixtures.

Tests read only the repository, `../shared` and what they build themselves (in pytest's temporary
folders): never `/tmp` leftovers or `outputs/`, which earlier runs may or may not have left.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def run_pipeline(*args: str, cwd: Path = ROOT, timeout: int = 300,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` as a user runs it, from `cwd`; output captured as text."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


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
    res = run_pipeline("stage=prepare", "run=t", f"paths.outputs={outputs}", f"validate.cache_dir={outputs}/.cache",
                       "prepare.progress=false", timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    return outputs / "t"
