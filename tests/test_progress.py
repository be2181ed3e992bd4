"""Progress in a log file: a line now and then, never a flood of bar redraws."""
from __future__ import annotations

import io

from pipeline.progress import LineProgress, bar


def test_line_progress_writes_a_line_per_interval_and_one_at_the_end():
    out = io.StringIO()
    p = LineProgress(1000, "validate", "eq", interval=3600, stream=out)
    for _ in range(1000):
        p.update(1)
    assert out.getvalue() == ""  # within the interval: nothing
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("validate: 1,000/1,000 eq (100%)") and "done in" in lines[0]
    out = io.StringIO()
    p = LineProgress(10, "train", "step", interval=0, stream=out, initial=4)
    p.n = 6
    p.set_postfix_str("loss 1.234")
    p.refresh()
    assert "train: 6/10 step (60%)" in out.getvalue() and "loss 1.234" in out.getvalue() and "left" in out.getvalue()


def test_a_bar_off_a_terminal_is_a_line_progress(capsys):
    b = bar(5, "extract", "paper")  # pytest captures stderr: not a terminal
    assert isinstance(b, LineProgress)
    b.update(5)
    b.close()
    assert capsys.readouterr().err.count("\n") == 1
    quiet = bar(5, "extract", "paper", enabled=False)
    quiet.update(5)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_a_line_is_due_only_when_its_interval_has_passed():
    """What goes into a line (the training loss, read from a GPU) is computed only when it is due."""
    out = io.StringIO()
    assert LineProgress(10, "t", interval=0.0, stream=out).due()
    assert not LineProgress(10, "t", interval=3600.0, stream=out).due()
    assert not LineProgress(10, "t", interval=0.0, silent=True, stream=out).due()
