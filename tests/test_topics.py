"""Topics: records streamed from prose files, labelled LDA on training records only, names as arXiv
fields, deterministic θ, inference from words and from a file, figures on held-out records.

Every test builds its own inputs: prose records in the arXiv metadata schema drawn from three clearly
separated vocabularies (astrophysics, mathematics, condensed matter) and a papers.jsonl, so a model is
fitted in about a second.
"""
from __future__ import annotations

import gzip
import json
import tracemalloc
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.dataset.splits import split_of
from pipeline.runfolder import RunFolder
from pipeline.topics import archives as A
from pipeline.topics import quality as Q
from pipeline.topics.corpus import TextNormaliser, TextSettings, cap_tokens, plural_map
from pipeline.topics.fit import FitSettings, Inputs, WorkFiles, build_corpus, build_normaliser, fit, prepare_documents
from pipeline.topics.labelled import LabelledBow, allocate
from pipeline.topics.model import TopicModel, UnknownWordsError
from pipeline.topics.names import NamingRule, name_topics, topics_for
from pipeline.topics.records import Splits, iter_prose_file
from pipeline.topics.workflow import EvalSettings, format_inference, run_topics
from tests.conftest import default_config, run_pipeline

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
SPLITS = Splits(FRACTIONS)
VOCABS = {
    "astro-ph": ("galaxy galaxies star stars stellar redshift telescope luminosity cosmology supernova nebula orbit "
                 "planet quasar", ["astro-ph.GA", "astro-ph.GA", "astro-ph.CO"]),
    "math": ("ring rings ideal module modules homomorphism isomorphism polynomial subgroup quotient kernel lemma "
             "theorem proof", ["math.AC", "math.RA", "math.AC"]),
    "cond-mat": ("lattice phonon superconductor magnon spin electron crystal conductivity fermi magnetization "
                 "insulator semiconductor", ["cond-mat.supr-con", "cond-mat.str-el", "cond-mat.supr-con"]),
}
SHARED = "analysis model method approach data".split()


def _text(rng, words: list[str], n: int) -> str:
    return " ".join(list(rng.choice(words, n)) + list(rng.choice(SHARED, 4)))


def make_inputs(folder: Path, n: int = 40, seed: int = 0, held_out_text=None, gz: bool = True) -> Inputs:
    """Prose records (bodies with an archive, abstracts with categories, unlabelled bodies) and papers."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    prose, papers = [], []
    for arch, (words, cats) in VOCABS.items():
        words = words.split()
        for i in range(n):
            rid = f"{arch}/{i:07d}"
            text = _text(rng, words, 60)
            if held_out_text is not None and split_of(rid, FRACTIONS) != "train":
                text = held_out_text(i)
            if i % 3 == 0:
                prose.append({"id": rid, "title": f"On {words[i % 5]} {i}", "abstract": text,
                              "categories": f"{cats[i % 3]} physics.gen-ph"})
            else:
                prose.append({"id": rid, "categories": arch, "title": f"The {words[i % 7]}", "text": text})
        for i in range(6):
            pid = f"{arch}-paper-{i}"
            papers.append({"id": pid, "title": None, "categories": cats[0], "split": split_of(pid, FRACTIONS),
                           "prose": _text(rng, words, 80).split()})
    for i in range(10):  # unlabelled bodies: read only when topics.unlabelled_share says so
        prose.append({"id": f"0704.{i:04d}", "categories": None, "text": _text(rng, SHARED * 3, 40)})
    path = folder / ("prose.jsonl.gz" if gz else "prose.jsonl")
    body = "".join(json.dumps(r) + "\n" for r in prose)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(body)
    else:
        path.write_text(body)
    (folder / "papers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in papers))
    return Inputs(folder / "papers.jsonl", (path,), SPLITS)


def settings(**kw) -> FitSettings:
    """The default config's topic settings, made small for these inputs."""
    from pipeline.stages.topics import settings as from_config

    base = dict(num_topics=3, passes=10, iterations=100, chunksize=50, no_below=2, no_above=0.9, progress=False,
                restarts=1, min_group_records=5, seed=7)
    base.update(kw)
    return replace(from_config(default_config().topics), **base)


