"""Requests of many users, worked on together: a queue and one worker thread that takes the first
waiting job, waits `wait_s` for others (up to `max_rows` sequences in all), and hands them to the
engine as one batch. One model in memory, one decoding loop at a time; a batch that fails answers
its jobs with the error and the worker goes on with the next."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

log = logging.getLogger(__name__)


class Batcher:
    def __init__(self, process: Callable[[Sequence], None], wait_s: float = 0.01, max_rows: int = 512) -> None:
        self.process, self.wait_s, self.max_rows = process, float(wait_s), int(max_rows)
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.batches = 0  # batches worked (the latency benchmark reports jobs per batch)
        self.jobs = 0

    def start(self) -> "Batcher":
        self._thread = threading.Thread(target=self._work, name="serve-batcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def submit(self, job) -> Future:
        """Queue a job (it has `.rows` and `.future`); its future answers when its batch is done."""
        self._queue.put(job)
        return job.future

    def _work(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                return
            batch, rows = [first], first.rows
            deadline = time.monotonic() + self.wait_s
            while rows < self.max_rows:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._stop.set()
                    break
                if rows + nxt.rows > self.max_rows:
                    self._queue.put(nxt)  # the next batch's (order among waiting jobs hardly matters)
                    break
                batch.append(nxt)
                rows += nxt.rows
            self.batches += 1
            self.jobs += len(batch)
            try:
                self.process(batch)
            except Exception as exc:  # noqa: BLE001 - the server keeps serving; each job hears why
                log.exception("serve: a batch of %d requests failed", len(batch))
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(exc)
