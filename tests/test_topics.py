"""Topics: fitting reads training papers only, θ is dense and deterministic, inference from words.

Every test builds its own tiny papers.jsonl: documents drawn from three clearly separated
vocabularies, so three topics are recovered in seconds.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.topics import corpus as C
from pipeline.topics import fit as F
from pipeline.topics import quality as Q
from pipeline.topics import separation as S
from pipeline.topics.corpus import TextSettings, chunk_sections, plural_map
from pipeline.topics.fit import FitSettings, fit
from pipeline.topics.model import TopicModel, UnknownWordsError
from pipeline.topics.pipeline import format_inference, run_topics
from tests.conftest import default_config, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
VOCABS = {
    "astrophysics": "galaxy galaxies star stars stellar redshift telescope luminosity cosmology supernova "
                    "nebula orbit planet quasar",
    "statistics": "regression variance estimator sample samples hypothesis bootstrap likelihood posterior "
                  "covariance predictor residual dataset survey",
    "other: algebra": "ring rings ideal module modules group groups homomorphism isomorphism field polynomial "
                      "subgroup quotient kernel",
}
SHARED = "analysis model method approach data".split()


def make_papers(path: Path, n_per_field: int = 14, seed: int = 0, test_prose=None) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for f, words in VOCABS.items():
        words = words.split()
        for i in range(n_per_field):
            pid = f"{f[:5]}-{i}"
            split = "val" if i % 7 == 5 else "test" if i % 7 == 6 else "train"
            secs = [list(rng.choice(words, 40)) + list(rng.choice(SHARED, 4)) for _ in range(1 + i % 3)]
            if split == "test" and test_prose is not None:
                secs = [test_prose(i)]  # its own words: the training papers' draws stay the same
            rows.append({"id": pid, "title": None, "categories": "", "license": None, "field": f,
                         "kind": "textbook" if i == 0 else None, "split": split,
                         "prose": [t for s in secs for t in s], "prose_sections": secs})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


FS = S.FieldSettings(exclude=("particle physics",), min_papers=8)


def settings(**kw) -> FitSettings:
    """The default config's topic settings, made tiny for these fixtures."""
    from pipeline.stages.topics import settings as from_config

    base = dict(num_topics=3, passes=8, iterations=100, chunksize=16, alpha="symmetric", eta=None, seed=7,
                no_below=2, no_above=0.9, chunk_max_tokens=60, chunk_min_tokens=10, progress=False, restarts=1)
    base.update(kw)
    return replace(from_config(default_config().topics), **base)


@pytest.fixture(scope="module")
def papers(tmp_path_factory) -> Path:
    return make_papers(tmp_path_factory.mktemp("p") / "papers.jsonl")


@pytest.fixture(scope="module")
def model(papers, tmp_path_factory) -> TopicModel:
    return fit(papers, tmp_path_factory.mktemp("m"), settings())[0]


# --- text and chunking ---------------------------------------------------------------------------

def test_chunks_are_bounded_and_keep_every_token():
    secs = [list("a" * 5), list("b" * 2500), list("c" * 30), list("d" * 400)]
    chunks = chunk_sections(secs, 1000, 100)
    assert [t for c in chunks for t in c] == [t for s in secs for t in s]
    assert all(len(c) <= 1100 for c in chunks) and len(chunks) >= 3
    assert chunk_sections(secs, 0, 100) == [[t for s in secs for t in s]]
    assert chunk_sections([["x"] * 10, ["y"] * 3], 1000, 100) == [["x"] * 10 + ["y"] * 3]


def test_plural_map_needs_both_forms():
    m = plural_map({"galaxies": 3, "galaxy": 4, "fields": 5, "field": 5, "physics": 9, "analysis": 4,
                    "classes": 2, "class": 2})
    assert m == {"galaxies": "galaxy", "fields": "field", "classes": "class"}


def test_normaliser_filters_like_prose():
    n = C.TextNormaliser(TextSettings(min_len=3, stop_words=("foo",), use_domain_stop_words=True, merge_plurals=True),
                         plurals={"stars": "star"})
    assert n(["Stars", "ab", "x2", "foo", "section", "gravity"]) == ["star", "gravity"]


# --- fitting on training papers only -------------------------------------------------------------