RULE = NamingRule(min_records=3, min_share=0.5, min_category_records=3)
EVAL = EvalSettings(min_group_records=2, probes={"galaxy telescope star": ("astro-ph",)})


def fitted(inputs: Inputs, folder: Path, s: FitSettings | None = None) -> tuple[TopicModel, WorkFiles]:
    s = s or settings()
    work = WorkFiles(folder)
    prepare_documents(inputs, work, s)
    norm = build_normaliser(work, s)
    d, _ = build_corpus(work, norm, s)
    return fit(work, d, norm, s), work


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("in"))


@pytest.fixture(scope="module")
def stage(inputs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("t") / "topics"
    return out, run_topics(inputs, RunFolder.at(out.parent), settings(), RULE, EVAL)


# --- the taxonomy, records, text ------------------------------------------------------------------

def test_archive_groups_follow_arxivs_taxonomy():
    assert A.group_of("hep-ph astro-ph") == "hep" and A.archive_of("hep-ph astro-ph") == "hep-ph"
    assert A.group_of("nucl-ex") == "nucl" and A.group_of("math-ph") == "math" and A.archive_of("math-ph") == "math-ph"
    assert A.group_of("astro-ph.CO") == A.archive_of("astro-ph.CO") == "astro-ph"
    assert A.group_of("chao-dyn") == A.archive_of("chao-dyn") == "nlin"       # a retired archive: today's
    assert A.group_of("astro-ph.XY") == "astro-ph"                            # an unknown category: its archive
    assert A.group_of("foo-bar") is None and A.group_of("") is None and A.group_of(None) is None
    assert A.name_of("astro-ph.CO") == "astrophysics: cosmology" and A.name_of("cond-mat") == "condensed matter"


def test_prose_records_are_streamed_split_by_id_and_bad_lines_counted(tmp_path):
    rows = ['{"id": "a1", "title": "Stars", "abstract": "Galaxies with $z>2$ and \\\\[x\\\\] redshift", '
            '"categories": "astro-ph.GA"}',
            "not json", '{"title": "no id"}', '{"id": "a2", "abstract": "$x$ 42"}',
            '{"id": "b1", "text": "A body. [formula] holds for lattices", "categories": null}']
    for gz in (False, True):
        path = tmp_path / ("p.jsonl.gz" if gz else "p.jsonl")
        data = ("\n".join(rows) + "\n").encode()
        path.write_bytes(gzip.compress(data) if gz else data)
        skipped: Counter = Counter()
        recs = list(iter_prose_file(path, SPLITS, skipped))
        assert [r.id for r in recs] == ["a1", "b1"] and [r.kind for r in recs] == ["abstract", "body"]
        assert recs[0].tokens == ["stars", "galaxies", "redshift"] and "formula" not in recs[1].tokens
        assert recs[0].split == split_of("a1", FRACTIONS) and recs[0].categories == "astro-ph.GA"
        assert skipped == {"not a JSON object with an id": 2, "no words": 1}
        # a keep() that refuses a record means its words are never read
        assert [r.id for r in iter_prose_file(path, SPLITS, Counter(), lambda i, s, c: bool(c))] == ["a1"]
    with pytest.raises(FileNotFoundError, match="topics.corpus"):
        list(iter_prose_file(tmp_path / "missing.jsonl", SPLITS, Counter()))


def test_a_large_prose_file_is_read_in_constant_memory(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    line = json.dumps({"id": "x", "abstract": "galaxy " * 200, "categories": "astro-ph"})
    with gzip.open(path, "wt") as fh:
        for i in range(20000):
            fh.write(line.replace('"x"', f'"x{i}"') + "\n")
    tracemalloc.start()
    n = sum(1 for _ in iter_prose_file(path, SPLITS, Counter()))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 20000 and peak < 5 * 2 ** 20  # 20,000 records, about 30 MB of text: a few records at a time


def test_cap_takes_evenly_spaced_runs():
    toks = [str(i) for i in range(100)]
    assert cap_tokens(toks, 10) == toks[:10]
    assert cap_tokens(toks, 10, 2) == toks[:5] + toks[95:]
    assert cap_tokens(toks, 0) == toks and cap_tokens(toks[:5], 10, 2) == toks[:5]


def test_plural_map_needs_both_forms():
    m = plural_map({"galaxies": 3, "galaxy": 4, "fields": 5, "field": 5, "physics": 9, "analysis": 4,
                    "classes": 2, "class": 2})
    assert m == {"galaxies": "galaxy", "fields": "field", "classes": "class"}


def test_normaliser_filters_like_prose():
    n = TextNormaliser(TextSettings(min_len=3, stop_words=("foo",), use_domain_stop_words=True, merge_plurals=True),
                       plurals={"stars": "star"})
    assert n(["Stars", "ab", "x2", "foo", "section", "gravity"]) == ["star", "gravity"]


# --- labelled LDA --------------------------------------------------------------------------------

def test_allocation_gives_every_group_a_topic_and_big_groups_more():
    owners = allocate({"hep": 1600, "astro-ph": 400, "nlin": 20, "q-fin": 4}, 8, min_records=15)
    assert Counter(owners) == {"hep": 5, "astro-ph": 2, "nlin": 1} and "q-fin" not in owners  # 40 : 20 : 4.5
    assert allocate({"hep": 10}, 3, min_records=15) == [None, None, None]  # no group big enough: plain LDA
    assert allocate({"a": 20, "b": 20}, 4, min_records=15, general=1).count(None) == 1
    with pytest.raises(ValueError, match="topics.num_topics"):
        allocate({"a": 20, "b": 20, "c": 20}, 2, min_records=15)


def test_a_labelled_record_teaches_only_its_groups_topics(inputs, tmp_path):
    model, work = fitted(inputs, tmp_path)
    lda = model.lda
    assert sorted(o for o in lda.owners) == ["astro-ph", "cond-mat", "math"]
    bow = model.dictionary.doc2bow(model.normaliser("galaxy star ring lattice spin".split()))
    k = lda.owners.index("math")
    gamma, sstats = lda.inference([LabelledBow(bow, "math")], collect_sstats=True)
    others = [i for i in range(3) if i != k]
    assert np.all(sstats[others] == 0) and sstats[k].sum() > 0
    assert np.allclose(gamma[0, others], lda.alpha[others])  # only the prior on other groups' topics
    plain, _ = lda.inference([LabelledBow(bow, None)], collect_sstats=True)
    assert np.all(plain[0] > lda.alpha)  # unlabelled: every topic may take words


def test_fitting_reads_only_training_records(inputs, tmp_path):
    model, work = fitted(inputs, tmp_path / "a")
    ids = {json.loads(x)["id"] for x in work.train.read_text().splitlines()}
    assert ids and all(split_of(i, FRACTIONS) == "train" for i in ids if "paper" not in i)
    garbage = make_inputs(tmp_path / "g", held_out_text=lambda i: "zebra quark ring galaxy " * (20 + i))
    assert garbage.corpus[0].read_bytes() != inputs.corpus[0].read_bytes()
    m2, _ = fitted(garbage, tmp_path / "b")
    assert m2.dictionary.token2id == model.dictionary.token2id and "zebra" not in m2.dictionary.token2id
    np.testing.assert_array_equal(m2.lda.get_topics(), model.lda.get_topics())


def test_the_multicore_fit_keeps_labelled_records_on_their_groups_topics(inputs, tmp_path):
    one, work = fitted(inputs, tmp_path / "one")
    many, _ = fitted(inputs, tmp_path / "many", settings(fit_workers=2))
    assert type(many.lda).__name__ == "LabelledLdaMulticore" and many.lda.workers == 2
    assert many.lda.owners == one.lda.owners
    # the same fields found: each group's topic puts that group's own words first, as the one-process fit does
    for group, (words, _) in VOCABS.items():
        own = set(many.normaliser(words.split()))
        for model in (one, many):
            k = model.lda.owners.index(group)
            assert set(model.top_words(k, 5)) <= own, (group, model.top_words(k, 10))
    bow = many.dictionary.doc2bow(many.normaliser("galaxy star ring lattice spin".split()))
    _, sstats = many.lda.inference([LabelledBow(bow, "math")], collect_sstats=True)
    k = many.lda.owners.index("math")
    assert sstats[k].sum() > 0 and sstats[[i for i in range(3) if i != k]].sum() == 0


def test_coherence_streams_its_texts_from_the_work_file(inputs, tmp_path):
    model, work = fitted(inputs, tmp_path)
    texts = Q.reference_texts(model, work.held_out("val"), 800)
    lines = work.held_out("val").read_text().splitlines()
    assert len(texts) == len(lines) and not isinstance(texts, list)
    assert list(texts)[0] == model.normaliser(json.loads(lines[0])["tokens"][:800])
    streamed = Q.coherence(model, texts)
    held = Q.coherence(model, [list(t) for t in texts])
    assert streamed == held and streamed["texts"] == len(lines)


def test_unlabelled_records_are_fitted_on_only_when_asked(inputs, tmp_path):
    none = prepare_documents(inputs, WorkFiles(tmp_path / "n"), settings())["documents"]
    some = prepare_documents(inputs, WorkFiles(tmp_path / "s"), settings(unlabelled_share=1.0))["documents"]
    assert "train_body_unlabelled" not in none and none["train_unlabelled_not_read"] > 0
    assert some["train_body_unlabelled"] == none["train_unlabelled_not_read"]


def test_same_seed_same_topics_and_theta_independent_of_order(inputs, tmp_path):
    m1, work = fitted(inputs, tmp_path / "a")
    m2, _ = fitted(inputs, tmp_path / "b")
    np.testing.assert_array_equal(m1.lda.get_topics(), m2.lda.get_topics())
    docs = [json.loads(x)["tokens"] for x in work.held_out("val").read_text().splitlines()]
    first = [m1.theta_of_tokens(d) for d in docs]
    again = [m1.theta_of_tokens(d) for d in reversed(docs)][::-1]
    for a, b in zip(first, again):
        assert a.shape == (3,) and np.all(a > 0) and abs(a.sum() - 1) < 1e-9
        np.testing.assert_array_equal(a, b)


# --- names, figures, files -----------------------------------------------------------------------

def test_names_come_from_the_records_a_topic_dominates():
    words = lambda k: ["galaxy", "star", "data"]  # noqa: E731
    recs = [[("astro-ph", "astro-ph", "astro-ph.CO")] * 4 + [("astro-ph", "astro-ph", "astro-ph")] * 3,
            [("astro-ph", "astro-ph", "astro-ph")] * 5 + [("math", "math", "math.AG")],
            [("hep", "hep-th", "hep-th")] * 2 + [("hep", "hep-ph", "hep-ph")] * 4,
            [("math", "math", None), ("cs", "cs", None)] * 3, []]
    t2 = name_topics(recs[1:2] * 2, words, NamingRule(min_records=5))
    assert [x.name for x in t2] == ["astrophysics / galaxy", "astrophysics / star"]
    t = name_topics(recs, words, NamingRule(min_records=5, min_share=0.5, min_category_records=3))
    assert [x.name for x in t] == ["astrophysics: cosmology", "astrophysics", "high-energy physics: phenomenology",
                                   "general: galaxy star data / topic 3", "general: galaxy star data / topic 4"]
    assert [x.archive for x in t] == ["astro-ph", "astro-ph", "hep-ph", None, None]
    assert t[1].confidence == pytest.approx(5 / 6) and t[1].records == 6 and t[2].group == "hep"


def test_a_user_picks_topics_by_name_archive_or_group():
    names = ["astrophysics: cosmology", "astrophysics / galaxy", "relativity and quantum cosmology", "general: a b c"]
    infos = [{"topic": 0, "archive": "astro-ph", "group": "astro-ph"}, {"topic": 1, "archive": "astro-ph",
             "group": "astro-ph"}, {"topic": 2, "archive": "gr-qc", "group": "gr-qc"}, {"topic": 3}]
    assert topics_for("astrophysics-cosmology", names, infos) == [0]
    assert topics_for("Astrophysics: Cosmology", names, infos) == [0]
    assert topics_for("astro-ph", names, infos) == topics_for("astrophysics", names, infos) == [0, 1]
    assert topics_for("relativity", names, infos) == [2] and topics_for("3", names, infos) == [3]
    with pytest.raises(KeyError, match="astro-ph \\(astrophysics\\)"):
        topics_for("biology", names, infos)


def test_stage_names_topics_as_the_fields_and_measures_them(stage):
    out, rep = stage
    names = json.loads((out / "names.json").read_text())
    assert sorted(t["archive"] for t in names["topics"]) == ["astro-ph", "cond-mat", "math"]
    assert {t["name"] for t in names["topics"]} == {"astrophysics: galaxies", "mathematics: commutative algebra",
                                                    "condensed matter: superconductivity"}
    assert all(t["confidence"] == 1.0 and t["titles"] and t["top_words"] for t in names["topics"])
    f = rep["figures"]
    for split in ("validation", "test"):
        assert f[split]["records"] > 0 and f[split]["accuracy"] == 1.0 and f[split]["balanced_accuracy"] == 1.0
        assert set(f[split]["by_kind"]) <= {"body", "abstract", "paper"}
    assert f["groups"]["without_a_topic"] == [] and len(f["groups"]["owning_a_topic"]) == 3
    assert f["equation_papers"]["all"]["papers"] == 18 and f["equation_papers"]["all"]["accuracy"] == 1.0
    assert f["probes"]["galaxy telescope star"]["mass"] > 0.5
    theta = np.load(out / "theta.npy")
    ids = json.loads((out / "theta_ids.json").read_text())
    assert theta.dtype == np.float32 and theta.shape == (len(ids["ids"]), 3) == (18, 3)
    np.testing.assert_allclose(theta.sum(1), 1, atol=1e-5)
    assert "How the topics stand for arXiv's fields" in (out / "topics.md").read_text()


def test_stage_reuses_its_model_and_refits_on_a_change(inputs, stage, tmp_path):
    out, rep = stage
    run = RunFolder.at(out.parent)
    again = run_topics(inputs, run, settings(), RULE, EVAL)
    assert rep["model_reused"] is False and again["model_reused"] is True
    assert again["names"] == rep["names"] and again["figures"]["test"] == rep["figures"]["test"]
    named = run_topics(inputs, run, settings(), RULE, EVAL, names={0: "First"})
    assert named["model_reused"] is True and named["names"][0] == "First"
    assert run_topics(inputs, run, settings(passes=9), RULE, EVAL)["model_reused"] is False
    with pytest.raises(ValueError, match="topics.names"):
        run_topics(inputs, run, settings(passes=9), RULE, EVAL, names={5: "no such topic"})


def test_restarts_are_chosen_on_validation_and_parallel_gives_the_same(inputs, tmp_path):
    one = run_topics(inputs, RunFolder.at(tmp_path / "a"), settings(restarts=2, restart_workers=1), RULE, EVAL)
    two = run_topics(inputs, RunFolder.at(tmp_path / "b"), settings(restarts=2, restart_workers=2), RULE, EVAL)
    assert [r["seed"] for r in one["restarts"]] == [7, 8] and one["seed"] == two["seed"]
    assert [r["key"] for r in one["restarts"]] == [r["key"] for r in two["restarts"]]
    best = max(one["restarts"], key=lambda r: (r["key"], -r["restart"]))
    assert one["seed"] == best["seed"]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "topics" / "theta.npy"),
                                  np.load(tmp_path / "b" / "topics" / "theta.npy"))
    assert not (tmp_path / "a" / "topics" / "model" / "restarts").exists()


