"""The <eos> bias a session samples with, kept with the model it was calibrated for.

`sample.eos_bias: auto` calibrates the bias (pipeline/model/eos_calibration.py) once per model: at
the calibration's own settings (`sample.calibration`: T=1, syntax-aware, no top-k/top-p; the same
bias then serves every temperature, as the report's grid always did), and stores it in
`samples/eos_calibration.json` under a key of the model's weights (by content), the training
equations it aims at, the settings and the code. The main job's sample stage makes it; a request
for a few equations, the server and a second session read it back in milliseconds instead of
sampling ~2,000 equations again. Another model (retrained, `sample.checkpoint=last`, a file) has
another key and gets its own entry.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from pipeline.atomic import read_json_or_empty, write_text
from pipeline.fingerprint import code_fingerprint, file_sha256
from pipeline.model.conditioning import ConditioningError, Topics
from pipeline.model.eos_calibration import calibrate_eos_bias, training_lengths
from pipeline.model.generation import Generator
from pipeline.runfolder import RunFolder
from pipeline.sampling.options import SampleOptions

log = logging.getLogger(__name__)

KEEP = 8  # entries kept in the store (models and calibration settings of this run)


def eos_bias(folder: RunFolder, opts: SampleOptions, gen: Generator, topics: Topics, weights: Path,
             store: bool = True) -> dict:
    """sample.eos_bias: a number as given, or `auto`: the model's calibrated bias, from the store
    when it holds one for this model and these settings, else calibrated now (and stored unless
    `store` is false). Returns {"setting", "bias", ...the calibration's figures}."""
    if str(opts.eos_bias).strip().lower() != "auto":
        try:
            return {"setting": "fixed", "bias": float(opts.eos_bias)}
        except (TypeError, ValueError):
            raise ConditioningError(f"sample.eos_bias={opts.eos_bias!r}: give a number (0 = the raw model's "
                                    "lengths) or auto") from None
    key = calibration_key(folder, opts, weights)
    for f in dict.fromkeys((folder.output("eos_calibration"), folder.path("eos_calibration"))):
        for entry in read_json_or_empty(f).get("entries", []):
            if entry.get("key") == key:
                return {"setting": "auto", **entry["info"]}
    info = calibrate(folder, opts, gen, topics)
    if store:
        f = folder.output("eos_calibration")
        entries = [e for e in read_json_or_empty(f).get("entries", []) if e.get("key") != key]
        f.parent.mkdir(parents=True, exist_ok=True)
        write_text(f, json.dumps({"entries": (entries + [{"key": key, "info": info}])[-KEEP:]}, indent=1))
    return {"setting": "auto", **info}


def calibration_settings(opts: SampleOptions):
    """The decoding settings the bias is calibrated at (the request's temperature and syntax switch
    do not change it)."""
    c = opts.calibration
    return replace(opts.decode(float(c["temperature"]), bool(c["syntax"])), top_k=0, top_p=1.0)


def calibration_key(folder: RunFolder, opts: SampleOptions, weights: Path) -> dict:
    eqs = folder.path("equations")
    return {"weights_sha256": file_sha256(weights) if weights.exists() else None,
            "equations_sha256": file_sha256(eqs) if eqs.exists() else None,
            "decode": asdict(calibration_settings(opts)), "calibration_n": int(opts.calibration_n),
            "calibration": dict(opts.calibration), "batch_size": int(opts.batch_size),
            "code": code_fingerprint("model/eos_calibration.py", "model/decoder.py", "model/syntax.py",
                                     "sampling/eos.py")}


def calibrate(folder: RunFolder, opts: SampleOptions, gen: Generator, topics: Topics) -> dict:
    """Samples conditioned on training papers' θ as long, on average, as the training equations."""
    papers, lengths = training_lengths(folder.path("equations"))
    if not len(lengths):
        return {"bias": 0.0, "note": "no training equations to calibrate on"}
    rng = np.random.default_rng(int(opts.seed))
    pick = rng.choice(len(papers), min(int(opts.calibration_n), len(papers)), replace=False)
    theta = np.stack([topics.paper_theta(papers[i]) for i in pick]).astype(np.float32)
    c = opts.calibration
    info = calibrate_eos_bias(lambda th, st: gen.generate(th, st, int(opts.batch_size)), torch.from_numpy(theta),
                              float(lengths.mean()), calibration_settings(opts), rounds=int(c["rounds"]),
                              tolerance=float(c["tolerance"]), bounds=(float(c["bounds"][0]), float(c["bounds"][1])))
    log.info("sample: <eos> bias %+.3f: mean length %.1f tokens against the training equations' %.1f (bias 0: %.1f)",
             info["bias"], info["mean_tokens"], info["target_mean_tokens"], info["rounds"][0][1])
    return info
