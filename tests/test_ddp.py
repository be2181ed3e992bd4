"""Data-parallel training through Lightning's DDP (gloo, CPU processes): the same training at the same
global batch as one process, within the spread of one-process runs of other seeds."""
from __future__ import annotations

import json
import statistics

import pytest

from tests.conftest import copy_run, run_pipeline


def _val_cross_entropy(outputs, run: str) -> float:
    metrics = json.loads((outputs / run / "train" / "metrics.json").read_text())
    return float(metrics["val"]["true"]["cross_entropy"])


@pytest.mark.slow
def test_two_ddp_processes_train_like_one_at_the_same_global_batch(tiny_run):
    outputs, common = tiny_run
    # one process, global batch 16, three seeds
    singles = []
    for seed in (1, 2, 3):
        copy_run(outputs, f"one{seed}", ("prepared", "topics"))
        r = run_pipeline("stage=train", f"run=one{seed}", *common, f"seed={seed}", "datamodule.batch_size=16",
                         timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        singles.append(_val_cross_entropy(outputs, f"one{seed}"))
    # two processes (gloo on CPU) of 8 each: global batch 16, another seed
    copy_run(outputs, "ddp", ("prepared", "topics"))
    r = run_pipeline("stage=train", "run=ddp", *common, "seed=4", "trainer=ddp", "trainer.accelerator=cpu",
                     "trainer.devices=2", "datamodule.batch_size=8", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
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


def test_the_ddp_trainer_config_composes():
    from hydra.utils import instantiate

    from pipeline.config import compose

    cfg = compose(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"])
    assert cfg.trainer.use_distributed_sampler is False and cfg.trainer.num_nodes == 1
    strategy = instantiate(cfg.trainer.strategy)
    assert type(strategy).__name__ == "DDPStrategy"
