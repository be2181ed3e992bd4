"""serve: the demo as a local page and a JSON API over the run's trained model (docs/serve.md).

    python -m pipeline stage=serve                    # then open http://127.0.0.1:8765/
    python -m pipeline stage=serve serve.port=9000 run=mine

Context words or a topic → the inferred topic mixture → equations typeset by the project's TeX, each
with its compile verdict and whether it is (nearly) a training equation; "Which is fake?" rounds.
One model in memory; concurrent requests are decoded, compile-checked and typeset in batches
(pipeline/serve/). Binds to 127.0.0.1 unless `serve.host` says otherwise. Runs until Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import logging
import os

from omegaconf import DictConfig

from pipeline.runfolder import RunFolder

log = logging.getLogger(__name__)


def limits(cfg: DictConfig):
    from pipeline.serve.params import Limits

    s = cfg.serve
    return Limits(n=int(s.n), max_n=min(int(s.max_n), int(s.max_batch_rows)), max_words=int(s.max_words),
                  max_query_bytes=int(s.max_query_bytes), temperature=float(s.temperature),
                  max_temperature=float(s.max_temperature), syntax=bool(s.syntax))


def build(cfg: DictConfig, folder: RunFolder):
    """The engine (model loaded), its batcher (started) and the app: what the stage serves."""
    import torch

    from pipeline.serve.app import create_app
    from pipeline.serve.batching import Batcher
    from pipeline.serve.engine import Engine
    from pipeline.stages.sample import options

    torch.set_num_threads(int(cfg.serve.threads or os.cpu_count() or 1))
    opts, tex = options(cfg)
    opts = dataclasses.replace(opts, checkpoint=str(cfg.serve.checkpoint))
    tex = dataclasses.replace(tex, timeout_s=float(cfg.serve.tex_timeout_s))
    engine = Engine(folder, opts, tex, keep_rounds=int(cfg.serve.fake_rounds))
    batcher = Batcher(engine.process, wait_s=float(cfg.serve.batch_wait_ms) / 1000,
                      max_rows=int(cfg.serve.max_batch_rows)).start()
    return engine, batcher, create_app(engine, batcher, limits(cfg), str(cfg.run), int(cfg.seed))


def run(cfg: DictConfig, folder: RunFolder) -> dict:
    from pipeline.serve.server import bind, is_loopback, serve

    host, port = str(cfg.serve.host), int(cfg.serve.port)
    if not is_loopback(host):
        log.warning("serve: binding to %s, not loopback: anyone who reaches this address can use the model "
                    "and the machine's TeX", host)
    try:
        sock = bind(host, port)
    except OSError as exc:
        from pipeline.errors import StageError

        raise StageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another serve.port "
                         "(0: any free port)") from None
    engine, batcher, app = build(cfg, folder)
    h, p = sock.getsockname()[:2]
    url = f"http://{'[' + h + ']' if ':' in h else h}:{p}/"
    print(f"serving {url} (run {cfg.run}; Ctrl-C stops)", flush=True)
    try:
        serve(app, sock, limits(cfg).max_query_bytes)
    finally:
        batcher.stop()
        sock.close()
    return {"served": url}