def test_fitting_reads_only_training_papers(papers, tmp_path, monkeypatch):
    seen = []
    real = F.iter_papers

    def spy(path, splits=None):
        for p in real(path, splits):
            seen.append(p["split"])
            yield p

    monkeypatch.setattr(F, "iter_papers", spy)
    monkeypatch.setattr(C, "iter_papers", spy)  # TrainChunks
    fit(papers, tmp_path, settings())
    assert seen and set(seen) == {"train"}


def test_changing_test_prose_leaves_the_model_unchanged(papers, model, tmp_path):
    garbage = make_papers(tmp_path / "papers.jsonl",
                          test_prose=lambda i: ["zebra", "quark", "ring", "galaxy"] * (20 + i))
    assert garbage.read_text() != papers.read_text()
    m2 = fit(garbage, tmp_path / "m", settings())[0]
    assert m2.dictionary.token2id == model.dictionary.token2id
    np.testing.assert_array_equal(m2.lda.get_topics(), model.lda.get_topics())


def test_same_seed_same_topics_and_theta(papers, model, tmp_path):
    m2 = fit(papers, tmp_path, settings())[0]
    np.testing.assert_array_equal(m2.lda.get_topics(), model.lda.get_topics())
    for p in C.iter_papers(papers):
        np.testing.assert_array_equal(m2.theta_of_tokens(p["prose"]), model.theta_of_tokens(p["prose"]))


# --- θ ---------------------------------------------------------------------------------------------

def test_theta_dense_and_independent_of_order(papers, model):
    ps = list(C.iter_papers(papers))
    first = [model.theta_of_tokens(p["prose"]) for p in ps]
    again = [model.theta_of_tokens(p["prose"]) for p in reversed(ps)][::-1]
    for a, b in zip(first, again):
        assert a.shape == (3,) and np.all(a > 0) and abs(a.sum() - 1) < 1e-9
        np.testing.assert_array_equal(a, b)


def _dominant(papers, model) -> dict[str, int]:
    ps = list(C.iter_papers(papers))
    tops = [int(np.argmax(model.theta_of_tokens(p["prose"]))) for p in ps]
    dom = S.dominant_topics([p["field"] for p in ps], tops, FS)
    return {f: d["topic"] for f, d in dom.items()}, dom


def test_topics_separate_the_vocabularies(papers, model):
    topics, dom = _dominant(papers, model)
    assert all(d["share"] == 1.0 for d in dom.values())
    assert len(set(topics.values())) == 3 and S.owned(dom) == topics


def test_stage_files_theta_and_reuse(papers, tmp_path):
    out = tmp_path / "topics"
    rep = run_topics(papers, out, settings(), names={0: "First"}, coherence_on_train=True)
    theta = np.load(out / "theta.npy")
    ids = json.loads((out / "theta_ids.json").read_text())
    assert theta.dtype == np.float32 and theta.shape == (len(ids["ids"]), 3) == (42, 3)
    np.testing.assert_allclose(theta.sum(1), 1, atol=1e-5)
    assert set(ids["splits"]) == {"train", "val", "test"} and not (out / "report_test.json").exists()
    assert rep["model_reused"] is False and "First" in (out / "topics.md").read_text()
    assert np.isfinite(rep["coherence_val"]["c_npmi"]["mean"]) and rep["coherence_train"]["c_npmi"]["mean"] > 0
    fields = json.loads((out / "fields.json").read_text())
    assert len(fields["all"]) == 3 and fields["fields_owning_a_topic"] == 3 and fields["nmi"] == pytest.approx(1.0)
    assert fields["held_out_hits"]["hits"] == fields["held_out_hits"]["papers"] == 12
    assert "3 of 3" in (out / "fields.md").read_text()
    names = json.loads((out / "names.json").read_text())["names"]
    assert names[0] == "First" and len(set(names)) == 3 and rep["choice"]["val_hits"] == 6
    rep2 = run_topics(papers, out, settings(), evaluate_test=True)
    assert rep2["model_reused"] is True and (out / "report_test.json").exists()
    np.testing.assert_array_equal(np.load(out / "theta.npy"), theta)
    assert run_topics(papers, out, settings(passes=9))["model_reused"] is False


def test_names_must_exist(papers, tmp_path):
    with pytest.raises(ValueError, match="topics.names"):
        run_topics(papers, tmp_path, settings(), names={5: "no such topic"}, coherence_on_train=False)


