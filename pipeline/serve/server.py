"""The HTTP server around the app: uvicorn on a socket bound here (so port 0 gives a free port whose
number is known before the first request), loopback by default."""
from __future__ import annotations

import ipaddress
import socket

import uvicorn
from starlette.applications import Starlette


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one; sock.getsockname() says which)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(app: Starlette, sock: socket.socket, max_request_bytes: int) -> None:
    """Serve until interrupted (Ctrl-C)."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            # a request line (the query) may be as long as the app reads, and no longer
                            h11_max_incomplete_event_size=max_request_bytes + 16384)
    uvicorn.Server(config).run(sockets=[sock])
