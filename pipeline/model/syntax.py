"""Syntax-aware decoding: the LaTeX a sampler may still write, tracked for a whole batch in tensors.

At every step `Grammar.allowed(state)` gives a [B, V] mask of the tokens that keep each sequence on
its way to LaTeX that compiles; the sampler gives every other token zero probability before
temperature and top-k/top-p. The rules (docs/sample.md):

- the first token is a display environment's token (`<env:align>`); `<pad>`, `<bos>`, `<unk>` never;
- braces, `\\begin{X}`/`\\end{X}`, `\\left`/`\\right` (`\\middle` only inside them) and optional
  `[...]` arguments nest properly: each opener pushes a frame, a closer must match the innermost;
- `&` and `\\\\` only where the innermost frame allows them: the display environment or an inner
  environment that uses them in the training equations (aligned, array, cases, pmatrix...), or a
  command argument that does (`\\substack{a\\\\b}`); so braces and `\\left..\\right` never span them;
- a command owes its arguments (`\\frac` two, `\\sqrt` one after an optional `[..]`, `^` and `_` one):
  until paid, only `{` or a single-token argument (`\\frac12`, `\\hat x`) may follow;
- no double superscript or subscript: after `x^a` no `^` and no `'` (`x^a'` is one), after `x_a`
  no `_`, until a new atom starts;
- text-mode arguments (`\\text{..}`, `\\mbox{..}`) hold only what training text arguments hold, and
  `$..$` inside them is math again;
- `<eos>` only when nothing is open and nothing is owed; near the length limit only tokens that
  close what is open are allowed, so a maximum length closes instead of cutting.

Argument counts come from the validate stage's known-commands list where it has them; where it has
none, from the training equations (a command takes k arguments when every training use is followed
by k arguments, most of them braced) and a small reviewed table (OVERRIDES). Which frames allow `&`
and `\\\\`, and the tokens of text arguments, are read off the training equations too
(`derive_rules`), so the rules never forbid what real, compiling mathematics does (tested:
teacher-forced over the real test equations).
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from pipeline.latex.equations import DISPLAY_ENVS
from pipeline.latex.normalise import TEXT_COMMANDS
from pipeline.latex.tokenizer import DELIMITER_WORDS, Vocabulary, parse_env_token

# token classes
(C_FORBID, C_EOS, C_ENV, C_ATOM, C_LBRACE, C_RBRACE, C_BEGIN, C_END, C_LEFT, C_RIGHT, C_MIDDLE, C_AMP, C_NL,
 C_SUP, C_SUB, C_PRIME, C_CMD, C_LBRACK, C_RBRACK, C_DOLLAR, C_SPACE, C_BAREDIM) = range(22)

# frame kinds: 0..E-1 are environments (display and inner); then these (offset by E). The DIM_*
# and SPEC_* kinds are the states of two small automata: a dimension (`-0.5em`, `2\\arraycolsep`)
# and a column specification (`c|l@{\\,}p{2cm}*{3}{c}`).
SPECIAL_KINDS = ("brace", "brace_nl", "brace_all", "text", "left", "optional", "inline",
                 "spec0", "spec", "spec_p", "spec_at", "spec_star", "spec_star2", "spec_inner", "spec_count0",
                 "spec_count", "spec_count2",
                 "dim", "dim_sign", "dim_int", "dim_dot", "dim_frac", "dim_up", "dim_ue", "dim_um", "dim_uc",
                 "dim_ui", "dim_ub", "dim_ud", "dim_us", "dim_end",
                 "dim_mu", "dim_mu_sign", "dim_mu_int", "dim_mu_dot", "dim_mu_frac", "dim_mu_u",
                 "dim_int2", "dim_mu_int2")
# Units of a dimension, first letter -> second letters. `mu` is the one unit of a math dimension
# (`\mkern`, `\mskip`: the dim_mu states) and no other takes it ("Illegal unit of measure").
UNITS = {"p": "tc", "e": "mx", "m": "m", "c": "mc", "i": "n", "b": "p", "d": "d", "s": "p"}
MU_DIM = frozenset({"\\mkern", "\\mskip"})
# Commands written with a star before their arguments (`\\hspace*{1em}`).
STARRED = frozenset({"hspace", "vspace"})

# pending kinds: what the owed argument belongs to
P_NONE, P_CMD, P_SUP, P_SUB, P_DELIM = range(5)

# Environments whose argument is a column specification, and commands whose (first) argument is a
# dimension: their arguments hold only the tokens training arguments of that kind hold.
SPEC_ENVS = frozenset("array subarray tabular alignedat alignat".split())
# Tokens that cannot stand alone as an argument (`x^\\,`, `x_\\dots` fail: they are macros that
# expand to more than one token): spacing and dots. Reviewed by hand.
NOT_ALONE = frozenset("\\" + n for n in (
    ", ; : ! > quad qquad enspace thinspace medspace thickspace negthinspace negmedspace negthickspace hfill "
    "hspace dots ldots cdots vdots ddots dotsc dotsb dotsm dotsi dotso mathellipsis colon "
    "tiny scriptsize footnotesize small normalsize large Large LARGE huge Huge").split()) | {"\\ ", "~"}
# At most this many `&` a row (amsmath's limits; the training equations may raise them, never lower).
MAX_AMPS = {"eqnarray": 2, "cases": 1, "dcases": 1, "rcases": 1, "split": 1,
            **{m: 9 for m in ("matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix psmallmatrix bsmallmatrix "
                              "Bsmallmatrix vsmallmatrix Vsmallmatrix").split()}}

# Display environments that have no columns: `&` never at their level (a training equation that
# seems to have one there is misread, not evidence). Reviewed by hand.
NO_AMP = frozenset("equation displaymath gather multline".split())

# Row separators of alignments.
ROW_ENDS = frozenset(["\\\\", "\\cr", "\\crcr"])
# Never written by the sampler, whatever the training equations hold: TeX programming and document
# structure, not mathematics (a compiling equation has them only in balanced pairs, e.g. \\ifmmode..\\fi).
NEVER = frozenset("\\" + n for n in (
    "fi else or if ifx ifnum ifdim ifodd ifmmode ifvmode ifhmode ifinner ifcase iftrue iffalse ifcat csname "
    "endcsname expandafter noexpand def edef gdef xdef let futurelet global long outer par endinput input "
    "include begin end item newline linebreak pagebreak newpage clearpage mathchar mathchoice").split())
# Commands followed by a dimension without braces (`\\hskip 2em`, `\\mkern-3mu`).
BARE_DIM = frozenset("\\" + n for n in "hskip vskip kern mkern mskip".split())

# Sized delimiters written without their delimiter in one token (`\\big` then `\\langle`).
BARE_SIZED = frozenset("\\" + s + x for s in ("big", "Big", "bigg", "Bigg") for x in ("", "l", "r", "m"))
DIM_COMMANDS = frozenset("hspace vspace rule raisebox".split())

# Commands whose braced arguments are typeset in text (LR) mode, besides normalise's TEXT_COMMANDS.
TEXT_ARGS = frozenset("parbox scalebox raisebox makebox framebox colorbox resizebox reflectbox rotatebox".split())

# Reviewed by hand: (mandatory arguments, accepts an optional [..] first). Commands TeX reads
# arguments for but the known-commands list cannot count (robust or primitive-based ones).
OVERRIDES: dict[str, tuple[int, bool]] = {
    **{c: (1, False) for c in (
        "hat widehat tilde widetilde bar vec dot ddot dddot breve check acute grave mathring overline underline "
        "overbrace underbrace overrightarrow overleftarrow overleftrightarrow underrightarrow underleftarrow "
        "mathrm mathbf mathit mathsf mathtt mathcal mathbb mathfrak mathscr mathnormal boldsymbol bm pmb "
        "operatorname text textrm textbf textit textsf texttt textnormal textup textsl textsc textmd emph mbox hbox "
        "fbox boxed phantom vphantom hphantom smash mathop mathrel mathbin mathord mathopen mathclose mathpunct "
        "mathinner substack pmod pod").split()},
    **{c: (2, False) for c in "frac dfrac tfrac cfrac binom dbinom tbinom stackrel overset underset".split()},
    "sqrt": (1, True), "xrightarrow": (1, True), "xleftarrow": (1, True), "xleftrightarrow": (1, True),
    "xRightarrow": (1, True), "xLeftarrow": (1, True), "xmapsto": (1, True),
    "genfrac": (6, False), "sideset": (2, False), "raisebox": (2, False), "hspace": (1, False),
    "vspace": (1, False), "rule": (2, True), "makebox": (1, True), "framebox": (1, True), "parbox": (2, True),
    "left": (0, False), "right": (0, False), "middle": (0, False), "not": (0, False),
}


@dataclass
class Rules:
    """What derive_rules reads off the training equations (saved as JSON with the samples)."""

    nargs: dict[str, tuple[int, bool]]      # control word -> (mandatory args, optional first)
    env_amp: dict[str, bool]                # environment -> `&` allowed at its level
    env_nl: dict[str, bool]                 # environment -> `\\` allowed at its level
    env_args: dict[str, tuple[int, bool]]   # environment -> arguments after \begin{X} (array's {cc})
    arg_nl: set[str]                        # commands whose braced arguments allow `\\`
    arg_amp: set[str]                       # ... and `&`
    text_tokens: set[str]                   # tokens seen at the level of a text argument
    arg_text: set[str]                      # commands whose braced arguments hold text (`\\scalebox{..}{$x$}`)
    seen: set[str]                          # every token of the (compiling) training equations
    spec_tokens: set[str]                   # tokens of environment arguments (array's column spec)
    dim_tokens: set[str]                    # tokens of dimension arguments (\\hspace{..})
    unbraced: set[str]                      # tokens used as an unbraced argument (`x^\\alpha`, `\\hat x`)
    delims: set[str]                        # tokens after a bare `\\left`, `\\big`...: delimiters
    max_amps: dict[str, int]                # environment -> most `&` in one of its rows
    seen_math: set[str]                     # tokens of the training equations in math (not in text)
    limits_after: set[str]                  # tokens `\\limits`/`\\nolimits` follow (operators)
    # control sequences TeX takes as the unbraced argument of ^ or _ (`x^\\alpha`, `x^\\frac12`, not
    # `x^\\hat a` or `x^\\cong`, macros that expand to more than one token): asked of TeX by
    # `generation.probe_script_arguments`; None = not asked, every single token allowed
    script_ok: set[str] | None = None

    def to_json(self) -> str:
        return json.dumps({"nargs": {k: list(v) for k, v in sorted(self.nargs.items())},
                           "env_amp": self.env_amp, "env_nl": self.env_nl,
                           "env_args": {k: list(v) for k, v in sorted(self.env_args.items())},
                           "arg_nl": sorted(self.arg_nl), "arg_amp": sorted(self.arg_amp),
                           "text_tokens": sorted(self.text_tokens), "arg_text": sorted(self.arg_text),
                           "seen": sorted(self.seen), "spec_tokens": sorted(self.spec_tokens),
                           "dim_tokens": sorted(self.dim_tokens), "unbraced": sorted(self.unbraced),
                           "delims": sorted(self.delims), "max_amps": self.max_amps,
                           "seen_math": sorted(self.seen_math), "limits_after": sorted(self.limits_after),
                           "script_ok": sorted(self.script_ok) if self.script_ok is not None else None},
                          indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Rules":
        d = json.loads(text)
        return cls({k: tuple(v) for k, v in d["nargs"].items()}, d["env_amp"], d["env_nl"],
                   {k: tuple(v) for k, v in d["env_args"].items()}, set(d["arg_nl"]), set(d["arg_amp"]),
                   set(d["text_tokens"]), set(d["arg_text"]), set(d["seen"]), set(d["spec_tokens"]),
                   set(d["dim_tokens"]), set(d["unbraced"]), set(d["delims"]), d["max_amps"], set(d["seen_math"]),
                   set(d["limits_after"]), set(d["script_ok"]) if d.get("script_ok") is not None else None)


_SIZED = re.compile(r"\\(left|right|middle)(?:[().\[\]|/<>]|\\[{}|]|\\(?:" + "|".join(DELIMITER_WORDS) + r"))?")


def sized(tok: str) -> str | None:
    """"left", "right" or "middle" for `\\left(`, `\\right\\}`, a bare `\\middle`...; None for any
    other token (`\\rightarrow` and `\\lefteqn` are not delimiters)."""
    m = _SIZED.fullmatch(tok)
    return m.group(1) if m else None


def _name(tok: str) -> str | None:
    """The command name of a control word token (`\\frac` -> `frac`), else None."""
    return tok[1:] if len(tok) > 1 and tok[0] == "\\" and tok[1:].isalpha() else None


def _env_of(tok: str) -> tuple[str, str] | None:
    """("begin"|"end", env) of `\\begin{X}` / `\\end{X}` tokens."""
    for what in ("begin", "end"):
        pre = f"\\{what}{{"
        if tok.startswith(pre) and tok.endswith("}"):
            return what, tok[len(pre) : -1]
    return None


def _is_group_arg(tokens: Sequence[str], i: int) -> tuple[bool, int] | None:
    """At tokens[i]: (braced, index after) of one argument: a `{..}` group or a single plain token."""
    if i >= len(tokens):
        return None
    t = tokens[i]
    if t == "{":
        depth = 0
        for j in range(i, len(tokens)):
            depth += (tokens[j] == "{") - (tokens[j] == "}")
            if depth == 0:
                return True, j + 1
        return None
    if t in ("}", "&", "\\\\", "^", "_", "'", "$", " ") or t.startswith(("\\begin{", "\\end{", "<")) or sized(t):
        return None
    return False, i + 1


def derive_rules(equations: Iterable[tuple[str, Sequence[str]]], known: Mapping[str, int | None]) -> Rules:
    """Rules read off (env, body tokens) of training equations (compiling ones, when known)."""
    uses: Counter = Counter()
    braced_first: Counter = Counter()
    max_ok: dict[str, int] = {}
    opt_seen: set[str] = set()
    env_amp: dict[str, bool] = defaultdict(bool)
    env_nl: dict[str, bool] = defaultdict(bool)
    env_arg_uses: Counter = Counter()
    env_arg_braced: Counter = Counter()
    env_opt: set[str] = set()
    arg_nl: set[str] = set()
    arg_amp: set[str] = set()
    arg_text: set[str] = set(TEXT_ARGS)
    text_tokens: set[str] = set()
    seen: set[str] = set()
    spec_tokens: set[str] = set()
    dim_tokens: set[str] = set()
    unbraced_after: dict[str, set[str]] = defaultdict(set)
    seen_math: set[str] = set()
    limits_after: set[str] = set()
    delims: set[str] = set()
    max_amps: dict[str, int] = defaultdict(int)
    for env, toks in equations:
        toks = list(toks)
        seen.update(toks)
        # frames: (kind, label) kind in env/brace/text/left/opt; label = env name or the command owning the brace
        stack: list[tuple[str, str | None]] = [("env", env)]
        amps: list[int] = [0]  # `&` in the current row of each frame
        for i, t in enumerate(toks):
            kind, label = stack[-1]
            if t == "&":
                amps[-1] += 1
                if kind == "env":
                    max_amps[label] = max(max_amps[label], amps[-1])
            elif t in ROW_ENDS:
                amps[-1] = 0
            if kind not in ("text", "spec", "dim"):
                seen_math.add(t)
            if t in ("\\limits", "\\nolimits") and i:
                limits_after.add(toks[i - 1])
            if i + 1 < len(toks) and (t in BARE_SIZED or t in ("\\left", "\\right", "\\middle")):
                delims.add(toks[i + 1])
            if kind == "spec" and t not in ("{", "}"):
                spec_tokens.add(t)
            elif kind == "dim" and t not in ("{", "}"):
                dim_tokens.add(t)
            if kind == "text":
                if t not in ("{", "}", "$"):
                    text_tokens.add(t)
            if t == "$" and kind == "brace" and label:
                arg_text.add(label)  # `\scalebox{1.5}{$\cdot$}`: its argument is text
            if t in ("&", "\\\\"):
                if kind == "env":
                    (env_amp if t == "&" else env_nl)[label] = True
                elif kind == "brace" and label:
                    (arg_amp if t == "&" else arg_nl).add(label)
            name = _name(t)
            if name is not None and name not in TEXT_COMMANDS or t in ("^", "_"):
                key = name or t
                uses[key] += 1
                j, k = i + 1, 0
                if j < len(toks) and toks[j] == "[":
                    opt_seen.add(key)
                first = _is_group_arg(toks, j)
                if first is not None and first[0]:
                    braced_first[key] += 1
                elif first is not None:
                    unbraced_after[key].add(toks[j])
                while k < 6:
                    got = _is_group_arg(toks, j)
                    if got is None:
                        break
                    k, j = k + 1, got[1]
                max_ok[key] = min(max_ok.get(key, 99), k)
            if t == "{":
                prev = toks[i - 1] if i else None
                pname = _name(prev) if prev else None
                prev_env = _env_of(prev) if prev else None
                if prev_env is not None and prev_env[0] == "begin" and prev_env[1] in SPEC_ENVS:
                    stack.append(("spec", None))
                elif pname in DIM_COMMANDS:
                    stack.append(("dim", pname))
                elif pname in TEXT_COMMANDS or pname in arg_text or (kind == "text" and pname is not None):
                    stack.append(("text", pname))
                else:
                    stack.append(("brace", pname))
                amps.append(0)
            elif t == "}":
                if len(stack) > 1 and stack[-1][0] in ("brace", "text", "spec", "dim"):
                    stack.pop()
                    amps.pop()
            elif t == "$" and kind == "text":
                stack.append(("inline", None))
                amps.append(0)
            elif t == "$" and kind == "inline":
                stack.pop()
                amps.pop()
            elif (e := _env_of(t)) is not None:
                what, name_e = e
                if what == "begin":
                    stack.append(("env", name_e))
                    amps.append(0)
                    env_arg_uses[name_e] += 1
                    j = i + 1
                    if j < len(toks) and toks[j] == "[" and "]" in toks[j:]:
                        j = toks.index("]", j) + 1  # `\\begin{array}[t]{cc}`: the optional first
                    if j < len(toks) and toks[j] == "{":
                        env_arg_braced[name_e] += 1
                    if i + 1 < len(toks) and toks[i + 1] == "[":
                        env_opt.add(name_e)
                elif len(stack) > 1 and stack[-1] == ("env", name_e):
                    stack.pop()
                    amps.pop()
            elif sized(t) == "left":
                stack.append(("left", None))
                amps.append(0)
            elif sized(t) == "right" and len(stack) > 1 and stack[-1][0] == "left":
                stack.pop()
                amps.pop()
    nargs: dict[str, tuple[int, bool]] = {}
    for key, n in uses.items():
        k_known = known.get(key) if key not in ("^", "_") else 1
        if key in OVERRIDES:
            nargs[key] = OVERRIDES[key]
        elif isinstance(k_known, int) and k_known > 0:  # TeX's own count
            nargs[key] = (k_known, key in opt_seen and key not in ("^", "_"))
        elif max_ok.get(key, 0) > 0 and braced_first[key] >= 0.8 * n and n >= 3:
            nargs[key] = (1, False)  # every use has an argument, most braced: it takes one
    for key in ("^", "_"):
        nargs[key] = (1, False)
    for key, v in OVERRIDES.items():
        nargs.setdefault(key, v)

    # A group after a command is its argument only if every use of the command has one there;
    # otherwise `\\hline {$x$}` would make `\\hline` a command with a text argument.
    def always_braced(c: str) -> bool:
        return uses[c] > 0 and braced_first[c] == uses[c]

    arg_text = set(TEXT_ARGS) | {c for c in arg_text if always_braced(c)}
    arg_nl = {c for c in arg_nl if always_braced(c)}
    arg_amp = {c for c in arg_amp if always_braced(c)}
    env_args = {e: (1 if env_arg_braced[e] == env_arg_uses[e] and env_arg_uses[e] else 0, e in env_opt)
                for e in env_arg_uses}
    for e in ("array", "subarray", "alignedat", "tabular"):
        if e in env_args and env_arg_braced[e] != env_arg_uses[e]:
            env_args[e] = (0, e in env_opt)
    unbraced = set().union(*(unbraced_after[k] for k, (n, _o) in nargs.items() if n > 0 and k in unbraced_after))
    return Rules(nargs, dict(env_amp), dict(env_nl), env_args, arg_nl, arg_amp, text_tokens, arg_text, seen,
                 spec_tokens, dim_tokens, unbraced, delims & seen, dict(max_amps), seen_math, limits_after)


class Grammar:
    """Token tables for a vocabulary and rules; `start`, `allowed`, `advance`, `needed_to_close`,
    `closing`. State per sequence: a stack of frames [B, D, F] (int64), depth [B], done [B]."""

    F_KIND, F_PEND, F_PKIND, F_PCMD, F_OPT, F_SUP, F_SUB, F_ISARG, F_AMPS, F_CAP, F_OPER, F_PRIME = range(12)
    F = 12
    BIG = 1 << 20

    def __init__(self, vocab: Vocabulary, rules: Rules, max_depth: int = 24) -> None:
        self.vocab, self.rules, self.D = vocab, rules, int(max_depth)
        itos = vocab.itos
        V = len(itos)
        envs: list[str] = sorted(set(DISPLAY_ENVS) | {x[1] for t in itos if (x := _env_of(t))}
                                 | {p[0] for t in itos if (p := parse_env_token(t))})
        self.envs, E = envs, len(envs)
        self.E = E
        env_id = {e: i for i, e in enumerate(envs)}
        self.kid = {name: E + i for i, name in enumerate(SPECIAL_KINDS)}
        k = self.kid
        self.K = E + len(SPECIAL_KINDS)
        self.k_brace, self.k_text, self.k_left, self.k_opt, self.k_inline = (k["brace"], k["text"], k["left"],
                                                                             k["optional"], k["inline"])
        cls = torch.full((V,), C_ATOM, dtype=torch.long)
        nargs = torch.zeros(V, dtype=torch.long)
        opt = torch.zeros(V, dtype=torch.bool)
        env_of = torch.full((V,), -1, dtype=torch.long)
        brace_first = torch.full((V,), k["brace"], dtype=torch.long)  # kind of the first `{` owed to a token
        brace_rest = torch.full((V,), k["brace"], dtype=torch.long)   # ... and of the later ones
        delim_arg = torch.zeros(V, dtype=torch.bool)  # owes a delimiter (`\left`, `\big` without theirs)
        for i, t in enumerate(itos):
            name = _name(t)
            if t in (vocab.PAD, vocab.BOS, vocab.UNK, "#", "%") or t in NEVER:
                cls[i] = C_FORBID
            elif t == vocab.EOS:
                cls[i] = C_EOS
            elif (pe := parse_env_token(t)) is not None:
                cls[i], env_of[i] = C_ENV, env_id[pe[0]]
            elif t in ("{", "}", "&", "\\\\", "^", "_", "'", "[", "]", "$"):
                cls[i] = {"{": C_LBRACE, "}": C_RBRACE, "&": C_AMP, "\\\\": C_NL, "^": C_SUP, "_": C_SUB,
                          "'": C_PRIME, "[": C_LBRACK, "]": C_RBRACK, "$": C_DOLLAR}[t]
                nargs[i] = 1 if t in ("^", "_") else 0
                opt[i] = t == "\\\\"
            elif (e := _env_of(t)) is not None:
                cls[i], env_of[i] = (C_BEGIN if e[0] == "begin" else C_END), env_id[e[1]]
                if e[0] == "begin":
                    nargs[i], opt[i] = rules.env_args.get(e[1], (0, False))
                    if e[1] in SPEC_ENVS:
                        brace_first[i] = k["spec_count0"] if e[1].startswith("align") else k["spec0"]
            elif (sz := sized(t)) is not None:
                cls[i] = {"left": C_LEFT, "right": C_RIGHT, "middle": C_MIDDLE}[sz]
                delim_arg[i] = t in ("\\left", "\\right", "\\middle")
            elif t in BARE_SIZED:
                cls[i], nargs[i], delim_arg[i] = C_CMD, 1, True
            elif t in ("\\cr", "\\crcr"):
                cls[i] = C_NL
            elif t in BARE_DIM:
                cls[i] = C_BAREDIM
            elif t.isspace():
                cls[i] = C_SPACE
            elif name is not None:
                n, o = rules.nargs.get(name, (0, False))
                first = rest = k["brace"]
                if name in TEXT_COMMANDS or name in rules.arg_text:
                    n, first, rest = max(n, 1), k["text"], k["text"]
                if name in DIM_COMMANDS:
                    first = k["dim"]
                    rest = k["dim"] if name == "rule" else rest
                elif name in rules.arg_amp:
                    first = rest = k["brace_all"]
                elif name in rules.arg_nl:
                    first = rest = k["brace_nl"]
                brace_first[i], brace_rest[i] = first, rest
                if n > 0 or o:
                    cls[i], nargs[i], opt[i] = C_CMD, n, o
        # What cannot be closed must not be opened: a `\\begin{X}` whose `\\end{X}` the vocabulary
        # lacks, any `\\left` when it has no `\\right` (rare tokens fall below min_count).
        ends = {int(env_of[i]) for i in range(len(itos)) if cls[i] == C_END}
        for i in range(len(itos)):
            if cls[i] == C_BEGIN and int(env_of[i]) not in ends:
                cls[i] = C_FORBID
        if not bool((cls == C_RIGHT).any()):
            cls[cls == C_LEFT] = C_FORBID
        self.cls, self.nargs, self.opt, self.env_of = cls, nargs, opt, env_of
        self.brace_first, self.brace_rest, self.delim_arg = brace_first, brace_rest, delim_arg

        atoms = (cls == C_ATOM) | (cls == C_RBRACK) | (cls == C_LBRACK)
        # A single-token argument (anything but spacing and dots); after ^ and _ only what TeX takes
        # there unbraced (`script_ok`, asked of TeX; a character always).
        self.arg_atom = atoms & ~torch.tensor([t in NOT_ALONE for t in itos])
        self.script_ok = torch.tensor([rules.script_ok is None or len(t) == 1 or t in rules.script_ok for t in itos])
        self.delim_atom = atoms & (torch.tensor([t in rules.delims for t in itos])
                                   | torch.tensor([t in "()[]|./<>" and len(t) == 1 for t in itos]))
        self._build_tables(itos, cls, torch.tensor([t in rules.seen_math for t in itos]))
        self.limits_ok = torch.tensor([t in rules.limits_after for t in itos])
        self.limits_ids = torch.tensor([i for i, t in enumerate(itos) if t in ("\\limits", "\\nolimits")],
                                       dtype=torch.long)
        self.column = torch.tensor([t in ("l", "c", "r", "p", "m", "b") for t in itos])
        # An environment's arguments are braced (`\\begin{array}{cc}`): LaTeX reads a lone token as the
        # column spec (`\\begin{array}2` fails) and a `[` as the start of its optional argument.
        self.lbrace, self.lbrack = cls == C_LBRACE, cls == C_LBRACK
        self.bare_dim_kind = torch.tensor([k["dim_mu"] if t in MU_DIM else k["dim"] for t in itos])
        self.env_arg_ok = self.lbrace | (cls == C_SPACE)
        # ... and so are a dimension's (`\\hspace x` fails: TeX wants a number): the arguments read
        # by an automaton, first and later ones (set below, once the automata exist)
        self.star = torch.tensor([t == "*" for t in itos])
        self.takes_star = torch.tensor([(_name(t) or "") in STARRED for t in itos])
        self.env_tokens = cls == C_ENV
        self.eos_id = vocab.eos_id
        self.rbrack_id = vocab.stoi.get("]", -1)
        self.amp_id = vocab.stoi.get("&", -1)
        cap = torch.full((self.K,), 1 << 20, dtype=torch.long)
        for e, n in MAX_AMPS.items():
            if e in env_id:
                cap[env_id[e]] = max(n, int(rules.max_amps.get(e, 0)))
        self.amp_cap = cap
        self._build_closers(itos)
        begins = cls == C_BEGIN
        self.first_braced = begins | self.automaton[brace_first]
        self.rest_braced = begins | self.automaton[brace_rest]
        self.first_text = brace_first == self.k_text
        self.rest_text = brace_rest == self.k_text
        self.text_arg_ok = self.table[self.k_text] & (cls != C_DOLLAR) | self.lbrace | (cls == C_SPACE)
        self.only_eos = torch.arange(len(itos)) == self.eos_id
        self.only_rbrack = torch.arange(len(itos)) == self.rbrack_id
        self._vocab_ids = torch.arange(len(itos))
        self._device = torch.device("cpu")
        self._build_codes()
        self.open_margin = self._measure_open_margin()

    # --- tables: what each kind of frame allows, and the automata ---------------------------------
    def _build_tables(self, itos: list[str], cls: torch.Tensor, seen: torch.Tensor) -> None:
        k, E, K, V = self.kid, self.E, self.K, len(itos)
        rules = self.rules
        # math: everything but structure that needs a matching opener, and tokens no compiling
        # training equation has (text accents like \v, stray Unicode); a blank is harmless in math
        math_ok = ~torch.isin(cls, torch.tensor([C_FORBID, C_ENV, C_EOS, C_RBRACE, C_END, C_RIGHT, C_MIDDLE, C_AMP,
                                                 C_NL, C_DOLLAR]))
        math_ok &= seen | torch.isin(cls, torch.tensor([C_LBRACE, C_SPACE]))
        amp, nl = cls == C_AMP, cls == C_NL
        table = torch.zeros(K, V, dtype=torch.bool)
        trans = torch.arange(K).unsqueeze(1).expand(K, V).clone()  # an atom keeps the frame's kind
        child = torch.full((K,), k["brace"], dtype=torch.long)     # kind a plain `{` opens
        resume = torch.arange(K)                                   # kind a frame returns to after a child
        closes = torch.zeros(K, dtype=torch.bool)                  # `}` allowed (brace-like kinds)
        # `\\` is harmless at the top of `equation` (amsmath ignores it there), `\cr` is not: TeX's
        # own row end needs an alignment, so it goes only where `&` does
        cr = torch.tensor([t in ("\\cr", "\\crcr") for t in itos])
        for e in range(E):
            table[e] = math_ok | (cls == C_END) & (self.env_of == e)
            columns = bool(rules.env_amp.get(self.envs[e], False)) and self.envs[e] not in NO_AMP
            table[e] |= amp & columns
            table[e] |= nl & bool(rules.env_nl.get(self.envs[e], False)) & (columns | ~cr)
        for name in ("brace", "brace_nl", "brace_all"):
            table[k[name]] = math_ok | (nl & (name != "brace")) | (amp & (name == "brace_all"))
            closes[k[name]] = True
        table[k["left"]] = math_ok | (cls == C_RIGHT) | (cls == C_MIDDLE)
        # LaTeX ends an optional argument at its first `]` outside braces, whatever opened since: no
        # `[..]` (`\\sqrt[a\\sqrt[b]c]` fails) and no environment in one, unless braced
        table[k["optional"]] = math_ok & ~torch.isin(cls, torch.tensor([C_LBRACK, C_BEGIN]))
        table[k["inline"]] = math_ok | (cls == C_DOLLAR) | (cls == C_SPACE)
        # text: what training text arguments hold, any single character but TeX's specials, and
        # commands with arguments (\textup{..}): no math-only symbol
        text_cmds = TEXT_COMMANDS | TEXT_ARGS | DIM_COMMANDS
        text = torch.tensor([t in rules.text_tokens or (len(t) == 1 and t not in "^_&#%$")
                             or (_name(t) or "") in text_cmds for t in itos])
        text &= ~torch.isin(cls, torch.tensor([C_AMP, C_NL, C_SUP, C_SUB, C_FORBID, C_ENV, C_EOS, C_END, C_RIGHT,
                                                C_MIDDLE, C_BEGIN, C_LEFT]))
        table[k["text"]] = text | (cls == C_DOLLAR)
        closes[k["text"]] = True
        child[k["text"]] = k["text"]
        # the column-specification automaton
        tok_id = {t: i for i, t in enumerate(itos)}

        def tr(state: str, chars: str, to: str) -> None:
            for ch in chars:
                if ch in tok_id:
                    trans[k[state], tok_id[ch]] = k[to]
                    table[k[state], tok_id[ch]] = True

        # spec0: before the first column (`{}` and `{|}` are no column spec: "Missing # inserted")
        tr("spec0", "|", "spec0")
        tr("spec0", "lcr", "spec")
        # No `p{..}`, `m{..}`, `b{..}` columns: `m` and `b` need the array package ("Illegal character
        # in array arg") and a `p` column's cells are text, which the rules do not follow (`\\sum` in
        # one fails); no compiling training equation has one. spec_p stays for a rules file that asks.
        tr("spec0", "@!><", "spec_at")
        tr("spec0", "*", "spec_star")
        tr("spec", "lcr|", "spec")
        tr("spec", "@!><", "spec_at")
        tr("spec", "*", "spec_star")
        closes[k["spec"]] = True
        child[k["spec_p"]], resume[k["spec_p"]] = k["dim"], k["spec"]
        child[k["spec_at"]], resume[k["spec_at"]] = k["spec_inner"], k["spec"]
        # `*{n}{cols}`: a count of at least one digit, at least one column
        child[k["spec_star"]], resume[k["spec_star"]] = k["spec_count0"], k["spec_star2"]
        child[k["spec_star2"]], resume[k["spec_star2"]] = k["spec0"], k["spec"]
        for state in ("spec0", "spec", "spec_count0", "spec_count", "spec_count2") + tuple(s for s in SPECIAL_KINDS
                                                                           if s.startswith("dim")):
            child[k[state]] = -1  # no nested group there
        tr("spec_count0", "0123456789", "spec_count")
        tr("spec_count", "0123456789", "spec_count2")  # two digits at most (`*{321311}{c}` takes TeX forever)
        closes[k["spec_count2"]] = True
        closes[k["spec_count"]] = True
        table[k["spec_inner"]] = torch.tensor([t in rules.spec_tokens for t in itos]) & ~torch.isin(
            cls, torch.tensor([C_FORBID, C_EOS, C_ENV, C_RBRACE]))
        child[k["spec_inner"]] = k["spec_inner"]
        closes[k["spec_inner"]] = True
        # the dimension automaton: [sign] digits [. digits] unit, or a length register
        words = [t for t in rules.dim_tokens if _name(t) and t in tok_id]
        # at most two digits before the point: 99 of any unit is within TeX's largest dimension
        # (`999in` is "Dimension too large"; no compiling training equation writes three)
        def number(p: str) -> None:
            """[sign] digits [. digits] in states p, p_sign, p_int, p_int2, p_dot, p_frac."""
            for state in (p, p + "_sign"):
                tr(state, "0123456789", p + "_int")
                tr(state, ".,", p + "_dot")  # TeX takes a comma for the decimal point too
            tr(p, "+-", p + "_sign")
            tr(p + "_int", "0123456789", p + "_int2")
            for state in ("_int", "_int2"):
                tr(p + state, ".,", p + "_frac")
            for state in ("_dot", "_frac"):
                tr(p + state, "0123456789", p + "_frac")

        number("dim")
        number("dim_mu")
        for state in ("dim_int", "dim_int2", "dim_frac"):
            for first in UNITS:
                tr(state, first, "dim_u" + first)
        for first, seconds in UNITS.items():
            tr("dim_u" + first, seconds, "dim_end")
        for state in ("dim_mu_int", "dim_mu_int2", "dim_mu_frac"):
            tr(state, "m", "dim_mu_u")
        tr("dim_mu_u", "u", "dim_end")
        for w in words:
            for state in ("dim", "dim_sign", "dim_int", "dim_int2", "dim_frac"):
                trans[k[state], tok_id[w]] = k["dim_end"]
                table[k[state], tok_id[w]] = True
        closes[k["dim_end"]] = True
        table |= closes.unsqueeze(1) & (cls == C_RBRACE).unsqueeze(0)
        # `{` wherever a plain group may open (its kind is child[kind])
        table &= ~((cls == C_LBRACE).unsqueeze(0) & (child < 0).unsqueeze(1))
        automaton = torch.zeros(K, dtype=torch.bool)
        for s in SPECIAL_KINDS:
            if s.startswith(("spec", "dim")) and s != "spec_inner":
                automaton[k[s]] = True
        table[automaton] &= ~torch.isin(cls, torch.tensor([C_CMD, C_SUP, C_SUB, C_BEGIN, C_LEFT, C_DOLLAR, C_SPACE,
                                                            C_PRIME, C_BAREDIM]))
        table[automaton] |= (cls == C_LBRACE).unsqueeze(0) & (child[automaton] >= 0).unsqueeze(1)
        for s in ("spec_p", "spec_at", "spec_star", "spec_star2"):  # these only open their group
            table[k[s]] = (cls == C_LBRACE)
        self.table, self.trans, self.child, self.resume = table, trans, child, resume
        self.automaton = automaton

    def _build_closers(self, itos: list[str]) -> None:
        stoi = self.vocab.stoi
        closer = torch.full((self.K,), -1, dtype=torch.long)
        for i, t in enumerate(itos):
            if (e := _env_of(t)) is not None and e[0] == "end":
                closer[self.envs.index(e[1])] = i
        for name in SPECIAL_KINDS:
            if name in ("left",):  # `\\right.` closes any `\\left`; without it, another `\\right`
                rights = [i for i, t in enumerate(itos) if sized(t) == "right" and t != "\\right"]
                closer[self.kid[name]] = stoi.get("\\right.", rights[0] if rights else -1)
            elif name == "optional":
                closer[self.kid[name]] = stoi.get("]", -1)
            elif name == "inline":
                closer[self.kid[name]] = stoi.get("$", -1)
            elif name.startswith("dim") and name != "dim_end":
                closer[self.kid[name]] = -1  # a dimension must be finished first (see closing)
            else:
                closer[self.kid[name]] = stoi.get("}", -1)
        self.closer_of_kind = closer
        # the shortest way to finish a dimension: "0pt"
        self.dim_finish = {self.kid[s]: stoi.get(ch, -1) for s, ch in
                           (("dim", "0"), ("dim_sign", "0"), ("dim_dot", "0"), ("dim_int", "p"), ("dim_frac", "p"),
                            ("dim_mu", "0"), ("dim_mu_sign", "0"), ("dim_mu_dot", "0"), ("dim_mu_int", "m"),
                            ("dim_mu_frac", "m"), ("dim_mu_u", "u"), ("dim_int2", "p"), ("dim_mu_int2", "m"),
                            ("dim_up", "t"), ("dim_ue", "m"), ("dim_um", "m"), ("dim_uc", "m"), ("dim_ui", "n"),
                            ("dim_ub", "p"), ("dim_ud", "d"), ("dim_us", "p"))}
        fin = torch.full((self.K,), -1, dtype=torch.long)
        for kind, tid in self.dim_finish.items():
            fin[kind] = tid
        fin[self.kid["spec0"]] = stoi.get("c", -1)
        fin[self.kid["spec_count0"]] = stoi.get("1", -1)  # a count's: one  # a column spec's shortest ending: one centred column
        self.finish_token = fin

    def to(self, device: torch.device | str) -> "Grammar":
        dev = torch.device(device)
        for name in ("cls", "nargs", "opt", "env_of", "brace_first", "brace_rest", "delim_arg", "table", "trans",
                     "child", "resume", "automaton", "arg_atom", "delim_atom", "env_tokens", "amp_cap", "codes",
                     "closer_of_kind", "finish_token", "limits_ok", "limits_ids", "column", "star", "script_ok",
                     "env_arg_ok", "lbrace", "lbrack", "first_braced", "rest_braced", "first_text", "rest_text",
                     "text_arg_ok", "bare_dim_kind", "takes_star", "only_eos", "only_rbrack", "_vocab_ids"):
            setattr(self, name, getattr(self, name).to(dev))
        self._device = dev
        return self

    def _build_codes(self) -> None:
        """codes[kind·256 + flags] -> [V] allowed, flags = owed·128 + delim·64 + script·32 + opt·16 +
        sup·8 + sub·4 + full·2 + depth1 (see allowed()): one gather a step instead of many [B, V]
        operations."""
        cls = self.cls
        lbrace, lbrack, cmd, space = cls == C_LBRACE, cls == C_LBRACK, cls == C_CMD, cls == C_SPACE
        sup_like = (cls == C_SUP) | (cls == C_PRIME)
        sub_tok = cls == C_SUB
        openers = lbrace | (cls == C_BEGIN) | (cls == C_LEFT) | lbrack | (cls == C_DOLLAR) | (cls == C_BAREDIM)
        codes = torch.zeros(self.K, 256, len(cls), dtype=torch.bool)
        in_optional = torch.arange(self.K) == self.k_opt
        for f in range(256):
            owed, delim, script, opt, sup, sub, full, depth1 = ((f >> b) & 1 for b in (7, 6, 5, 4, 3, 2, 1, 0))
            base = self.table.clone()
            if owed:
                if delim:
                    arg = self.delim_atom.unsqueeze(0).expand_as(base).clone()
                else:
                    # TeX skips blanks while it looks for an argument
                    arg = self.arg_atom.unsqueeze(0) & base | lbrace.unsqueeze(0) | space.unsqueeze(0) & base
                    if script:
                        arg = arg | cmd.unsqueeze(0)
                    # an unbraced control sequence only where TeX takes it alone (`\\sqrt\\sum`, like
                    # `x^\\sum`, fails: amsmath's \\sum is more than one token)
                    arg &= (self.script_ok | lbrace | space).unsqueeze(0)
                if opt:
                    arg |= lbrack.unsqueeze(0) & ~in_optional.unsqueeze(1)
                base = arg
            elif opt:
                base = base | lbrack.unsqueeze(0) & ~(self.automaton | in_optional).unsqueeze(1)
            if sup:
                base &= ~sup_like.unsqueeze(0)
            if sub:
                base &= ~sub_tok.unsqueeze(0)
            if full:
                base &= ~openers.unsqueeze(0)
            base[:, self.eos_id] = bool(depth1 and not owed)
            codes[:, f] = base
        self.codes = codes.view(self.K * 256, -1)

    def first_violation(self, ids: list[int]) -> tuple[int, str] | None:
        """Where a whole sequence (environment token first, no <bos> or <eos>) first breaks the rules,
        and how: (position, reason), or None when it keeps them and may end. Position len(ids): it
        cannot end there (something is still open). <unk> tokens are passed over."""
        st = self.start(1)
        for i, t in enumerate(ids):
            if t == self.vocab.unk_id:
                continue
            if not bool(self.allowed(st)[0, t]):
                return i, ("the first token must be a display environment" if i == 0 else
                           "this token is not allowed here (a double script, a missing or extra argument, "
                           "an `&` or `\\\\` the environment does not take, a closer with nothing open...)")
            st = self.advance(st, torch.tensor([t], device=self._device))
        if not bool(self.allowed(st)[0, self.eos_id]):
            return len(ids), "it cannot end here: a brace, environment, \\left or argument is still open"
        return None

    # --- state -------------------------------------------------------------------------------
    def start(self, batch: int) -> dict[str, torch.Tensor]:
        """State before the environment token: nothing on the stack yet."""
        dev = self._device
        frames = torch.zeros(batch, self.D, self.F, dtype=torch.long, device=dev)
        frames[:, :, self.F_CAP] = self.BIG
        return {"frames": frames,
                "depth": torch.zeros(batch, dtype=torch.long, device=dev),
                "done": torch.zeros(batch, dtype=torch.bool, device=dev),
                "body": torch.zeros(batch, dtype=torch.bool, device=dev)}  # a token after the environment's

    def _top(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(st["depth"].shape[0], device=st["depth"].device)
        return st["frames"][rows, (st["depth"] - 1).clamp(min=0)]

    def _star_may_come(self, top: torch.Tensor) -> torch.Tensor:
        """[B] bool: the command owing arguments takes a star and none is paid yet (`\\hspace*`)."""
        pc = top[:, self.F_PCMD]
        return ((top[:, self.F_PEND] > 0) & self.takes_star[pc] & (top[:, self.F_PEND] == self.nargs[pc])
                & (top[:, self.F_PRIME] != 2))

    def _bracket_dim_done(self, top: torch.Tensor) -> torch.Tensor:
        """[B] bool: a line break's `[dimension` is complete and waits for its `]`."""
        return (top[:, self.F_KIND] == self.kid["dim_end"]) & (top[:, self.F_ISARG] == 3)

    def _owed_arg_is(self, top: torch.Tensor, first_of: torch.Tensor, rest_of: torch.Tensor) -> torch.Tensor:
        """[B] bool: a command's argument is owed and is of the kind `first_of` (its first argument)
        or `rest_of` (a later one) marks for the command."""
        pc = top[:, self.F_PCMD]
        first = top[:, self.F_PEND] == self.nargs[pc]
        kind = torch.where(first, first_of[pc], rest_of[pc])
        return (top[:, self.F_PEND] > 0) & (top[:, self.F_PKIND] != P_DELIM) & kind

    def _text_owed(self, top: torch.Tensor) -> torch.Tensor:
        """[B] bool: the argument owed is a text argument (`\\text`, `\\mbox`...)."""
        return self._owed_arg_is(top, self.first_text, self.rest_text)

    def _braced_owed(self, top: torch.Tensor) -> torch.Tensor:
        """[B] bool: the argument owed is one that must be braced (an environment's, a dimension)."""
        return self._owed_arg_is(top, self.first_braced, self.rest_braced)

    def allowed(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B, V] bool: the tokens each sequence may take next."""
        top = self._top(st)
        d = st["depth"]
        owed = top[:, self.F_PEND] > 0
        pk = top[:, self.F_PKIND]
        # the script's own argument (not the arguments of a command the script took: `x^\\frac` then
        # owes \\frac's, which are command arguments)
        own = self.cls[top[:, self.F_PCMD]]
        script = ((pk == P_SUP) | (pk == P_SUB)) & owed & ((own == C_SUP) | (own == C_SUB))
        flags = ((owed.long() << 7) | ((pk == P_DELIM) & owed).long() << 6
                 | script.long() << 5
                 | (top[:, self.F_OPT].clamp(max=1) << 4) | (top[:, self.F_SUP].clamp(max=1) << 3)
                 | (top[:, self.F_SUB].clamp(max=1) << 2) | ((d >= self.D).long() << 1) | (d == 1).long())
        kind = top[:, self.F_KIND]
        mask = self.codes[kind * 256 + flags]
        if self.amp_id >= 0:  # no more `&` in a row than the environment (or array's column spec) allows
            cap = torch.minimum(self.amp_cap[kind], top[:, self.F_CAP])
            mask[:, self.amp_id] &= top[:, self.F_AMPS] < cap
        if len(self.limits_ids):  # \limits only after an operator
            mask[:, self.limits_ids] &= (top[:, self.F_OPER] > 0).unsqueeze(1)
        # rows narrowed by `where`, never by boolean indexing or an `if x.any()`: on a GPU those read
        # the device back to the host every step (the decoder steps without such reads; docs/scale.md)
        text = self._text_owed(top)  # a text argument written unbraced is one text token (`\\text\\alpha` fails)
        mask &= ~text.unsqueeze(1) | self.text_arg_ok
        braced = self._braced_owed(top)
        ok = self.env_arg_ok.unsqueeze(0) | self.lbrack.unsqueeze(0) & (top[:, self.F_OPT] > 0).unsqueeze(1)
        ok = ok | self.star.unsqueeze(0) & self._star_may_come(top).unsqueeze(1)
        mask &= ~braced.unsqueeze(1) | ok
        if self.rbrack_id >= 0:  # `\\[2pt`: only `]` now
            mask = torch.where(self._bracket_dim_done(top).unsqueeze(1), self.only_rbrack, mask)
        empty = (d == 1) & ~st["body"]  # an empty equation is none ("Missing $ inserted")
        mask[:, self.eos_id] &= ~empty
        mask = torch.where((d == 0).unsqueeze(1), self.env_tokens, mask)  # not started: an environment first
        mask = torch.where(st["done"].unsqueeze(1), self.only_eos, mask)  # a finished sequence repeats <eos> (ignored)
        return mask

    def advance(self, st: dict[str, torch.Tensor], tok: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state after each sequence takes `tok` [B] (assumed allowed)."""
        frames, d, done = st["frames"].clone(), st["depth"], st["done"]
        B = tok.shape[0]
        rows = torch.arange(B, device=tok.device)
        c = self.cls[tok]
        live = ~done
        ti = (d - 1).clamp(min=0)
        pi = (d - 2).clamp(min=0)
        cur = frames[rows, ti].clone()
        par = frames[rows, pi].clone()
        started = d > 0
        act = live & started
        owed = act & (cur[:, self.F_PEND] > 0)
        nargs_t = self.nargs[tok]

        def where(m: torch.Tensor, frame: torch.Tensor, col: int, val) -> None:
            # in place on the column (a view): ~70 of these a step, whose cost at small batches is the calls
            if torch.is_tensor(val):
                frame[:, col] = torch.where(m, val, frame[:, col])
            else:
                frame[:, col].masked_fill_(m, val)

        def pay(m: torch.Tensor, frame: torch.Tensor) -> None:
            where(m, frame, self.F_PEND, frame[:, self.F_PEND] - 1)
            where(m, frame, self.F_OPT, 0)
            fin = m & (frame[:, self.F_PEND] == 0)
            where(fin & (frame[:, self.F_PKIND] == P_SUP), frame, self.F_SUP, 1)
            where(fin & (frame[:, self.F_PKIND] == P_SUB), frame, self.F_SUB, 1)
            reset = fin & ((frame[:, self.F_PKIND] == P_CMD) | (frame[:, self.F_PKIND] == P_DELIM))
            where(reset, frame, self.F_SUP, 0)
            where(reset, frame, self.F_SUB, 0)

        def new_atom(m: torch.Tensor, frame: torch.Tensor) -> None:
            where(m, frame, self.F_SUP, 0)
            where(m, frame, self.F_SUB, 0)
            where(m, frame, self.F_OPT, 0)
            where(m, frame, self.F_PRIME, 0)

        kind_top = cur[:, self.F_KIND]
        # a command as a script's argument: the script now waits for the command's arguments
        script = owed & ((cur[:, self.F_PKIND] == P_SUP) | (cur[:, self.F_PKIND] == P_SUB))
        script_cmd = script & (c == C_CMD)
        with_args = script_cmd & (nargs_t > 0)
        where(with_args, cur, self.F_PEND, nargs_t)
        where(with_args, cur, self.F_PCMD, tok)
        where(with_args, cur, self.F_OPT, self.opt[tok].long())
        pay(script_cmd & ~with_args, cur)
        # `\\hspace*{..}`: the star is no argument; the command still owes its first
        star_mod = owed & self.star[tok] & self._star_may_come(cur)
        where(star_mod, cur, self.F_PRIME, 2)  # one star (F_PRIME is free while an argument is owed)
        act_rest = act & ~script_cmd & ~star_mod
        opt_now = cur[:, self.F_OPT] > 0
        is_lk = act_rest & (c == C_LBRACK) & opt_now                        # opens an optional argument
        # `\\[2pt]`: the optional argument of a line break is a dimension (F_ISARG 3: closed by `]`)
        nl_dim = is_lk & (self.cls[cur[:, self.F_PCMD]] == C_NL)
        is_rk = act_rest & (c == C_RBRACK) & ((kind_top == self.k_opt) | self._bracket_dim_done(cur))  # closes one
        atomish = act_rest & ((c == C_ATOM) | ((c == C_LBRACK) & ~opt_now) | ((c == C_RBRACK) & ~is_rk)
                              | ((c == C_MIDDLE) & ~self.delim_arg[tok]))
        pay(atomish & owed, cur)
        new_atom(atomish & ~owed, cur)
        # the automata (column specs, dimensions) move on their atoms; a column spec counts its columns
        in_spec = atomish & ~owed & ((kind_top == self.kid["spec"]) | (kind_top == self.kid["spec0"]))
        where(in_spec & self.column[tok], cur, self.F_AMPS, cur[:, self.F_AMPS] + 1)
        where(in_spec & self.star[tok], cur, self.F_AMPS, self.BIG)
        where(atomish & ~owed, cur, self.F_KIND, self.trans[kind_top, tok])
        # a bare dimension (`\hskip 2em`) ends with its unit: its frame closes by itself
        bare_done = atomish & ~owed & (cur[:, self.F_ISARG] == 2) & (cur[:, self.F_KIND] == self.kid["dim_end"])
        # commands and scripts: arguments owed
        cmd = act_rest & ((c == C_CMD) | (c == C_SUP) | (c == C_SUB))
        new_atom(cmd & (c == C_CMD), cur)
        where(cmd, cur, self.F_PEND, nargs_t)
        pkind_new = torch.where(c == C_SUP, P_SUP, torch.where(c == C_SUB, P_SUB, torch.where(
            self.delim_arg[tok], P_DELIM, P_CMD)))
        where(cmd, cur, self.F_PKIND, pkind_new)
        where(cmd, cur, self.F_PCMD, tok)
        where(cmd, cur, self.F_OPT, self.opt[tok].long())
        # cells
        where(act_rest & (c == C_AMP), cur, self.F_AMPS, cur[:, self.F_AMPS] + 1)
        where(act_rest & (c == C_NL), cur, self.F_AMPS, 0)
        cell = act_rest & ((c == C_AMP) | (c == C_NL))
        new_atom(cell, cur)
        where(act_rest & (c == C_NL), cur, self.F_OPT, 1)
        where(act_rest & (c == C_NL), cur, self.F_PCMD, tok)
        mid = act_rest & (c == C_MIDDLE) & self.delim_arg[tok]
        where(mid, cur, self.F_PEND, 1)
        where(mid, cur, self.F_PKIND, P_DELIM)
        # openers: a new frame at index d
        lb = act_rest & (c == C_LBRACE)
        bd = act_rest & (c == C_BAREDIM)
        bg = act_rest & (c == C_BEGIN)
        lf = act_rest & (c == C_LEFT)
        dl = act_rest & (c == C_DOLLAR)
        close_inline = dl & (kind_top == self.k_inline)
        op_inline = dl & ~close_inline
        pushed = lb | bg | lf | is_lk | op_inline | bd
        new = torch.zeros(B, self.F, dtype=torch.long, device=tok.device)
        pc = cur[:, self.F_PCMD]
        first = cur[:, self.F_PEND] == self.nargs[pc]
        owed_kind = torch.where(first, self.brace_first[pc], self.brace_rest[pc])
        # in text (`\\text{\\underline{...}}`) a command's argument is text too
        owed_kind = torch.where((kind_top == self.kid["text"]) & (owed_kind == self.k_brace), self.kid["text"], owed_kind)
        k_brace = torch.where(owed & (cur[:, self.F_PKIND] == P_CMD), owed_kind,
                              torch.where(owed, self.k_brace, self.child[kind_top].clamp(min=0)))
        new[:, self.F_KIND] = torch.where(lb, k_brace, torch.where(bg, self.env_of[tok], torch.where(
            lf, self.k_left, torch.where(is_lk, torch.where(nl_dim, self.kid["dim"], self.k_opt),
                                         torch.where(bd, self.bare_dim_kind[tok], self.k_inline)))))
        new[:, self.F_ISARG] = (lb & owed).long() + 2 * bd.long() + 3 * nl_dim.long()
        new[:, self.F_CAP] = self.BIG
        beg_args = bg & (nargs_t > 0)
        bare_left = lf & self.delim_arg[tok]
        new[:, self.F_PEND] = torch.where(beg_args, nargs_t, torch.where(bare_left, 1, 0))
        new[:, self.F_PKIND] = torch.where(beg_args, P_CMD, torch.where(bare_left, P_DELIM, P_NONE))
        new[:, self.F_PCMD] = torch.where(bg, tok, 0)
        new[:, self.F_OPT] = torch.where(bg, self.opt[tok].long(), 0)
        where(lb | is_lk, cur, self.F_OPT, 0)
        new_atom(bg | lf | bd, cur)
        # closers: pop to the parent
        popped = act_rest & ((c == C_RBRACE) | (c == C_END) | (c == C_RIGHT) | close_inline)
        was_arg = popped & (cur[:, self.F_ISARG] == 1)
        # a column spec closing: its environment may have columns - 1 `&` a row
        spec_done = popped & (kind_top == self.kid["spec"])
        amps = cur[:, self.F_AMPS]
        where(spec_done, par, self.F_CAP, torch.where(amps >= self.BIG, self.BIG, (amps - 1).clamp(min=0)))
        pay(was_arg, par)
        new_atom(popped & ~was_arg & ~close_inline, par)
        where(popped, par, self.F_KIND, self.resume[par[:, self.F_KIND]])
        owe_delim = popped & (c == C_RIGHT) & self.delim_arg[tok]
        where(owe_delim, par, self.F_PEND, 1)
        where(owe_delim, par, self.F_PKIND, P_DELIM)
        # \limits may follow an operator (the token just taken, at this level)
        # (not when it is an argument: `\\sqrt\\sum\\limits` puts \\limits after the group `{\\sum}`)
        where(act, cur, self.F_OPER, self.limits_ok[tok].long() * (~owed).long())
        where(popped, par, self.F_OPER, self.limits_ok[tok].long())
        # the bare dimension done: back to the frame it was written in
        where(bare_done, par, self.F_OPER, 0)
        new_atom(bare_done, par)
        popped = popped | bare_done
        # self.F_ISARG prime is a superscript that takes in the primes and the `^` right after it (`x''^2` is
        # one superscript); anything else between ends it, so `x'_b^c` is a double superscript.
        primed = act_rest & (cur[:, self.F_PRIME] == 1)
        where(primed & ((c == C_SUB) | (c == C_SPACE)), cur, self.F_SUP, 1)
        star_kept = (cur[:, self.F_PRIME] == 2) & (c == C_SPACE)  # `\\hspace* {..}`
        where(act_rest & ~star_kept, cur, self.F_PRIME, (c == C_PRIME).long())
        # the environment token: the display frame
        is_env = live & ~started & (c == C_ENV)
        env_frame = torch.zeros(B, self.F, dtype=torch.long, device=tok.device)
        env_frame[:, self.F_KIND] = self.env_of[tok].clamp(min=0)
        env_frame[:, self.F_CAP] = self.BIG
        # write back
        stay = act & ~popped & ~is_rk
        frames[rows, ti] = torch.where(stay.unsqueeze(1), cur, frames[rows, ti])
        frames[rows, pi] = torch.where(popped.unsqueeze(1), par, frames[rows, pi])
        di = d.clamp(max=self.D - 1)
        frames[rows, di] = torch.where(pushed.unsqueeze(1), new, frames[rows, di])
        frames[:, 0] = torch.where(is_env.unsqueeze(1), env_frame, frames[:, 0])
        d = d + pushed.long() - (popped | is_rk).long() + is_env.long()
        body = st["body"] | act & (c != C_SPACE) & (c != C_EOS)
        return {"frames": frames, "depth": d, "done": done | (live & (c == C_EOS)), "body": body}

    def _measure_open_margin(self) -> int:
        """The most one token can add to `needed_to_close` (a `\\kern` owes a dimension, `\\genfrac`
        six arguments), measured from every display environment's first step, plus slack for tokens
        that open more inside other frames. The decoder starts closing this many tokens early, so a
        token taken just before closing starts can never leave more open than the room left."""
        worst = 0
        envs = torch.nonzero(self.env_tokens).flatten()
        for env in envs.tolist():
            st = self.advance(self.start(1), torch.tensor([env], device=self._device))
            base = int(self.needed_to_close(st)[0])
            toks = torch.nonzero(self.allowed(st)[0]).flatten()
            if not len(toks):
                continue
            many = {k: v.expand(len(toks), *v.shape[1:]).clone() for k, v in st.items()}
            worst = max(worst, int((self.needed_to_close(self.advance(many, toks)) - base).max()))
        return worst + 2

    def needed_to_close(self, st: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokens needed to close everything open and end: per open frame its owed arguments and
        its closer (a dimension: up to three more tokens first; the display frame's closer is <eos>)."""
        idx = torch.arange(self.D, device=st["depth"].device).unsqueeze(0)
        open_ = idx < st["depth"].unsqueeze(1)
        extra = self.automaton[st["frames"][:, :, self.F_KIND]].long() * 3
        return ((st["frames"][:, :, self.F_PEND] + 1 + extra) * open_).sum(1)

    def closing(self, st: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """The mask narrowed to tokens that close: an owed argument gets one atom, an unfinished
        dimension its shortest ending, else the innermost frame's closer (or <eos>)."""
        top = self._top(st)
        owed = top[:, self.F_PEND] > 0
        kind = top[:, self.F_KIND]
        closer = self.closer_of_kind[kind]
        closer = torch.where(st["depth"] == 1, torch.full_like(closer, self.eos_id), closer)
        finish = self.finish_token[kind]
        closer = torch.where(finish >= 0, finish, closer)
        closer = torch.where(self._bracket_dim_done(top), torch.full_like(closer, self.rbrack_id), closer)
        delim = owed & (top[:, self.F_PKIND] == P_DELIM)
        braced = self._braced_owed(top)  # braced: `{` first
        none = torch.zeros_like(self.arg_atom)
        keep = torch.where(braced.unsqueeze(1), self.lbrace, torch.where(
            delim.unsqueeze(1), self.delim_atom, torch.where((owed & ~delim).unsqueeze(1), self.arg_atom, none)))
        has = ~owed & (closer >= 0)
        keep = keep | has.unsqueeze(1) & (self._vocab_ids == closer.unsqueeze(1))
        keep &= mask
        empty = ~keep.any(1)  # nothing allowed closes (a closer the vocabulary lacks): the plain mask
        return torch.where(empty.unsqueeze(1), mask, keep)
