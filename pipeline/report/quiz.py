"""The report's "Which is fake?" page: pairs of one real and one generated equation of the same topic,
typeset by the report's renderer, in a seeded random order; a click reveals which is which, where the
real one comes from and its licence, and keeps a running score. Self-contained (inline SVG and script).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from markupsafe import Markup

from pipeline.report.document import scope_svg_ids, templates


def choose_pairs(pairs: Sequence[dict], n: int, seed: int) -> list[dict]:
    """Up to `n` pairs, one per paper where there are enough papers (a quiz of one paper's notation is dull)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs)).tolist()
    seen: set[str] = set()
    first = [i for i in order if not (pairs[i]["paper"] in seen or seen.add(pairs[i]["paper"]))]
    rest = [i for i in order if i not in set(first)]
    return [pairs[i] for i in (first + rest)[:n]]


def quiz_html(pairs: Sequence[dict], render: Callable[[list[tuple[str, str, str | None]]], list[str | None]],
              n: int, seed: int, title: str, side: str) -> tuple[str, int]:
    """The page and the number of rounds in it; a pair either side of which TeX cannot typeset is left out."""
    candidates = choose_pairs(pairs, 2 * n, seed)
    sources = [(p[side]["latex"], p[side]["env"], p[side].get("env_arg")) for p in candidates
               for side in ("real", "generated")]
    svgs = render(sources)
    rng = np.random.default_rng(seed + 1)
    rounds = []
    for i, p in enumerate(candidates):
        real, fake = svgs[2 * i], svgs[2 * i + 1]
        if real is None or fake is None:
            continue
        k = len(rounds)
        first = 1 if rng.random() < 0.5 else 0  # which of the two shown is the generated one
        shown = [fake, real] if first == 0 else [real, fake]
        # ids by position, and which one is generated held in the page's script only
        choices = [Markup(scope_svg_ids(svg, f"q{k}{'ab'[j]}-")) for j, svg in enumerate(shown)]
        rounds.append({"topic": p.get("topic") or "", "paper": p["paper"], "title": p.get("title"),
                       "license": p.get("license"), "choices": choices, "fake": first})
        if len(rounds) == n:
            break
    page = templates().get_template("quiz.html.j2").render(title=title, rounds=rounds, side=side,
                                                            answers=[r["fake"] for r in rounds])
    return page, len(rounds)
