"""The web app (Starlette): one page and a small JSON API over an `Engine` and its `Batcher`.

    GET /                      the page (its script and style at /page/app.js, /page/style.css)
    GET /api/topics            the run's topics: id, name, papers with it on top
    GET /api/generate          words=... or topic=NAME; n, temperature, syntax, seed (POST: the same
                               as a form body, for long text)
    GET /api/fake              topic (optional), seed: a "Which is fake?" round
    GET /api/fake/answer       round, pick (0 or 1: the one taken for generated)
    GET /api/stats             requests worked and the batches they were worked in

Page assets are read once from the package into memory and served by exact name: no request's path
ever reaches the file system. Errors are JSON, {"error": message, ...}, with a 4xx status for a bad
request; the server keeps serving whatever a request holds.
"""
from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pipeline.serve import params
from pipeline.serve.batching import Batcher
from pipeline.serve.engine import Engine, Fake
from pipeline.serve.params import BadRequest, Limits

log = logging.getLogger(__name__)

ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
# The page runs only its own script, loads nothing from elsewhere, and is never framed.
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                      "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def page_assets() -> dict[str, bytes]:
    folder = resources.files("pipeline.serve") / "page"
    return {name: (folder / name).read_bytes() for name in ASSETS}


def create_app(engine: Engine, batcher: Batcher, limits: Limits, run_name: str, seed: int) -> Starlette:
    assets = page_assets()
    shown = run_name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    index = assets["index.html"].replace(b"{{run}}", shown.encode("utf-8", "replace"))

    async def read_params(request: Request) -> dict[str, str]:
        if request.method == "POST":
            size = request.headers.get("content-length")
            if size is not None and size.isdigit() and int(size) > limits.max_query_bytes:
                raise BadRequest(f"the request is {int(size):,} bytes; at most {limits.max_query_bytes:,} are read",
                                 status=413)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.max_query_bytes:
                    raise BadRequest(f"the request is over {limits.max_query_bytes:,} bytes, the most read", status=413)
            return params.query(body, limits)
        return params.query(request.scope.get("query_string", b""), limits)

    async def home(request: Request) -> Response:
        return Response(index, media_type=ASSETS["index.html"], headers=HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS or name == "index.html":
            return JSONResponse({"error": f"no page asset {name[:80]!r}"}, status_code=404, headers=HEADERS)
        return Response(assets[name], media_type=ASSETS[name], headers=HEADERS)

    async def topics(request: Request) -> Response:
        return JSONResponse({"run": run_name, "topics": engine.topic_list(), "fake_topics": engine.fakes.topics(),
                             "fake_source": engine.fakes.source, "fake_checked": engine.fakes_ready.is_set(),
                             "limits": {"n": limits.n, "max_n": limits.max_n, "max_words": limits.max_words,
                                        "temperature": limits.temperature, "max_temperature": limits.max_temperature,
                                        "syntax": limits.syntax}}, headers=HEADERS)

    async def stats(request: Request) -> Response:
        return JSONResponse({"requests": batcher.jobs, "batches": batcher.batches}, headers=HEADERS)

    async def run_job(job) -> Any:
        return await asyncio.wrap_future(batcher.submit(job))

    async def generate(request: Request) -> Response:
        ask = params.generate(await read_params(request), limits, seed)
        return JSONResponse(await run_job(engine.job(ask)), headers=HEADERS)

    async def fake(request: Request) -> Response:
        q = await read_params(request)
        ask = Fake(q.get("topic", "").strip() or None, params.integer(q, "seed", seed, 0, 2**31 - 1))
        return JSONResponse(await run_job(engine.job(ask)), headers=HEADERS)

    async def answer(request: Request) -> Response:
        q = await read_params(request)
        token = q.get("round", "")
        if not token:
            raise BadRequest("which round? round=... as /api/fake gave it")
        return JSONResponse(engine.answer(token, params.integer(q, "pick", 0, 0, 1)), headers=HEADERS)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status, headers=HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        what = "no such page or API" if exc.status_code == 404 else exc.detail
        return JSONResponse({"error": f"{what}: {request.method} {request.url.path[:200]}"},
                            status_code=exc.status_code, headers=HEADERS)

    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("serve: %s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"the server failed on this request ({type(exc).__name__}: {exc}); "
                                      "it keeps serving, and the log has the details"},
                            status_code=500, headers=HEADERS)

    routes = [Route("/", home), Route("/page/{name}", asset), Route("/api/topics", topics), Route("/api/stats", stats),
              Route("/api/generate", generate, methods=["GET", "POST"]), Route("/api/fake", fake),
              Route("/api/fake/answer", answer)]
    return Starlette(routes=routes, exception_handlers={BadRequest: bad_request, HTTPException: http_error,
                                                        Exception: crash})