# --- inference from context words ----------------------------------------------------------------

def test_infer_context_words(papers, model, tmp_path):
    dom, _ = _dominant(papers, model)
    assert model.infer("Galaxies redshift TELESCOPE stars")[dom["astrophysics"]] > 0.5
    assert model.infer(["regression", "variance"])[dom["statistics"]] > 0.5
    inf = model.explain("ring ideal unicorn the xy")
    assert abs(inf.theta.sum() - 1) < 1e-9 and inf.theta[dom["other: algebra"]] > 0.5
    assert set(inf.unknown) == {"unicorn", "the", "xy"} and "vocabulary" in inf.reasons["unicorn"]
    with pytest.raises(UnknownWordsError, match="vocabulary"):
        model.infer("unicorn dragon")
    # saved and loaded: the same θ
    model.save(tmp_path / "m")
    again = TopicModel.load(tmp_path / "m", names={dom["astrophysics"]: "Astrophysics"})
    np.testing.assert_array_equal(again.infer("galaxy star"), model.infer("galaxy star"))
    text = format_inference(again, "galaxy star unicorn")
    assert "Astrophysics" in text and "unicorn (not in the model's vocabulary)" in text


def test_coherence_counts_topics_absent_from_the_texts(model):
    # none of the topics' top words co-occur in these texts: every topic undefined, no mean
    c = Q.coherence(model, [["ring", "ideal", "module", "group"] * 20])
    assert c["undefined_topics"] == model.num_topics and c["mean"] is None
    assert c["per_topic"] == [None] * model.num_topics
    # texts made of each topic's own top words: every topic defined, a finite mean
    c = Q.coherence(model, [model.top_words(k, 10) * 3 for k in range(model.num_topics)])
    assert c["undefined_topics"] == 0 and np.isfinite(c["mean"])
    assert all(np.isfinite(x) for x in c["per_topic"])


# --- command line --------------------------------------------------------------------------------

def test_cli_fit_then_infer(papers, tmp_path):
    common = ["stage=topics", f"topics.input={papers}",
              f"paths.outputs={tmp_path}", "topics.num_topics=3", "topics.dictionary.no_below=2",
              "topics.dictionary.no_above=0.9", "topics.passes=5", "topics.chunking.max_tokens=60"]
    r = run_pipeline(*common)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "default" / "topics" / "theta.npy").exists()
    assert "Topics in scientific texts" in r.stdout
    r = run_pipeline(*common, "topics.infer=galaxy redshift unicorn")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("%  topic") == 3 and "unicorn (not in the model's vocabulary)" in r.stdout
    r = run_pipeline(*common, "topics.infer=unicorn")
    assert r.returncode == 2 and "vocabulary" in r.stderr


def test_choose_a_sweep_job_by_the_rule(tmp_path, capsys):
    from pipeline.topics.choose import choose, main

    def job(num, k, hits, owned, nmi, npmi):
        d = tmp_path / str(num) / "topics"
        d.mkdir(parents=True)
        (d / "report.json").write_text(json.dumps({
            "num_topics": k, "settings": {"num_topics": k},
            "choice": {"val_hits": hits, "fields_owned_train_val": owned, "nmi_train_val": nmi, "c_npmi_val": npmi,
                       "key": [hits, owned, nmi, npmi]}}))

    job(0, 8, 3, 5, 0.6, 0.09)   # best coherence, fewer hits
    job(1, 10, 5, 4, 0.5, 0.03)  # most hits: chosen
    job(2, 12, 5, 3, 0.7, 0.05)  # as many hits, fewer fields owning a topic
    assert choose(tmp_path)[1]["num_topics"] == 10
    assert main([str(tmp_path)]) == 0 and "chosen: job 1, num_topics=10" in capsys.readouterr().out
    assert main([str(tmp_path / "nothing")]) == 2


# --- weighting long papers, restarts -------------------------------------------------------------

def test_cap_keeps_evenly_spaced_chunks_of_long_papers():
    from pipeline.topics.corpus import cap_chunks

    chunks = [[str(i)] * 100 for i in range(40)]
    kept = cap_chunks(chunks, 1000)
    assert len(kept) == 10 and kept[0] == chunks[0] and kept[-1] == chunks[-1]
    assert [c[0] for c in kept] == sorted({c[0] for c in kept}, key=int)  # in order, no repeats
    assert cap_chunks(chunks, 0) is chunks and cap_chunks(chunks[:5], 1000) == chunks[:5]
    assert cap_chunks(chunks, 100) == [chunks[20]]  # one chunk kept: the middle one
    assert cap_chunks([], 100) == []


