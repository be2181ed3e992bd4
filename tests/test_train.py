"""The train stage through the real Hydra entry point, on a tiny run built from real documents of
the shared corpus (seven lecture notes and papers, a 2×32 network, a three-topic model)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import copy_run, kill_resume_and_compare, run_pipeline


@pytest.fixture(scope="module")
def tiny(tiny_run) -> tuple[Path, list[str]]:
    return tiny_run


def _copy_run(outputs: Path, name: str) -> None:
    copy_run(outputs, name, ("prepared", "topics"))


@pytest.mark.slow  # the stage through the CLI
def test_fast_dev_run_through_the_entry_point(tiny):
    outputs, common = tiny
    r = run_pipeline("stage=train", "run=tiny", *common, "trainer.fast_dev_run=true")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fast_dev_run" in r.stdout + r.stderr
    assert not (outputs / "tiny" / "train" / "model.pt").exists()


@pytest.mark.slow  # the stage through the CLI
def test_a_run_cut_short_by_the_time_cap_says_so(tiny):
    outputs, common = tiny
    _copy_run(outputs, "capped")
    # a checkpoint every 2 steps: there is one to resume from however slow the machine is today
    capped = ("trainer.max_steps=100000", "trainer.val_check_interval=2", "callbacks.early_stopping.patience=100000",
              "train.evaluate_test=false")
    r = run_pipeline("stage=train", "run=capped", *common, *capped, "trainer.max_time=00:00:00:04")
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((outputs / "capped" / "train" / "metrics.json").read_text())
    assert m["stopped_early"] == "max_time" and 0 < m["steps"] < m["max_steps"] == 100000
    assert "max_time safety cap was reached" in r.stdout + r.stderr
    # run again with a larger cap: not reused as if finished, resumed from its last checkpoint
    r = run_pipeline("stage=train", "run=capped", *common, *capped, "trainer.max_time=00:00:00:12")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming from" in r.stdout + r.stderr and "reused" not in r.stdout + r.stderr
    again = json.loads((outputs / "capped" / "train" / "metrics.json").read_text())
    assert again["steps"] >= m["steps"]  # how many more depends on the machine's speed today


@pytest.mark.slow  # the stage through the CLI
def test_train_writes_a_model_file_metrics_and_curves(tiny):
    outputs, common = tiny
    _copy_run(outputs, "full")
    r = run_pipeline("stage=train", "run=full", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    train = outputs / "full" / "train"
    blob = torch.load(train / "model.pt", weights_only=True)  # plain data: no code runs on loading
    assert blob["config"]["hidden"] == 32 and blob["config"]["num_topics"] == 3
    vocab = json.loads((outputs / "full" / "prepared" / "vocab.json").read_text())["tokens"]
    assert blob["data"]["vocab"] == vocab and blob["data"]["global_step"] == 40
    m = json.loads((train / "metrics.json").read_text())
    assert set(m["test"]) >= {"true", "shuffled", "uniform", "true_vs_shuffled", "true_vs_uniform"}
    for f in (m["val"]["true"], m["test"]["true"]):
        lo, hi = f["perplexity_ci95"]
        assert 1 < lo <= f["perplexity"] <= hi < len(vocab) and f["bits_per_character"] > 0
    rows = list(csv.DictReader((train / "curves" / "metrics.csv").open()))
    assert any(r["train_loss"] for r in rows) and sum(bool(r.get("val_loss")) for r in rows) == 4
    # re-scoring the saved model gives the same figures
    r = run_pipeline("stage=train", "run=full", *common, "train.evaluate_only=true")
    assert r.returncode == 0, r.stderr[-2000:]
    again = json.loads((train / "metrics.json").read_text())
    assert again["test"]["true"]["perplexity"] == pytest.approx(m["test"]["true"]["perplexity"], rel=1e-6)
    # a finished run is reused as it is
    before = (train / "model.pt").stat().st_mtime_ns
    r = run_pipeline("stage=train", "run=full", *common)
    assert r.returncode == 0 and "train: reused" in r.stderr + r.stdout and (train / "model.pt").stat().st_mtime_ns == before
    # resumed at its last step (killed while evaluating): nothing to train, and the curves are kept
    (train / "metrics.json").unlink()
    r = run_pipeline("stage=train", "run=full", *common)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(csv.DictReader((train / "curves" / "metrics.csv").open())) == rows
    assert json.loads((train / "metrics.json").read_text())["test"]["true"]["perplexity"] == pytest.approx(
        m["test"]["true"]["perplexity"], rel=1e-6)
    # the no-topic network, trained for as many steps; a killed ablation continues from its checkpoint
    r = run_pipeline("stage=train", "run=full", *common, "train.ablation=true",
                     "+callbacks.killer._target_=tests.crash_callbacks.KillAtStep", "+callbacks.killer.step=25")
    assert r.returncode == -9 and (train / "ablation" / "checkpoints" / "last.ckpt").exists()
    r = run_pipeline("stage=train", "run=full", *common, "train.ablation=true")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ablation resuming from" in r.stdout + r.stderr
    none = json.loads((train / "metrics.json").read_text())["none"]
    assert none["steps"] == 40 and 1 < none["test"]["perplexity"] < len(vocab)
    assert none["test"]["perplexity"] != pytest.approx(m["test"]["true"]["perplexity"], rel=1e-6)
    gain = json.loads((train / "metrics.json").read_text())["test"]["true_vs_none"]
    expected = 1 - m["test"]["true"]["perplexity"] / none["test"]["perplexity"]
    assert gain["perplexity_reduction"] == pytest.approx(expected, rel=1e-6)
    lo, hi = gain["perplexity_reduction_ci95"]
    assert lo <= gain["perplexity_reduction"] <= hi


@pytest.mark.slow  # the stage through the CLI
def test_an_ablation_asked_first_trains_the_main_model_before_it(tiny):
    outputs, common = tiny
    _copy_run(outputs, "ablation_first")
    r = run_pipeline("stage=train", "run=ablation_first", *common, "train.ablation=true", "train.bootstrap=20")
    assert r.returncode == 0, r.stderr[-2000:]
    train = outputs / "ablation_first" / "train"
    assert (train / "model.pt").exists() and (train / "ablation" / "model.pt").exists()
    m = json.loads((train / "metrics.json").read_text())
    assert m["steps"] == m["none"]["steps"] == 40 and "true_vs_none" in m["test"]


@pytest.mark.slow  # the stage through the CLI
def test_a_killed_run_resumes_and_ends_where_an_uninterrupted_run_ends(tiny):
    outputs, common = tiny
    one_thread = ["train.threads=1", "train.bootstrap=20"]
    _copy_run(outputs, "whole")
    _copy_run(outputs, "killed")
    r = run_pipeline("stage=train", "run=whole", *common, *one_thread)
    assert r.returncode == 0, r.stderr[-2000:]
    kill_resume_and_compare(outputs, "whole", "killed", [*common, *one_thread])


@pytest.mark.slow  # the stage through the CLI
def test_changed_settings_are_not_resumed_silently(tiny):
    outputs, common = tiny
    _copy_run(outputs, "changed")
    r = run_pipeline("stage=train", "run=changed", *common, "+callbacks.killer._target_=tests.crash_callbacks.KillAtStep",
                     "+callbacks.killer.step=25")
    assert r.returncode == -9
    r = run_pipeline("stage=train", "run=changed", *common, "model.net.dropout=0.3")
    assert r.returncode == 2
    assert "model.net.dropout: 0.1 -> 0.3" in r.stderr and "train.resume=false" in r.stderr
    r = run_pipeline("stage=train", "run=changed", *common, "model.net.dropout=0.3", "train.resume=false",
                     "trainer.max_steps=10")
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow  # the stage through the CLI
def test_validation_once_an_epoch_and_a_run_that_ends_before_it(tiny):
    """experiment=paper validates once an epoch; a run whose max_steps ends inside the first epoch
    (as its 300-step measurement does) finishes and is scored all the same."""
    outputs, common = tiny
    _copy_run(outputs, "epochwise")
    r = run_pipeline("stage=train", "run=epochwise", *common, "trainer.val_check_interval=1.0",
                     "trainer.check_val_every_n_epoch=1", "trainer.max_steps=3", "train.evaluate_test=false")
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((outputs / "epochwise" / "train" / "metrics.json").read_text())
    assert m["steps"] == 3 and m["val"]["true"]["perplexity"] > 1


def test_missing_inputs_name_the_stage_to_run(tmp_path):
    r = run_pipeline("stage=train", "run=nothing", f"paths.outputs={tmp_path}", "experiment=tiny")
    assert r.returncode == 2 and "run `python -m pipeline stage=prepare` first" in r.stderr


def test_a_model_of_another_vocabulary_is_refused(tiny, tmp_path):
    from pipeline.errors import StageError
    from pipeline.model.network import NetworkConfig, TopicLSTM, save_model
    from pipeline.model.provenance import ModelMismatchError, check_model_matches, data_record

    outputs, _ = tiny
    run = outputs / "tiny"
    record = data_record(run)
    net = TopicLSTM(NetworkConfig(10, 3, 8, 8, 1, 0.0, "concat", "none", 1.0, 0.0, True, 0, 1.0))
    save_model(tmp_path / "m.pt", net, {**record, "vocab_sha256": "something else"})
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    with pytest.raises(ModelMismatchError, match="another vocabulary"):
        check_model_matches(blob["data"], run, tmp_path / "m.pt")
    assert issubclass(ModelMismatchError, StageError)  # the CLI prints it as one line, exit status 2
    check_model_matches(record, run, tmp_path / "m.pt")  # the run's own data: accepted


@pytest.mark.slow  # the stage through the CLI
def test_a_sweep_leaves_the_runs_own_training_untouched(tiny):
    outputs, common = tiny
    _copy_run(outputs, "swept")
    r = run_pipeline("stage=train", "run=swept", *common, "train.evaluate_test=false")
    assert r.returncode == 0, r.stderr[-2000:]
    own = outputs / "swept" / "train"
    files = sorted(p for p in own.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    r = run_pipeline("-m", "stage=train", "run=swept", *common, "train.evaluate_test=false", "trainer.max_steps=6,8")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p for p in own.rglob("*") if p.is_file()) == files
    assert all(p.read_bytes() == data for p, data in before.items())  # not one byte of the run's own changed
    for job, steps in ((0, 6), (1, 8)):
        mine = outputs / "swept" / "sweeps" / "train" / str(job) / "train"
        assert (mine / "checkpoints" / "last.ckpt").exists() and (mine / "curves" / "metrics.csv").exists()
        assert json.loads((mine / "metrics.json").read_text())["steps"] == steps