def test_coherence_counts_topics_absent_from_the_texts(inputs, tmp_path):
    model, _ = fitted(inputs, tmp_path)
    c = Q.coherence(model, [["zebra", "unicorn"] * 20])
    assert c["undefined_topics"] == model.num_topics and c["mean"] is None
    c = Q.coherence(model, [model.top_words(k, 10) * 3 for k in range(model.num_topics)])
    assert c["undefined_topics"] == 0 and np.isfinite(c["mean"])


# --- inference -----------------------------------------------------------------------------------

def test_infer_context_words(stage, tmp_path):
    out, rep = stage
    from pipeline.topics.workflow import load_model

    model = load_model(RunFolder.at(out.parent))
    astro = rep["archives"].index("astro-ph")
    assert model.infer("Galaxies redshift TELESCOPE stars")[astro] > 0.5
    inf = model.explain("ring ideal unicorn the xy")
    assert abs(inf.theta.sum() - 1) < 1e-9 and inf.theta[rep["archives"].index("math")] > 0.5
    assert set(inf.unknown) == {"unicorn", "the", "xy"} and "vocabulary" in inf.reasons["unicorn"]
    with pytest.raises(UnknownWordsError, match="vocabulary"):
        model.infer("unicorn dragon")
    text = format_inference(model, "galaxy star unicorn")
    assert rep["names"][astro] in text and "unicorn (not in the model's vocabulary)" in text


