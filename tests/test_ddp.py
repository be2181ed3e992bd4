"""Data-parallel training through Lightning's DDP (gloo, CPU processes): the same training at the same
global batch as one process, within the spread of one-process runs of other seeds; killed and
started again, the same figures as a run never stopped."""
from __future__ import annotations

import json
import statistics

import pytest

from tests.conftest import copy_run, kill_resume_and_compare, run_pipeline


def _val_cross_entropy(outputs, run: str) -> float:
    metrics = json.loads((outputs / run / "train" / "metrics.json").read_text())
    return float(metrics["val"]["true"]["cross_entropy"])


# two processes (gloo on CPU) of 8 each: global batch 16; one thread each, so that a resumed run can
# be compared with this one bit for bit
DDP = ["seed=4", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "datamodule.batch_size=8",
       "train.threads=1"]


@pytest.fixture(scope="module")
def ddp_run(tiny_run):
    outputs, common = tiny_run
    copy_run(outputs, "ddp", ("prepared", "topics"))
    r = run_pipeline("stage=train", "run=ddp", *common, *DDP, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return outputs, common


@pytest.mark.slow
def test_two_ddp_processes_train_like_one_at_the_same_global_batch(ddp_run):
    outputs, common = ddp_run
    # one process, global batch 16, three seeds
    singles = []
    for seed in (1, 2, 3):
        copy_run(outputs, f"one{seed}", ("prepared", "topics"))
        r = run_pipeline("stage=train", f"run=one{seed}", *common, f"seed={seed}", "datamodule.batch_size=16",
                         timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        singles.append(_val_cross_entropy(outputs, f"one{seed}"))
    run = outputs / "ddp"
    metrics = json.loads((run / "train" / "metrics.json").read_text())
    assert metrics["steps"] == 40 and metrics["settings"]["trainer"]["devices"] == 2
    ddp = _val_cross_entropy(outputs, "ddp")
    lo, hi = min(singles), max(singles)
    # three seeds' spread, widened by its own width each side (four runs of one distribution: the fourth
    # falls outside the other three's bare range half the time)
    width = max(hi - lo, 0.02 * statistics.mean(singles))
    assert lo - width <= ddp <= hi + width, (ddp, singles)
    # the second process trained beside the first (its own log, from Hydra) and wrote nothing of its own
    child = (run / "train_ddp_process_1.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in child and "sample at step" not in child
    assert sorted(p.name for p in (run / "train").iterdir()) == ["checkpoints", "curves", "metrics.json", "model.pt",
                                                                 "run.json"]


@pytest.mark.slow
def test_a_killed_ddp_run_resumes_and_ends_where_the_whole_run_ends(ddp_run):
    """Both processes SIGKILLed after step 25 (the last checkpoint is step 20's, mid-epoch); the run
    started again resumes on both and ends with the uninterrupted run's figures and curves."""
    outputs, common = ddp_run
    copy_run(outputs, "ddp_killed", ("prepared", "topics"))
    kill_resume_and_compare(outputs, "ddp", "ddp_killed", [*common, *DDP], timeout=600)


def test_the_ddp_trainer_config_composes():
    from hydra.utils import instantiate

    from pipeline.config import compose

    cfg = compose(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"])
    assert cfg.trainer.use_distributed_sampler is False and cfg.trainer.num_nodes == 1
    strategy = instantiate(cfg.trainer.strategy)
    assert type(strategy).__name__ == "DDPStrategy"
