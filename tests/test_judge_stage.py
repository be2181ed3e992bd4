"""The judge and classify stages through the command line, on the tiny run: figures or a reason for
each, pairs for the quiz, topics of an equation, and clear refusals of malformed equations."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_pipeline


@pytest.mark.slow  # the stages through the CLI
def test_the_judge_writes_every_setting_and_says_why_a_figure_is_missing(tiny_judged):
    outputs, common = tiny_judged
    j = json.loads((outputs / "judged" / "judge" / "summary.json").read_text())
    assert {"real_vs_real", "easy_fake", "settings", "which_field", "main", "inputs"} <= set(j)
    assert set(j["settings"]) == {"syntax-aware, T=1.0", "plain, T=1.0", "syntax-aware, T=0.7", "syntax-aware, T=1.2"}
    assert set(j["easy_fake"]) == {"plain, T=1.5", "unigram draws"}
    # the tiny run has two test papers: too few for folds grouped by paper, and it says so
    for res in [j["real_vs_real"], *j["easy_fake"].values(), *j["settings"].values()]:
        assert "accuracy" in res or "papers" in res["error"]
    wf = j["which_field"]
    assert wf["n"] == j["n_real"] and 0 <= wf["model"]["accuracy"] <= 1 and wf["topics"] == 3
    pairs = [json.loads(x) for x in (outputs / "judged" / "judge" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == j["n_real"] and all(p["real"]["latex"] and "latex" in p["generated"] for p in pairs)
    assert all(p["paper"] and p["topic"] for p in pairs)
    r = run_pipeline("stage=judge", "run=judged", *common)
    assert r.returncode == 0 and "judge: reused" in r.stdout + r.stderr


@pytest.mark.slow
def test_classify_names_the_top_topics_and_refuses_what_it_cannot_judge(tiny_judged, tmp_path):
    outputs, common = tiny_judged
    r = run_pipeline("stage=classify", "run=judged", *common, 'classify.latex="x^{2}+y^{2}=1"')
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [x for x in r.stdout.splitlines() if "%  topic" in x]
    assert len(lines) == 3 and abs(sum(float(x.split("%")[0]) for x in lines) - 100) < 0.5  # 3 topics in all
    for latex, what in (('" "', "empty"), (r'"\frac{a}{"', "still open"), ('"x^{2}^{3}"', "not allowed"),
                        (r'"\qqq \www \eee \rrr x"', "not in the model's vocabulary")):
        r = run_pipeline("stage=classify", "run=judged", *common, f"classify.latex={latex}")
        assert r.returncode == 2 and what in r.stderr and "Traceback" not in r.stderr, (latex, r.stderr[-500:])
    src = tmp_path / "eqs.jsonl"
    src.write_text('{"id": "a", "latex": "a+b=c"}\n{"id": "b", "latex": "x^{2}^{3}"}\nE=mc^{2}\n')
    r = run_pipeline("stage=classify", "run=judged", *common, f"classify.input={src}")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(x) for x in (tmp_path / "eqs.jsonl.topics.jsonl").read_text().splitlines()]
    assert [x["id"] for x in rows] == ["a", "b", 3] and "error" in rows[1] and len(rows[2]["top"]) == 3
    r = run_pipeline("stage=classify", "run=judged", *common)
    assert r.returncode == 2 and "classify.latex" in r.stderr
