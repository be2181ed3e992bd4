"""Latency of the serve stage's "Generate", measured against the real server, side by side in one run.

    .venv/bin/python bench/serve_latency.py [--run default] [--n 8] [--sequential 50] [--concurrent 20]

Starts `python -m pipeline stage=serve run=RUN serve.port=0` (a process of its own, as a user does),
then asks /api/generate for `--n` equations (context words, each request its own seed; compile checks
and typesetting included):
  1. `--sequential` requests one after another: p50, p95 and the slowest;
  2. `--concurrent` requests at once (threads), and the same requests one after another: the wall
     time of each, their ratio, the batches the server worked them in, and whether every concurrent
     answer is the equations its request gets alone.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["star gravity einstein mass galaxies", "prime numbers modular forms", "graph vertices edges coloring",
         "neural network training loss", "quantum field theory gauge", "probability random walk",
         "black hole horizon entropy", "elliptic curves rank"]


def start(run: str) -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "stage=serve", f"run={run}", "serve.port=0"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("serving http://"):
            u = urllib.parse.urlsplit(line.split()[1])
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, u.hostname, u.port
    raise SystemExit("the server did not start; is the run trained? (python -m pipeline)")


def get(host: str, port: int, path: str) -> dict:
    conn = http.client.HTTPConnection(host, port, timeout=300)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body}")
        return body
    finally:
        conn.close()


def generate_path(i: int, n: int, base: int) -> str:
    return "/api/generate?" + urllib.parse.urlencode({"words": WORDS[i % len(WORDS)], "n": n, "seed": base + i})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="default")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--sequential", type=int, default=50)
    ap.add_argument("--concurrent", type=int, default=20)
    ap.add_argument("--seed-base", type=int, default=None,
                    help="seeds of the requests start here (default: from the clock, so that no verdict is cached)")
    a = ap.parse_args()
    base = a.seed_base if a.seed_base is not None else int(time.time()) % 1_000_000 * 1000
    print(f"seeds from {base}")
    t0 = time.perf_counter()
    proc, host, port = start(a.run)
    print(f"server up in {time.perf_counter() - t0:.1f} s (start-up, model and topic model loaded)")
    try:
        t = time.perf_counter()
        while not get(host, port, "/api/topics")["fake_checked"]:  # its TeX work would share the cores
            time.sleep(0.5)
        print(f"\"Which is fake?\" pairs checked {time.perf_counter() - t:.1f} s later (in the background)")
        for i in range(3):  # warm-up: first calls pay for lazy imports and TeX's format load
            get(host, port, generate_path(900 + i, a.n, base))
        lat, compiled, total, dec, tex = [], 0, 0, [], []
        for i in range(a.sequential):
            t = time.perf_counter()
            r = get(host, port, generate_path(i, a.n, base))
            lat.append(time.perf_counter() - t)
            compiled += r["compiled"]
            total += len(r["equations"])
            dec.append(r["timing"]["decode_s"])
            tex.append(r["timing"]["tex_s"])
        p50, p95 = np.percentile(lat, [50, 95])
        print(f"\n{a.sequential} sequential requests of {a.n} equations: p50 {p50:.2f} s, p95 {p95:.2f} s, "
              f"slowest {max(lat):.2f} s; {compiled}/{total} compiled")
        print(f"  of which decoding: p50 {np.percentile(dec, 50):.2f} s, p95 {np.percentile(dec, 95):.2f} s; "
              f"TeX (check and typeset): p50 {np.percentile(tex, 50):.2f} s, p95 {np.percentile(tex, 95):.2f} s; "
              f"the rest (HTTP, JSON, waiting for a batch): p50 "
              f"{np.percentile(np.array(lat) - np.array(dec) - np.array(tex), 50):.2f} s")

        ids = list(range(500, 500 + a.concurrent))
        got: dict[int, dict] = {}
        before = get(host, port, "/api/stats")
        t = time.perf_counter()
        threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, get(host, port, generate_path(i, a.n, base))))
                   for i in ids]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        together = time.perf_counter() - t
        after = get(host, port, "/api/stats")
        t = time.perf_counter()
        alone = {i: get(host, port, generate_path(i, a.n, base)) for i in ids}
        one_by_one = time.perf_counter() - t
        answered = sum(len(got[i]["equations"]) == a.n and got[i]["conditioning"]["words"] == WORDS[i % len(WORDS)]
                       for i in got)
        same = sum(x["latex"] == y["latex"] for i in ids for x, y in zip(got[i]["equations"], alone[i]["equations"]))
        print(f"\n{a.concurrent} concurrent requests: {together:.2f} s in {after['batches'] - before['batches']} "
              f"batches; the same {a.concurrent} one after another: {one_by_one:.2f} s; ratio concurrent / "
              f"sequential {together / one_by_one:.2f}")
        print(f"  answered with {a.n} equations for their own words: {answered} of {a.concurrent}; equations the same "
              f"as their request's alone: {same} of {a.concurrent * a.n} (the rest: a last-bit difference of "
              "another batch size tipped a draw; pipeline/model/decoder.py)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
