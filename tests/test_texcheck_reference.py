"""The reference mode, the verdict's definition: one whole document per equation, real pdflatex."""
import os
import tempfile
from pathlib import Path

import pytest

from pipeline.texcheck import Equation, Preamble, check
from pipeline.texcheck.reference import check_reference

P = Preamble()


def ref(latex, env="equation", env_arg=None, timeout_s=10.0):
    return check_reference(P, Equation(latex, env, env_arg).display, timeout_s)


def test_compiles_and_first_error():
    assert ref("x^2+y^2").compiles
    v = ref("\\nosuchmacro x")
    assert not v.compiles and v.error.startswith("Undefined control sequence. | l.5 ")


def test_needs_mathtools_and_bm():
    for body in ("a \\coloneqq \\bm{b}", "\\begin{dcases} a & b \\end{dcases}"):
        assert ref(body).compiles
        assert not check_reference(Preamble(packages=("amsmath",)), Equation(body).display, 10).compiles


def test_aligned_body_judged_in_its_own_environment():
    assert ref("a &= b \\\\ c &= d", "align").compiles
    assert not ref("a &= b \\\\ c &= d", "equation").compiles
    assert ref("\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}", "equation").compiles
    assert ref("a & b & c & d", "alignat", 2).compiles


@pytest.mark.parametrize("hostile", [
    "\\input{/etc/passwd}",
    "\\makeatletter\\@@input /etc/passwd \\makeatother",
    "\\newread\\r\\openin\\r=/etc/hostname \\read\\r to\\x \\x",
    "\\immediate\\write18{touch /tmp/texcheck_pwned}",
    "\\newwrite\\w\\immediate\\openout\\w=/tmp/texcheck_pwned.tex \\immediate\\write\\w{x}",
    "\\newwrite\\w\\immediate\\openout\\w=../texcheck_pwned.tex \\immediate\\write\\w{x}",
])
def test_hostile_input_cannot_touch_files(hostile, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # TeX's folder is made in here
    v = ref(hostile)
    assert not os.path.exists("/tmp/texcheck_pwned") and not os.path.exists("/tmp/texcheck_pwned.tex")
    assert not os.path.exists(tmp_path / "texcheck_pwned.tex")  # `..` from TeX's folder
    assert list(tmp_path.iterdir()) == [], "temporary files left behind"
    if "passwd" in hostile or "hostname" in hostile:
        assert not v.compiles  # the file could not be read


def test_reads_never_wait_on_stdin():
    v = ref("\\errorstopmode\\read-1 to\\x \\undefinedthing")
    # had TeX waited for terminal input, the run would have ended at the time limit instead
    assert not v.compiles and "time limit" not in v.error


def test_timeout_kills_endless_loop():
    v = ref("\\def\\x{\\x}\\x", timeout_s=2)
    assert not v.compiles and "time limit" in v.error
    assert tex_children() == []  # the whole process group was killed and reaped


def tex_children():
    """TeX processes whose parent is this test process."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and "tex" in fields.get("Name", ""):
            found.append(status.parent.name)
    return found


def test_check_reference_mode_keeps_order():
    vs = check([Equation("x"), Equation("\\frac{a"), Equation("y")], P, mode="reference", workers=2)
    assert [v.compiles for v in vs] == [True, False, True]
