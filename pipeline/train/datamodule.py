"""Equations for training: one equation a sequence, θ of its paper beside it, batches of similar length.

Reads only what prepare and topics wrote (docs/formats.md): the memory-mapped token streams
(`prepared/tokens/`), the row -> paper index, and θ (`topics/theta.npy`, rows named by
`topics/theta_ids.json`). Memory holds θ (papers × topics floats) and one length per equation, not
the token streams. A sequence is `<bos>`, the environment token, the body, `<eos>`: the model reads
`<bos> env body` and predicts `env body <eos>`; padding is `<pad>` and is never scored.

Batches: each epoch, a permutation seeded by (seed, epoch) is cut into buckets of `bucket_batches`
batches; inside a bucket equations are sorted by length and cut into batches, and the batches are
shuffled. The order depends only on (seed, epoch), and the position inside an epoch is saved in
checkpoints (`state_dict`), so a resumed run sees exactly the batches an uninterrupted run sees.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pipeline.dataset.streams import read_paper_index, read_split
from pipeline.latex.tokenizer import Vocabulary
from pipeline.runfolder import RunFolder, as_folder


class MissingInputError(FileNotFoundError):
    """An input of the train stage is absent: the message names the stage that writes it."""


def load_theta(run: RunFolder) -> tuple[np.ndarray, dict[str, int]]:
    """θ of every paper (float32 [papers, K]) and paper id -> row."""
    theta_file, ids_file = run.path("theta"), run.path("theta_ids")
    if not theta_file.exists() or not ids_file.exists():
        raise MissingInputError(f"{theta_file}: no topic vectors; run `python -m pipeline stage=topics` first")
    theta = np.load(theta_file).astype(np.float32)
    ids = json.loads(ids_file.read_text())["ids"]
    return theta, {pid: i for i, pid in enumerate(ids)}


class EquationSplit(Dataset):
    """One split's equations: item `row` is (token ids incl. environment and <eos>, θ of its paper)."""

    def __init__(self, run: RunFolder, split: str, theta: np.ndarray, theta_row: dict[str, int]) -> None:
        tokens = run.path("tokens")
        if not run.path("tokens_meta").exists():
            raise MissingInputError(f"{tokens}: no token streams; run `python -m pipeline stage=prepare` first")
        meta = json.loads(run.path("tokens_meta").read_text())
        if meta.get("format_version", 1) < 2:
            raise MissingInputError(f"{tokens}: token streams of an older format (no environment tokens); "
                                    "run `python -m pipeline stage=prepare` again")
        self.split = split
        self.ids, self.offsets = read_split(tokens, split)
        papers = read_paper_index(tokens, split)
        paper_ids = json.loads(run.path("paper_ids").read_text())
        missing = [paper_ids[p] for p in np.unique(papers) if paper_ids[p] not in theta_row]
        if missing:
            raise MissingInputError(f"{len(missing)} papers of {split} have no θ (e.g. {missing[0]}): the topics "
                                    "were fitted on another papers file; run `python -m pipeline stage=topics` again")
        # θ row of each equation, one int each (the θ matrix itself is shared, papers × K)
        self.theta_rows = np.array([theta_row[paper_ids[p]] for p in papers], dtype=np.int64)
        self.paper = np.asarray(papers, dtype=np.int64)
        self.theta = theta
        self.lengths = np.diff(self.offsets).astype(np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.ids[self.offsets[row] : self.offsets[row + 1]], dtype=np.int64), \
            self.theta[self.theta_rows[row]]


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of rows of similar length (see the module docstring); `start` skips batches already
    done in the first epoch iterated (a resumed run).

    With `world` processes (DDP), training batches are cut `world` times as large and process `rank`
    takes its slice of each: every process steps through the same global batches, in the order one
    process with `batch_size * world` would, and a resumed position means the same on all of them.
    Evaluation batches are not split: each process scores the whole split."""

    def __init__(self, lengths: np.ndarray, batch_size: int, bucket_batches: int, seed: int, shuffle: bool,
                 world: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} of {world} processes")
        self.world, self.rank = int(world), int(rank)
        self.lengths, self.batch_size = lengths, int(batch_size) * (self.world if shuffle else 1)
        self.bucket = max(1, int(bucket_batches)) * self.batch_size
        self.seed, self.shuffle = int(seed), shuffle
        self.epoch = 0
        self.start = 0  # batches of `self.epoch` already consumed (set on resume)
        # Lightning calls set_epoch on `loader.batch_sampler.sampler`: that is this object.
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def batches(self, epoch: int) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:  # evaluation: longest first, so memory peaks at once and not at the end
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(n)
        out: list[list[int]] = []
        for b in range(0, n, self.bucket):
            chunk = perm[b : b + self.bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            out += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        # split over processes, each must get a row of every batch (they step together)
        out = [b for b in out if len(b) >= self.world]
        return [out[i] for i in rng.permutation(len(out))]

    def __iter__(self) -> Iterator[list[int]]:
        start, self.start = self.start, 0
        for batch in self.batches(self.epoch)[start:]:
            if self.world == 1 or not self.shuffle:
                yield batch
            else:  # contiguous slices of a length-sorted batch: the processes' batches are alike in length
                yield np.array_split(np.asarray(batch), self.world)[self.rank].tolist()

    def __len__(self) -> int:
        n = len(self.lengths) // self.batch_size
        # a last, smaller batch; split over processes, each must get a row (they step together)
        rest = len(self.lengths) - n * self.batch_size
        return n + (rest >= (self.world if self.shuffle else 1))


def collate(items: list[tuple[np.ndarray, np.ndarray]], bos_id: int, pad_id: int) -> dict[str, Any]:
    """inputs [B, T] = <bos> + row[:-1], targets [B, T] = row, padded; θ [B, K]; n_tokens, the targets
    that are not padding; body characters are not known here (evaluation reads them from equations.jsonl)."""
    t = max(len(ids) for ids, _ in items)
    inputs = torch.full((len(items), t), pad_id, dtype=torch.long)
    targets = torch.full((len(items), t), pad_id, dtype=torch.long)
    for i, (ids, _) in enumerate(items):
        row = torch.from_numpy(ids)
        inputs[i, 0] = bos_id
        inputs[i, 1 : len(row)] = row[:-1]
        targets[i, : len(row)] = row
    theta = torch.from_numpy(np.stack([th for _, th in items]))
    # scored tokens, counted here on the host: the training step then needs no device-to-host sync
    return {"inputs": inputs, "targets": targets, "theta": theta, "n_tokens": sum(len(ids) for ids, _ in items)}


class _Collate:
    def __init__(self, bos_id: int, pad_id: int) -> None:
        self.bos_id, self.pad_id = bos_id, pad_id

    def __call__(self, items: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
        return collate(items, self.bos_id, self.pad_id)


class EquationDataModule(pl.LightningDataModule):
    def __init__(self, run_dir: str | Path | RunFolder, batch_size: int, eval_batch_size: int,
                 bucket_batches: int, num_workers: int, seed: int) -> None:
        super().__init__()
        self.run = as_folder(run_dir)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.bucket_batches, self.num_workers, self.seed = int(bucket_batches), int(num_workers), int(seed)
        vocab_file = self.run.path("vocab")
        if not vocab_file.exists():
            raise MissingInputError(f"{vocab_file}: no vocabulary; run `python -m pipeline stage=prepare` first")
        self.vocab = Vocabulary.load(vocab_file)
        self.theta, self.theta_row = load_theta(self.run)
        self.splits: dict[str, EquationSplit] = {}
        self._train_sampler: LengthBucketBatchSampler | None = None
        self._resume: tuple[int, int] | None = None

    @property
    def num_topics(self) -> int:
        return int(self.theta.shape[1])

    def split(self, name: str) -> EquationSplit:
        if name not in self.splits:
            self.splits[name] = EquationSplit(self.run, name, self.theta, self.theta_row)
        return self.splits[name]

    def _loader(self, name: str, train: bool) -> DataLoader:
        ds = self.split(name)
        trainer = getattr(self, "trainer", None)  # set by Lightning; its process group is up by now
        world, rank = (int(trainer.world_size), int(trainer.global_rank)) if trainer is not None else (1, 0)
        sampler = LengthBucketBatchSampler(ds.lengths, self.batch_size if train else self.eval_batch_size,
                                           self.bucket_batches, self.seed, shuffle=train, world=world, rank=rank)
        if train:
            if self._resume is not None:
                sampler.epoch, sampler.start = self._resume
                self._resume = None
            self._train_sampler = sampler
        # pinned host memory lets a GPU copy the next batch while it computes; no use on a CPU
        return DataLoader(ds, batch_sampler=sampler, collate_fn=_Collate(self.vocab.bos_id, self.vocab.pad_id),
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    # Lightning saves this in every checkpoint and gives it back before the loaders are built.
    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        # `processed` counts batches whose optimizer step is done in the current epoch (at
        # on_train_batch_end `completed` does not count the batch just done yet).
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": int(trainer.current_epoch), "batches_done": int(done), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self._resume = (int(state["epoch"]), int(state["batches_done"]))
