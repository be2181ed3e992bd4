"""`python -m pipeline stage=validate`: files in, verdicts and summary out, through the real CLI."""
import json

from tests.conftest import run_pipeline


def run_stage(*overrides):
    return run_pipeline("stage=validate", *overrides)


def test_validates_a_file_in_order_with_bad_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"latex": "a &= b \\\\ c &= d", "env": "align", "id": "A"}),
        "this is not json",
        json.dumps({"id": "no latex here"}),
        json.dumps({"latex": "\\frac{a", "id": "B"}),
        json.dumps({"latex": "\\begin{equation}x\\end{equation}", "id": "C"}),
        json.dumps({"latex": "x", "env": "itemize", "id": "D"}),
    ]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    res = run_stage(f"validate.input={src}", f"validate.output={out}", f"paths.outputs={tmp_path / 'o'}")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["compiles"] for r in rows] == [True, False, False, False, True, False]
    assert [r.get("id") for r in rows] == ["A", None, "no latex here", "B", "C", "D"]
    assert "in.jsonl:2: not JSON" in rows[1]["error"] and "in.jsonl:3: no string field" in rows[2]["error"]
    assert rows[3]["error"].startswith("File ended while scanning use of")
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert summary["count"] == 6 and summary["compiled"] == 2 and summary["bad_lines"] == 3
    assert summary["pdftex_version"] and summary["texlive_version"].startswith("TeX Live")
    assert summary["mode"] == "fast" and summary["top_errors"][0]["count"] == 1
    # again: every verdict now comes from the cache, and the output is the same
    first = out.read_text()
    res = run_stage(f"validate.input={src}", f"validate.output={out}", f"paths.outputs={tmp_path / 'o'}")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "out.jsonl.summary.json").read_text())["cached"] == 3
    assert out.read_text() == first


def test_missing_run_equations_warn_and_exit_zero(tmp_path):
    res = run_stage(f"paths.outputs={tmp_path}", "run=empty")
    assert res.returncode == 0
    assert "prepared/equations.jsonl does not exist" in res.stderr + res.stdout


def test_reference_mode_and_user_preamble(tmp_path):
    pre = tmp_path / "pre.tex"
    pre.write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\newcommand{\\R}{\\mathbb{R}}\n")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"latex": "\\R"}) + "\n" + json.dumps({"latex": "\\bm{x}"}) + "\n")
    for mode in ("reference", "fast"):
        out = tmp_path / f"{mode}.jsonl"
        res = run_stage(f"validate.input={src}", f"validate.output={out}", f"validate.mode={mode}",
                        f"tex.preamble_file={pre}", "validate.cache=false", f"paths.outputs={tmp_path / 'o'}")
        assert res.returncode == 0, res.stderr
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        # \mathbb needs amssymb, \bm needs bm: neither is in this preamble
        assert [r["compiles"] for r in rows] == [False, False]
