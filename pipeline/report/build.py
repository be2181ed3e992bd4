"""The report's content: every section read from the stages' files (none typed in).

`build_report(files, settings, ...)` returns the `Document` (written as report.html and report.md),
the gallery's groups and failures, and the figures it computed itself (topic fidelity) for
report.json. Nothing here knows Hydra; the stage (pipeline/stages/report.py) passes plain values.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pipeline.dataset.equations import read_equations
from pipeline.report.document import Document, Equation
from pipeline.report.fidelity import FidelitySettings, topic_fidelity
from pipeline.report.inputs import RunFiles


@dataclass(frozen=True)
class ReportSettings:
    equations_per_topic: int
    gallery_per_topic: int
    gallery_failures: int
    top_errors: int
    fidelity: FidelitySettings
    config_yaml: str = ""
    seeds: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    quiz: bool = False         # report/quiz.html was made: link it


@dataclass
class Built:
    document: Document
    gallery_groups: list[tuple[str, list[dict]]]
    gallery_failures: list[dict]
    figures: dict[str, Any]
    to_render: list[Equation]  # equations whose SVG is still to be made (the stage renders them)


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def _ci(v: dict, key: str, fmt: str = "{:.3f}") -> str:
    x, ci = v.get(key), v.get(key + "_ci95")
    if x is None:
        return "–"
    return fmt.format(x) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci else "")


def build_report(files: RunFiles, s: ReportSettings) -> Built:
    files.check()
    doc = Document(f"latex-eqgen report: run `{files.root.name}`")
    names = files.json("topic_names")["names"]
    b = Built(doc, [], [], {}, [])
    _summary(doc, files, s.quiz)
    _data(doc, files)
    _topics(doc, files, names)
    _model(doc, files)
    samples = list(files.jsonl("samples"))
    grid = list(files.jsonl("grid"))
    _samples(doc, files, samples, grid, s)
    _equation_tables(doc, files, samples, names, s, b)
    b.figures["fidelity"] = _fidelity(doc, files, samples, names, s)
    b.figures["judge"] = _judge(doc, files, s.quiz)
    _how(doc, files, s)
    _gallery(samples, names, s, b)
    return b


# ---------------------------------------------------------------------------------------------
def _summary(doc: Document, files: RunFiles, quiz: bool) -> None:
    summ = files.json("sample_summary")
    m = files.json("metrics")
    grid = summ.get("grid", {})
    t1 = grid.get("T=1,syntax", {})
    t1p = grid.get("T=1,plain", {})
    test = m.get("test", {})
    doc.heading("Summary")
    lines = []
    if t1:
        lines.append(f"Compile rate of generated equations at T=1: **{pct(t1['compile_rate'])}** with syntax-aware "
                     f"decoding, {pct(t1p.get('compile_rate'))} with plain sampling ({t1['n']} samples a setting).")
    s = summ.get("samples", {})
    if s.get("n"):
        lines.append(f"Samples of this run ({s['n']}): compile rate {pct(s['compile_rate'])}, "
                     f"{pct(1 - s['in_training_set'])} not in the training set.")
    if "true" in test:
        red = test.get("true_vs_shuffled", {}).get("perplexity_reduction")
        lines.append(f"Test perplexity {test['true']['perplexity']:.3f} with the paper's θ"
                     + (f", {pct(red)} lower than with shuffled θ" if red is not None else "") + ".")
    if files.exists("judge_summary"):
        j = files.json("judge_summary")
        main = (j.get("settings") or {}).get(j.get("main"), {})
        if "accuracy" in main:
            lines.append(f"Which is fake? A classifier tells generated equations ({j['main']}) from real ones "
                         f"{pct(main['accuracy'])} of the time (50%: it cannot; real against real "
                         f"{pct((j.get('real_vs_real') or {}).get('accuracy'))})"
                         + ("; try it: [quiz.html](quiz.html)." if quiz else "."))
    if m.get("stopped_early") == "max_time":
        lines.append(f"**Training was cut short by the time cap at step {m.get('steps')} of {m.get('max_steps')}** "
                     "(a slow or busy machine): its figures are those of a shorter run (see Model).")
    doc.para(" ".join(lines) or "No figures.")


def _data(doc: Document, files: RunFiles) -> None:
    stats = files.json("prepare_stats")
    meta = files.json("tokens_meta")
    ing, ex = stats.get("ingest", {}), stats.get("extract", {})
    doc.heading("Data")
    doc.para(f"{ing.get('papers_found', 0):,} papers found, {ing.get('papers_flattened', 0):,} flattened; "
             f"{ex.get('equations_found', 0):,} display equations found, **{ex.get('equations_kept', 0):,} kept** "
             f"({pct(ex.get('kept_fraction'))}; {pct(ex.get('kept_fraction_with_macros_present'))} of those in papers "
             f"whose macro definitions are present). Vocabulary: **{meta.get('vocab_size', ex.get('vocab_size'))}** "
             f"tokens; {ex.get('tokens_per_equation', 0):.1f} tokens an equation.")
    rows = [[sp, f"{v['papers']:,}", f"{v['equations']:,}", f"{v['tokens']:,}", f"{v.get('unk', 0):,}"]
            for sp, v in meta.get("splits", {}).items()]
    doc.table(["split", "papers", "equations", "tokens", "<unk> tokens"], rows)

    papers: dict[str, tuple[str, str]] = {}
    for p in files.jsonl("papers"):
        papers[p["id"]] = (p.get("field") or "(none)", p.get("split") or "?")
    eqs: Counter = Counter(e["paper_id"] for e in read_equations(files.path("equations")))
    by: dict[str, Counter] = defaultdict(Counter)
    for pid, (fld, split) in papers.items():
        by[fld][split] += 1
        by[fld]["equations"] += eqs.get(pid, 0)
    rows = [[f, c["train"], c["val"], c["test"], c["train"] + c["val"] + c["test"], f"{c['equations']:,}"]
            for f, c in sorted(by.items(), key=lambda kv: -(kv[1]["train"] + kv[1]["val"] + kv[1]["test"]))]
    doc.heading("Papers and equations by field", 3)
    doc.table(["field", "train papers", "val papers", "test papers", "papers", "equations kept"], rows)

    dropped = ex.get("dropped", {})
    if dropped:
        doc.heading("Why equations were dropped", 3)
        total = sum(dropped.values()) or 1
        doc.table(["reason", "equations", "share of dropped"],
                  [[k, f"{v:,}", pct(v / total)] for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])])
    skipped = {k: v for k, v in (ing.get("skipped") or {}).items() if v}
    if skipped:
        doc.para("Papers skipped at ingest: " + ", ".join(f"{k} {v}" for k, v in skipped.items()) + ".")
    if files.exists("validate_summary"):
        v = files.json("validate_summary")
        doc.para(f"Kept equations that compile in the fixed preamble (validate stage): **{pct(v['compile_rate'])}** "
                 f"of {v['count']:,}.")


def _topics(doc: Document, files: RunFiles, names: list[str]) -> None:
    rep = files.json("topics_report")
    infos = files.json("topic_names").get("topics") or [{} for _ in names]
    f = rep.get("figures", {})
    doc.heading("Topics in scientific texts")
    sizes = rep.get("topic_sizes") or []
    # the judge stage's distinguishing tokens of each topic (its mathematics beside its words)
    symbols = (files.json("judge_summary").get("symbols") or []) if files.exists("judge_summary") else []
    rows = []
    for k, name in enumerate(names):
        t = infos[k] if k < len(infos) else {}
        arch = f"{t['archive']} ({pct(t.get('confidence'), 0)} of {t.get('records', 0)})" if t.get("archive") else "none"
        marks = " ".join(f"`{x['token']}`" for x in symbols[k]) if k < len(symbols) else "–"
        rows.append([k, f"**{name}**", arch, ", ".join((t.get("top_words") or [])[:8]), marks,
                     "; ".join(x[:90] for x in (t.get("titles") or [])[:3]), pct(sizes[k]) if k < len(sizes) else None])
    docs = rep.get("documents", {})
    doc.para(f"{rep['num_topics']} topics: labelled LDA (gensim) on {docs.get('train_documents', 0):,} training records of "
             f"prose ({', '.join(rep.get('inputs', []))}). Each topic stands for the arXiv archive of the labelled "
             "training records it is the top topic of (the share of them from that archive's group in brackets); a "
             "paper's θ is inferred from its own prose.")
    doc.table(["#", "topic", "archive (share of records)", "top words", "symbols that mark its equations",
               "papers it stands for (titles)", "share of the equation papers' prose"], rows, align="rllllll")
    if symbols:
        doc.para("Symbols: the LaTeX tokens that most distinguish the topic's training papers' equations from the "
                 "rest, papers weighted by θ (log-odds ratio with an informative Dirichlet prior, by z-score; "
                 "grouping, layout and spacing tokens left out; the judge stage).")
    rows = []
    for split in ("validation", "test"):
        v = f.get(split) or {}
        bk = v.get("by_kind", {})
        if v.get("records"):
            rows.append([split, v["records"], pct(v.get("accuracy")),
                         *[pct(bk.get(k, {}).get("accuracy")) for k in ("body", "abstract", "paper")],
                         f"{pct(v.get('balanced_accuracy'))} ({len(v.get('balanced_over', []))} groups)"])
    if rows:
        doc.para("Held-out labelled records (never fitted on) whose top topic stands for their own archive group "
                 "(hep-th, hep-ph, hep-lat and hep-ex count as one group, nucl-th with nucl-ex):")
        doc.table(["split", "records", "accuracy", "bodies", "abstracts", "papers", "balanced accuracy"], rows)
    g, e = f.get("groups", {}), f.get("equation_papers", {}).get("all", {})
    notes = []
    if g.get("groups"):
        notes.append(f"{len(g.get('owning_a_topic', []))} of the {len(g['groups'])} archive groups with at least "
                     f"{g.get('min_records')} labelled training records own a topic"
                     + (f" (not: {', '.join(g['without_a_topic'])})" if g.get("without_a_topic") else "") + ".")
    if e.get("papers"):
        notes.append(f"Equation papers with an arXiv category outside hep-th: {pct(e.get('accuracy'))} of {e['papers']} "
                     "have a top topic of their own group.")
    for words, p in (f.get("probes") or {}).items():
        if "mass" in p:
            notes.append(f"\"{words}\": {pct(p['mass'])} on {' / '.join(p['groups'])} topics (top: "
                         + ", ".join(f"{100 * x:.0f}% {n}" for _, n, x in p["top"]) + ").")
    if notes:
        doc.para(" ".join(notes))


def _model(doc: Document, files: RunFiles) -> None:
    from pipeline.report.figures import learning_curves

    m = files.json("metrics")
    doc.heading("Model")
    st = m.get("settings", {})
    net = st.get("model", {}).get("net", {})
    doc.para(f"{net.get('layers', '?')}-layer LSTM, {net.get('hidden', '?')} units a layer, embedding "
             f"{net.get('embedding', '?')}, θ entering as `{net.get('topic_input', '?')}`; "
             f"{m.get('parameters', 0):,} parameters; trained {m.get('steps', '?')} steps "
             f"(batch {st.get('datamodule', {}).get('batch_size', '?')}, precision "
             f"{st.get('trainer', {}).get('precision', '?')}); weights of checkpoint `{m.get('best_checkpoint', '?')}`.")
    rows = files.csv("curves")
    curves = {"train": [(int(float(r["step"])), float(r["train_loss"])) for r in rows if r.get("train_loss")],
              "validation": [(int(float(r["step"])), float(r["val_loss"])) for r in rows if r.get("val_loss")]}
    if files.exists("ablation_curves"):
        ab = files.csv("ablation_curves")
        curves["validation, no θ"] = [(int(float(r["step"])), float(r["val_loss"])) for r in ab if r.get("val_loss")]
    if m.get("stopped_early"):
        doc.para(f"**Training stopped at step {m.get('steps')} of {m.get('max_steps')}**: "
                 + ("the `trainer.max_time` safety cap was reached (a slow or busy machine), so the figures below are "
                    "those of a shorter run than the settings ask for; run the train stage again on a free machine to "
                    "finish it (it resumes)." if m["stopped_early"] == "max_time" else
                    "early stopping (the validation loss stopped improving)."))
    doc.figure(learning_curves(curves), "Learning curves: training loss (logged every 50 steps) and validation loss.",
               "learning curves")
    table = []
    for split in ("val", "test"):
        for variant in ("true", "shuffled", "uniform"):
            v = m.get(split, {}).get(variant)
            if v:
                table.append([split, f"{variant} θ", _ci(v, "perplexity"), _ci(v, "bits_per_character", "{:.4f}"),
                              f"{v['cross_entropy']:.4f}", f"{v['equations']:,}", v["papers"]])
        none = m.get("none", {}).get(split)
        if none:
            table.append([split, f"no-topic network ({m['none'].get('steps')} steps)", _ci(none, "perplexity"),
                          _ci(none, "bits_per_character", "{:.4f}"), f"{none['cross_entropy']:.4f}",
                          f"{none['equations']:,}", none["papers"]])
    doc.table(["split", "θ", "perplexity [95% CI]", "bits / character [95% CI]", "cross-entropy", "equations",
               "papers"], table, align="llllrrr")
    test = m.get("test", {})
    gains = []
    for key, label in (("true_vs_shuffled", "shuffled θ"), ("true_vs_uniform", "uniform θ"),
                       ("true_vs_none", f"the no-topic network ({m.get('none', {}).get('steps')} steps)")):
        g = test.get(key)
        if g:
            ci = g.get("perplexity_reduction_ci95")
            gains.append(f"{pct(g['perplexity_reduction'])} lower than with {label}"
                         + (f" (95% CI {pct(ci[0])} to {pct(ci[1])})" if ci else ""))
    if gains:
        doc.para("Test perplexity with the paper's own θ: " + "; ".join(gains) + ". Intervals: bootstrap over papers.")
    if "none" not in m:
        doc.para("The no-topic network was not trained in this run (`train.ablation=true` trains it).")


def _grid_rates(summ: dict) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {"syntax-aware": [], "plain": []}
    for key, v in summ.get("grid", {}).items():
        m = re.match(r"T=([\d.]+),(syntax|plain)", key)
        if m:
            out["syntax-aware" if m.group(2) == "syntax" else "plain"].append((float(m.group(1)), v["compile_rate"]))
    return out


def _samples(doc: Document, files: RunFiles, samples: list[dict], grid: list[dict], s: ReportSettings) -> None:
    from pipeline.report.figures import compile_by_temperature, length_histogram

    summ = files.json("sample_summary")
    sm = summ.get("samples", {})
    doc.heading("Samples")
    st = summ.get("settings", {})
    if sm.get("n"):
        doc.para(f"{sm['n']} samples ({'syntax-aware' if st.get('syntax') else 'plain'} decoding, T={st.get('temperature')}, "
                 f"seed {st.get('seed')}): compile rate **{pct(sm['compile_rate'])}**, each judged in its own sampled "
                 f"environment; ended by the length limit {pct(sm['length_limited'])}; mean length "
                 f"{num(sm.get('mean_tokens'), '{:.1f}')} tokens (real test equations: "
                 f"{num(sm.get('real_test_mean_tokens'), '{:.1f}')}).")
        eb = summ.get("eos_bias") or {}
        if eb.get("setting") == "auto" and eb.get("rounds"):
            doc.para(f"`<eos>` bias {eb['bias']:+.3f} (`sample.eos_bias=auto`): samples conditioned on training papers' θ "
                     f"come to {num(eb.get('mean_tokens'), '{:.1f}')} tokens on average against the training equations' "
                     f"{num(eb.get('target_mean_tokens'), '{:.1f}')}; the raw model (bias 0) wrote "
                     f"{num(eb['rounds'][0][1], '{:.1f}')}. Every setting below uses the same bias.")
        elif eb:
            doc.para(f"`<eos>` bias {float(eb.get('bias', 0)):+.3f} (fixed by `sample.eos_bias`).")
        doc.table(["conditioning", "samples", "compile rate"],
                  [[k, v["n"], pct(v["compile_rate"])] for k, v in sm.get("per_conditioning", {}).items()])
    g = summ.get("grid", {})
    if g:
        doc.heading("Syntax-aware vs plain, by temperature", 3)
        doc.figure(compile_by_temperature(_grid_rates(summ)),
                   f"Compile rate by temperature ({next(iter(g.values()))['n']} samples a setting, samples/grid.jsonl).",
                   "compile rate by temperature")
        doc.table(["setting", "samples", "compile rate", "ended by length limit", "mean tokens", "in training set"],
                  [[k, v["n"], pct(v["compile_rate"]), pct(v["length_limited"]), num(v.get("mean_tokens"), "{:.1f}"),
                    pct(v["in_training_set"])] for k, v in g.items()])
        topics = sorted({t for v in g.values() for t in v.get("per_topic", {})})
        keys = list(g)
        doc.heading("Compile rate per topic and setting", 3)
        doc.table(["topic", *keys], [[t, *[pct(g[k]["per_topic"].get(t)) for k in keys]] for t in topics])
    if sm.get("n"):
        doc.heading("Novelty and diversity", 3)
        nc = sm.get("near_copies", {})
        doc.para(f"Not in the training set (exact match after normalisation): **{pct(1 - sm['in_training_set'])}**. "
                 f"Near copies ({nc.get('definition', '')}): {nc.get('near', 0)} of {nc.get('checked', 0)} checked.")
        dn = sm.get("distinct_n", {})
        doc.table(["n", "distinct n-grams, samples", "distinct n-grams, real test equations"],
                  [[n, num(v.get("samples")), num(v.get("real_test"))] for n, v in dn.items()])
        doc.para("Distinct-n: distinct n-grams over all n-grams, for equal numbers of sampled and real test equations.")
    real_len = [int(e["n_tokens"]) for e in read_equations(files.path("equations"), split="test")]
    lengths = {"samples": [len(r["tokens"]) for r in samples], "real test equations": real_len}
    doc.figure(length_histogram(lengths, int(st.get("max_len") or 200)),
               "Length distribution (tokens) of this run's samples and of the real test equations.", "lengths")
    from pipeline.texcheck.logparse import error_kind

    syntax_default = bool(st.get("syntax", True))
    for mode, rows in (("syntax-aware", [r for r in samples if syntax_default] + [r for r in grid if r.get("syntax")]),
                       ("plain", [r for r in samples if not syntax_default] + [r for r in grid if not r.get("syntax")])):
        judged = [r for r in rows if r.get("compiles") is not None]
        bad = [r for r in judged if r.get("compiles") is False]
        if not bad:
            continue
        errors: Counter = Counter()
        example: dict[str, str] = {}
        for r in bad:
            e = error_kind(r.get("error") or "") or "unknown"  # the message with names and lines abstracted
            errors[e] += 1
            example.setdefault(e, r["latex"])
        doc.heading(f"Top compile errors, {mode} decoding", 3)
        doc.para(f"{len(bad):,} of {len(judged):,} {mode} samples (samples.jsonl and grid.jsonl, every temperature) "
                 "did not compile.")
        doc.table(["error", "count", "example"],
                  [[e, c, f"`{example[e][:160]}`"] for e, c in errors.most_common(s.top_errors)], align="lrl")


def _equation_tables(doc: Document, files: RunFiles, samples: list[dict], names: list[str], s: ReportSettings,
                     b: Built) -> None:
    doc.heading("Generated equations by topic")
    doc.para("Samples of this run that compile, typeset by the project's TeX installation (DVI to SVG).")
    by: dict[int, list[dict]] = defaultdict(list)
    for r in samples:
        k = r["conditioning"].get("topic")
        if k is not None and r.get("compiles"):
            by[int(k)].append(r)
    rows = []
    for k, name in enumerate(names):
        eqs = [_eq(r, b) for r in by.get(k, [])[: s.equations_per_topic]]
        rows.append([f"**{name}**", eqs or ["(no compiling sample)"]])
    doc.equations(["topic", "generated equations"], rows)
    if files.exists("context"):
        ctx: dict[str, list[dict]] = defaultdict(list)
        for r in files.jsonl("context"):
            ctx[r["conditioning"]["words"]].append(r)
        doc.heading("Context words → inferred topics → generated equations")
        rows = []
        for words, rs in ctx.items():
            inferred = ", ".join(f"{100 * p:.0f}% {name}" for _k, name, p in rs[0]["conditioning"]["inferred"])
            eqs = [_eq(r, b, note="" if r.get("compiles") else "does not compile") for r in rs]
            rows.append([words, inferred, eqs])
        doc.equations(["context words", "inferred topics", "generated equations"], rows)


def _eq(r: dict, b: Built, note: str = "") -> Equation:
    from pipeline.report.render import display

    e = Equation(display(r["latex"], r["env"], r.get("env_arg")), None, note, (r["latex"], r["env"], r.get("env_arg")))
    b.to_render.append(e)
    return e


def _fidelity(doc: Document, files: RunFiles, samples: list[dict], names: list[str], s: ReportSettings) -> dict:
    import numpy as np

    from pipeline.latex.tokenizer import tokenize
    from pipeline.topics.archives import group_name

    theta = np.load(files.path("theta"))
    ids = files.json("theta_ids")
    ids = ids.get("ids", ids) if isinstance(ids, dict) else ids
    # Classes are archive groups: an equation is labelled with the group its paper's top topic stands for
    # (papers whose top topic is general are left out), a sample with its topic's group. Topics that stand
    # for fewer than two groups (prose without categories) make the topics themselves the classes.
    groups = files.json("topics_report").get("groups") or [None] * theta.shape[1]
    if len({g for g in groups if g}) >= 2:
        classes = sorted({g for g in groups if g})
        cls = [classes.index(g) if g else None for g in groups]
        label = "the archive group its paper's top topic stands for"
        class_names = [group_name(c) for c in classes]
    else:
        cls = list(range(theta.shape[1]))
        label = "its paper's top topic"
        class_names = list(names)
    top = {pid: cls[int(np.argmax(theta[i]))] for i, pid in enumerate(ids)}
    train, test = [], []
    for r in files.jsonl("equations"):
        k = top.get(r["paper_id"])
        if k is not None and r["split"] != "val":
            (train if r["split"] == "train" else test).append((r["latex"], k))
    if len(train) > s.fidelity.max_train:  # a seeded subsample, before the (slow) tokenising
        pick = np.random.default_rng(s.fidelity.seed).choice(len(train), s.fidelity.max_train, replace=False)
        train = [train[i] for i in sorted(pick)]
    train = [(tokenize(x), k) for x, k in train]
    test = [(tokenize(x), k) for x, k in test]
    gen = [(r["tokens"], cls[int(r["conditioning"]["topic"])]) for r in samples
           if r["conditioning"].get("topic") is not None and cls[int(r["conditioning"]["topic"])] is not None]
    f = topic_fidelity(train, test, gen, s.fidelity)
    doc.heading("Topic fidelity")
    if "error" in f:
        doc.para(f["error"])
        return f
    doc.para(f"A classifier ({f['classifier']}; {f['train_equations']:,} real training equations, each labelled with "
             f"{label}; {f['train_classes']} classes) predicts the class of an equation. Balanced accuracy (mean "
             "recall over the classes present) on real test equations (labelled by their paper's inferred θ) and on "
             "this run's samples (labelled by the topic they were conditioned on):")
    rows = []
    for label, v in (("real test equations", f["real_test"]),
                     ("samples of the topics the real test equations have", f["samples_same_classes"]),
                     ("samples of every topic", f["samples"])):
        if v.get("n"):
            rows.append([label, v["n"], v["classes"], pct(v["balanced_accuracy"]), pct(v["chance"]),
                         pct(v["majority_baseline"])])
    doc.table(["equations", "n", "classes present", "balanced accuracy", "chance", "majority baseline"], rows)
    if f.get("samples_over_real") is not None:
        doc.para(f"On the same topics, the samples' balanced accuracy is **{pct(f['samples_over_real'], 0)}** of the real "
                 "test equations' (over different sets of topics balanced accuracies are not comparable: chance differs).")
    if f["samples_of_unrecognisable_topics"]:
        doc.para("Not scored (no training paper is of their class): "
                 + ", ".join(f"{class_names[k]} ({n})" for k, n in f["samples_of_unrecognisable_topics"].items())
                 + ".")
    per = f["samples"].get("per_class", {})
    if per:
        doc.table(["class", "samples", "recognised as their class"],
                  [[class_names[int(k)], v["n"], pct(v["recall"])] for k, v in per.items()])
    f["classes"] = class_names
    return f


def _judge(doc: Document, files: RunFiles, quiz: bool) -> dict:
    """Which is fake? (the judge stage's judge/summary.json), with a link to the quiz."""
    doc.heading("Which is fake?")
    if not files.exists("judge_summary"):
        doc.para(f"No figures: run `python -m pipeline stage=judge run={files.root.name}` (part of `stage=all`).")
        return {}
    j = files.json("judge_summary")
    if j.get("error"):
        doc.para(f"The judge measured nothing: {j['error']}.")
        return {}

    def acc(r: dict) -> str:
        if "accuracy" not in r:
            return "– (" + str(r.get("error", "")) + ")"
        ci = r.get("ci95")
        return pct(r["accuracy"]) + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")

    doc.para(f"A classifier two-sample test: {j.get('n_real', 0):,} real equations drawn from the test papers against "
             "one generated equation each, conditioned on the θ of the real one's paper. Classifier: "
             f"{j.get('classifier', '')}; neither side is length-matched, both are normalised alike (tokenize, "
             "detokenize). **50% means the classifier cannot tell generated equations from real ones**; intervals: "
             f"{j.get('interval', '')}."
             + (" The quiz: [quiz.html](quiz.html) (pairs of one real and one generated equation; click the "
                "generated one)." if quiz else ""))
    rows = []
    rr = j.get("real_vs_real", {})
    rows.append(["real against real (each test paper's equations in two halves): should be near 50%", acc(rr),
                 rr.get("n_real"), rr.get("n_generated"), rr.get("papers")])
    for name, r in (j.get("easy_fake") or {}).items():
        rows.append([f"easy fake: {name} (should be caught, ≥ 90%)", acc(r), r.get("n_real"), r.get("n_generated"),
                     r.get("papers")])
    for name, r in (j.get("settings") or {}).items():
        main = " (**main**)" if name == j.get("main") else ""
        rows.append([f"real against generated: {name}{main}", acc(r), r.get("n_real"), r.get("n_generated"),
                     r.get("papers")])
    doc.table(["comparison", "accuracy [95% CI]", "real", "generated", "papers"], rows, align="lrrrr")
    main = (j.get("settings") or {}).get(j.get("main"), {})
    if main.get("by_topic"):
        doc.para(f"By topic of the paper (the main setting, {j.get('main')}; the same out-of-fold predictions):")
        doc.table(["topic", "accuracy [95% CI]", "equations (real and generated)", "papers"],
                  [[k, acc(v), v["n"], v["papers"]] for k, v in sorted(main["by_topic"].items(), key=lambda kv: -kv[1]["n"])],
                  align="lrrr")
    return {"real_vs_real": rr.get("accuracy"), "main": main.get("accuracy")}


def _how(doc: Document, files: RunFiles, s: ReportSettings) -> None:
    doc.heading("How this run was made")
    if s.seeds:
        doc.para("Seeds: " + ", ".join(f"{k} {v}" for k, v in s.seeds.items()) + ".")
    if s.versions:
        doc.table(["software", "version"], [[k, v] for k, v in s.versions.items()], align="ll")
    if files.exists("stages"):
        st = files.json("stages")
        rows = [[k, f"{v['wall_s']:.1f}", f"{v['cpu_s']:.1f}", "reused" if v.get("reused") else "ran", v.get("finished", "")]
                for k, v in st.items()]
        doc.para("Time per stage, as last run (`outputs/<run>/stages.json`; CPU includes worker processes and TeX):")
        doc.table(["stage", "wall (s)", "CPU (s)", "", "finished (UTC)"], rows, align="lrrll")
    if s.config_yaml:
        doc.details("Configuration (resolved)", s.config_yaml)


def _gallery(samples: list[dict], names: list[str], s: ReportSettings, b: Built) -> None:
    by: dict[int, list[dict]] = defaultdict(list)
    fails = []
    for r in samples:
        k = r["conditioning"].get("topic")
        name = names[int(k)] if k is not None else r["conditioning"].get("words", "other")
        if r.get("compiles"):
            by[int(k) if k is not None else -1].append(r)
        elif len(fails) < s.gallery_failures:
            fails.append({**r, "name": name})
    b.gallery_groups = [(names[k] if k >= 0 else "other conditioning", rs[: s.gallery_per_topic])
                        for k, rs in sorted(by.items())]
    b.gallery_failures = fails
