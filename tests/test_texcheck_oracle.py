"""Fast mode against reference mode on a seeded sample of the shared corpus' labelled equations."""
import json
import random
from pathlib import Path

import pytest

from pipeline.texcheck import Equation, Preamble, check

LABELS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "extra" / "hepth2003_compile_labels.jsonl"


@pytest.mark.slow
@pytest.mark.corpus
def test_fast_equals_reference_on_labelled_sample():
    rows = [json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines()]
    sample = random.Random(2003).sample(rows, 100)
    eqs = [Equation(r["latex"]) for r in sample]
    fast = check(eqs, Preamble(), mode="fast", workers=2, use_cache=False)
    ref = check(eqs, Preamble(), mode="reference", workers=2, use_cache=False)
    assert [(r["hash"], f, g) for r, f, g in zip(sample, fast, ref) if f != g] == []
