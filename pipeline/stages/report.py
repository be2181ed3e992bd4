"""report: what a user reads. `python -m pipeline stage=report` writes outputs/<run>/report/:
report.html (one self-contained page: plots and typeset equations inlined as SVG), report.md (the
same numbers), gallery.pdf (samples typeset by topic, failures in an appendix) and report.json.
Every number is read from the stages' files (pipeline/report/inputs.py names them); a missing one
names the stage to run. Sections and definitions: docs/report.md.
"""
from __future__ import annotations

import hashlib
import json
import logging
import platform
import subprocess
import time
from dataclasses import replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.atomic import read_json_or_empty
from pipeline.runfolder import RunFolder

log = logging.getLogger(__name__)


def settings(cfg: DictConfig):
    from pipeline.report.build import ReportSettings
    from pipeline.report.fidelity import FidelitySettings

    r = cfg.report
    f = r.fidelity
    return ReportSettings(
        equations_per_topic=int(r.equations_per_topic), gallery_per_topic=int(r.gallery.per_topic),
        gallery_failures=int(r.gallery.failures), top_errors=int(r.top_errors),
        fidelity=FidelitySettings(max_train=int(f.max_train), ngram_max=int(f.ngram_max), min_df=int(f.min_df),
                                  max_features=int(f.max_features), C=float(f.C), seed=int(f.seed)),
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        seeds={"run": int(cfg.seed), "topics": int(cfg.topics.seed), "datamodule": int(cfg.datamodule.seed),
               "sample": int(cfg.sample.seed)},
        versions=versions())


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from pipeline.texcheck.installation import tex_versions

    out = {"python": platform.python_version()}
    for pkg in ("torch", "pytorch-lightning", "gensim", "hydra-core", "numpy", "scikit-learn", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    pdftex, live = tex_versions()
    out["pdfTeX"] = f"{pdftex} ({live})" if pdftex else "not found"
    try:
        first = subprocess.run(["dvisvgm", "--version"], capture_output=True, text=True, timeout=20).stdout.split("\n")[0]
        out["dvisvgm"] = first.split()[-1] if first else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        out["dvisvgm"] = "not found"
    return out


def run(cfg: DictConfig, folder: RunFolder) -> dict[str, Any]:
    from pipeline.atomic import write_text
    from pipeline.fingerprint import code_fingerprint
    from pipeline.report.build import build_report
    from pipeline.report.gallery import build_gallery
    from pipeline.report.inputs import RunFiles
    from pipeline.report.render import available, render_svgs, svg_width_pt
    from pipeline.texcheck.preamble import Preamble

    t0 = time.perf_counter()
    files = RunFiles(folder)
    files.check()
    out = folder.output("report")
    out.mkdir(parents=True, exist_ok=True)
    html, md, gallery, record = (folder.output(n) for n in ("report_html", "report_md", "gallery", "report_record"))
    r = cfg.report
    key = {"inputs": files.fingerprint(), "code": code_fingerprint("report/*.py", "report/templates/*", "stages/report.py"),
           "settings": hashlib.sha256(json.dumps(OmegaConf.to_container(r, resolve=True), sort_keys=True).encode())
           .hexdigest()[:16], "tex": OmegaConf.to_container(cfg.tex, resolve=True)}
    before = read_json_or_empty(record)
    wanted = [html, md] + ([gallery] if r.gallery.enabled else [])
    if r.reuse and before.get("key") == key and all(f.exists() for f in wanted):
        log.info("report: reused %s (inputs and settings unchanged; report.reuse=false builds it again)", out)
        return {**before, "reused": True}

    tex = cfg.tex
    preamble = Preamble.from_settings(tex.preamble_file, tex.documentclass, tex.packages)
    missing = available()
    quiz = _quiz(cfg, folder, files, preamble) if not missing else 0
    if not quiz:
        folder.output("quiz").unlink(missing_ok=True)  # a quiz of an earlier judge would not be this run's
    built = build_report(files, replace(settings(cfg), quiz=bool(quiz)))
    if missing:
        log.warning("report: %s not found, so equations are shown as LaTeX source; run scripts/setup.sh "
                    "(it installs dvisvgm and TeX Live)", missing)
    else:
        if built.to_render:
            svgs = render_svgs([e.source for e in built.to_render], preamble, float(r.render_timeout_s))
            for e, svg in zip(built.to_render, svgs):
                e.svg = svg
        # the gallery lays out by width: a wide equation gets a row of its own, scaled if need be
        cells = [row for _, rows in built.gallery_groups for row in rows]
        svgs = render_svgs([(c["latex"], c["env"], c.get("env_arg")) for c in cells], preamble, float(r.render_timeout_s))
        for c, svg in zip(cells, svgs):
            c["_width_pt"] = svg_width_pt(svg)
    write_text(md, built.document.markdown())
    write_text(html, built.document.html())
    gallery_error = None
    if r.gallery.enabled:
        gallery_error = build_gallery(built.gallery_groups, built.gallery_failures, preamble, gallery,
                                      f"Generated equations, run {folder.root.name}", float(r.gallery.timeout_s),
                                      float(r.gallery.margin_cm))
        if gallery_error:
            log.warning("report: %s", gallery_error)
    result = {"key": key, "figures": built.figures, "gallery_error": gallery_error,
              "typeset": sum(e.svg is not None for e in built.to_render), "to_typeset": len(built.to_render),
              "quiz_rounds": quiz,
              "seconds": round(time.perf_counter() - t0, 1)}
    write_text(record, json.dumps(result, indent=1))
    fid = built.figures.get("fidelity", {})
    log.info("report: %s and report.md%s in %.1f s; topic fidelity: samples %s of real test equations",
             html, " and gallery.pdf" if r.gallery.enabled and not gallery_error else "",
             result["seconds"], f"{100 * fid['samples_over_real']:.0f}%" if fid.get("samples_over_real") else "n/a")
    return result


def _quiz(cfg: DictConfig, folder: RunFolder, files, preamble) -> int:
    """report/quiz.html from the judge's pairs (none without them): the rounds it holds."""
    from pipeline.atomic import write_text
    from pipeline.report.quiz import quiz_html
    from pipeline.report.render import render_svgs

    if not files.exists("judge_pairs"):
        return 0
    main = files.json("judge_summary").get("main", "") if files.exists("judge_summary") else ""
    page, rounds = quiz_html(list(files.jsonl("judge_pairs")),
                             lambda src: render_svgs(src, preamble, float(cfg.report.render_timeout_s)),
                             int(cfg.report.quiz_pairs), int(cfg.seed), f"Which is fake? Run {folder.root.name}", main)
    write_text(folder.output("quiz"), page)
    return rounds
