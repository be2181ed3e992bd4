"""Which equations may share a TeX run: a conservative lexical denylist.

An equation may be batched only if nothing in it can change TeX's state beyond its own group in a way
the driver's after-checks (group, conditional, mode, environment, interaction level) would miss:
global assignments, definitions, catcodes, file and stream access, page and output machinery, fonts
and hooks. Anything named here sends the equation to a run of its own. Being too strict costs speed,
never correctness; undefined commands are harmless (TeX reports and drops them).
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"\\([A-Za-z]+|.)", re.S)
_ENV = re.compile(r"\\(begin|end)\s*(\{([^{}]*)\})?")

_DENY_NAMES = frozenset("""
def edef gdef xdef let futurelet global globaldefs long outer protected csname endcsname
catcode lccode uccode sfcode mathcode delcode uppercase lowercase scantokens
input include includeonly InputIfFileExists IfFileExists endinput openin openout closein closeout
read readline write immediate special shipout output mark marks vadjust insert
dump stop batchmode nonstopmode scrollmode errorstopmode interactionmode
aftergroup afterassignment begingroup endgroup
setcounter addtocounter stepcounter refstepcounter value arabic
makeatletter makeatother usepackage RequirePackage documentclass LoadClass
font fontdimen hyphenchar skewchar textfont scriptfont scriptscriptfont fontsize selectfont usefont
fontfamily fontseries fontshape fontencoding mathversion boldmath unboldmath
hyphenation patterns language setlanguage loop repeat
newpage clearpage cleardoublepage pagebreak nopagebreak enlargethispage samepage
footnote footnotemark footnotetext marginpar thanks
chardef mathchardef countdef dimendef skipdef muskipdef toksdef setbox wd ht dp
deadcycles insertpenalties pagegoal pagetotal pagestretch pagefilstretch pagefillstretch
pagefilllstretch pageshrink pagedepth prevgraf spacefactor prevdepth holdinginserts
verb url path obeylines obeyspaces dospecials
errorstopmode pausing jobname
""".split())
_DENY_PREFIXES = ("pdf", "every", "tracing", "show", "new", "renew", "provide", "Declare", "Set",
                  "AtBegin", "AtEnd", "AddTo", "Remove", "Use", "Needs", "Provides", "Execute",
                  "Process", "Option", "Pass", "input", "write", "open", "close", "save", "restore",
                  "global", "Expl", "Gen", "Package", "Class", "Hook", "Check", "Make", "Read")

# Environments a batched equation may open and close; any other \begin/\end runs alone.
BATCH_ENVS = frozenset("""
equation equation* align align* gather gather* multline multline* flalign flalign* alignat alignat*
eqnarray eqnarray* displaymath math
aligned alignedat gathered split multlined lgathered rgathered
array subarray cases cases* dcases dcases* rcases rcases* drcases drcases* matrix matrix* pmatrix
pmatrix* bmatrix bmatrix* Bmatrix Bmatrix* vmatrix vmatrix* Vmatrix Vmatrix* smallmatrix
psmallmatrix bsmallmatrix Bsmallmatrix vsmallmatrix Vsmallmatrix subequations
""".split())


def batchable(display: str) -> bool:
    """True when `display` can be judged inside a shared TeX run without risk to the others."""
    if "^^" in display:
        return False  # TeX's ^^ notation writes any character, control sequences included
    for m in _CONTROL.finditer(display):
        name = m.group(1)
        if name in _DENY_NAMES or name.startswith(_DENY_PREFIXES):
            return False
    for m in _ENV.finditer(display):
        if m.group(2) is None or m.group(3) not in BATCH_ENVS:
            return False  # `\end x`, `\end{document}`, verbatim-like or unknown environments
    return True
