"""The equation record (`latex`, `env`, `env_arg`) and the display text it is typeset as."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Display environments a record may name; the verdict uses their starred (unnumbered) form.
DISPLAY_ENVS = ("equation", "align", "gather", "multline", "flalign", "alignat", "eqnarray", "displaymath")

# Blank space and `%` comments may stand around a wrapped display (`\end{equation}%` is common).
_AROUND = r"(?:\s|(?<!\\)%[^\n]*)*"
_WRAPPED = re.compile(r"\A%s\\begin\s*\{(?P<env>(?:%s)\*?)\}.*\\end\s*\{(?P=env)\}%s\Z"
                      % (_AROUND, "|".join(DISPLAY_ENVS), _AROUND), re.S)
_BRACKET = re.compile(r"\A%s\\\[.*\\\]%s\Z" % (_AROUND, _AROUND), re.S)


@dataclass(frozen=True)
class Equation:
    latex: str
    env: str = "equation"
    env_arg: str | int | None = None

    def __post_init__(self) -> None:
        if self.env.rstrip("*") not in DISPLAY_ENVS:
            raise ValueError(f"env '{self.env}' is not a display environment; use one of {', '.join(DISPLAY_ENVS)}")

    @property
    def display(self) -> str:
        """The exact text that stands between `\\begin{document}` and `\\end{document}`."""
        return display_text(self.latex, self.env, self.env_arg)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.display.encode("utf-8")).hexdigest()[:24]


def is_wrapped(latex: str) -> bool:
    """True when `latex` is, as a whole, one display environment (or `\\[...\\]`): typeset as it stands."""
    return bool(_WRAPPED.match(latex) or _BRACKET.match(latex))


def display_text(latex: str, env: str = "equation", env_arg: str | int | None = None) -> str:
    if is_wrapped(latex):
        return latex  # as it stands, byte for byte
    base = env.rstrip("*")
    if base == "displaymath":
        return "\\[" + latex + "\\]"
    arg = "" if env_arg is None or base != "alignat" else "{%s}" % env_arg
    # Newlines around the body so that a trailing `%` comment in the body cannot eat `\end{...}`.
    return "\\begin{%s*}%s\n%s\n\\end{%s*}" % (base, arg, latex, base)