def test_cli_fits_infers_words_and_a_file(inputs, tmp_path):
    common = ["stage=topics", f"topics.input={inputs.papers}", f"topics.corpus=[{inputs.corpus[0]}]",
              f"paths.outputs={tmp_path}", "topics.num_topics=3", "topics.dictionary.no_below=2",
              "topics.dictionary.no_above=0.9", "topics.passes=10", "topics.restarts=1", "topics.labels.min_records=5",
              "topics.naming.min_records=3", "topics.progress=false"]
    r = run_pipeline(*common)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "default" / "topics" / "theta.npy").exists() and "How the topics stand" in r.stdout
    r = run_pipeline(*common, "topics.infer=galaxy redshift unicorn")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("%  topic") == 3 and "unicorn (not in the model's vocabulary)" in r.stdout
    r = run_pipeline(*common, "topics.infer=unicorn")
    assert r.returncode == 2 and "vocabulary" in r.stderr
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "d1", "text": "galaxy star redshift telescope"}\n'
                    '{"id": "d2", "title": "Rings", "abstract": "ideal module kernel $x$"}\n'
                    "garbage\n" '{"id": "d3", "text": "unicorn"}\n')
    r = run_pipeline(*common, f"topics.infer_input={docs}", f"topics.infer_output={tmp_path / 'out.jsonl'}")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["id"] for x in rows] == ["d1", "d2", "d3"] and "error" in rows[2]
    assert rows[0]["archive"] == "astro-ph" and rows[1]["archive"] == "math"
    assert len(rows[0]["theta"]) == 3 and abs(sum(rows[0]["theta"]) - 1) < 1e-3 and rows[0]["top"][0][1] == rows[0]["name"]
    summary = json.loads([x for x in r.stdout.splitlines() if x.startswith("{")][-1])
    assert summary["documents"] == 2 and summary["no known word"] == 1
    assert summary["skipped: not a JSON object with an id"] == 1
    r = run_pipeline(*common, f"topics.infer_input={tmp_path / 'missing.jsonl'}")
    assert r.returncode == 2 and "missing.jsonl" in r.stderr