def test_cap_limits_a_textbook_in_the_training_corpus(papers, tmp_path):
    capped = fit(papers, tmp_path / "c", settings(chunk_max_tokens=20, chunk_min_tokens=5, max_paper_tokens=40))[1]
    full = fit(papers, tmp_path / "f", settings(chunk_max_tokens=20, chunk_min_tokens=5))[1]
    assert capped["train_chunks"] < full["train_chunks"]
    assert capped["train_tokens_in_vocab"] < full["train_tokens_in_vocab"]


def test_choose_restart_by_the_rule():
    from pipeline.topics.restarts import choose_restart

    r = [{"restart": 0, "key": [2, 3, 0.5, 0.09]},
         {"restart": 1, "key": [4, 2, 0.4, 0.05]},
         {"restart": 2, "key": [4, 2, 0.4, None]},   # an undefined coherence ranks below any
         {"restart": 3, "key": [4, 2, 0.4, 0.05]}]   # a tie: the lower restart number wins
    assert choose_restart(r)["restart"] == 1
    assert choose_restart([r[0], r[2]])["restart"] == 2  # more validation hits beat coherence


def test_restarts_choose_on_validation_without_reading_test(papers, tmp_path, monkeypatch):
    from pipeline.topics import restarts as R

    seen = []
    real = C.iter_papers

    def spy(path, splits=None):
        assert splits is not None, "a whole-file read would include test papers"
        for p in real(path, splits):
            seen.append(p["split"])
            yield p

    for mod in (F, C, R, Q):
        monkeypatch.setattr(mod, "iter_papers", spy)
    s = settings(restarts=3, restart_workers=1)
    m = R.fit_with_restarts(papers, tmp_path / "m", s)
    res = m.meta["restarts"]
    assert [r["seed"] for r in res] == [7, 8, 9] and set(seen) == {"train", "val"}
    # the rule, written out independently: hits, then fields owned, then NMI, then coherence
    best = max(res, key=lambda r: (r["val_hits"], r["fields_owned_train_val"], r["nmi_train_val"], r["c_npmi_val"],
                                   -r["restart"]))
    assert m.meta["chosen_restart"] == best["restart"] and m.seed == best["seed"]
    # The kept model is the chosen seed's plain fit, bit for bit.
    alone = fit(papers, tmp_path / "alone", settings(seed=best["seed"]))[0]
    np.testing.assert_array_equal(m.lda.get_topics(), alone.lda.get_topics())
    assert (tmp_path / "m" / "train_corpus.mm").exists() and not (tmp_path / "m" / R.RESTARTS_DIR).exists()


def test_restarts_in_parallel_give_the_same_model(papers, tmp_path):
    one = run_topics(papers, tmp_path / "a", settings(restarts=2, restart_workers=1), coherence_on_train=False)
    two = run_topics(papers, tmp_path / "b", settings(restarts=2, restart_workers=2), coherence_on_train=False)
    assert [r["seed"] for r in two["restarts"]] == [7, 8] and one["seed"] == two["seed"]
    assert [r["c_npmi_val"] for r in one["restarts"]] == [r["c_npmi_val"] for r in two["restarts"]]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "theta.npy"), np.load(tmp_path / "b" / "theta.npy"))
    # restart_workers is not part of the fingerprint: the saved model is reused.
    assert run_topics(papers, tmp_path / "b", settings(restarts=2, restart_workers=1),
                      coherence_on_train=False)["model_reused"] is True


def test_a_failing_restart_leaves_no_files(papers, tmp_path, monkeypatch):
    from pipeline.topics import restarts as R

    real = R.fit

    def flaky(papers, work_dir, s, **kw):
        if s.seed == 8:
            raise MemoryError("simulated")
        return real(papers, work_dir, s, **kw)

    monkeypatch.setattr(R, "fit", flaky)
    with pytest.raises(MemoryError):
        R.fit_with_restarts(papers, tmp_path / "m", settings(restarts=3, restart_workers=1))
    assert not (tmp_path / "m" / R.RESTARTS_DIR).exists()
