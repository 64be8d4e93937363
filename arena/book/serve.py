"""Serving a built book on 127.0.0.1 (the CLI's `serve` and the browser tests share this)."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Serving a static site: one log line per request would drown the address."""


def make_server(directory: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server for `directory` on 127.0.0.1 only (port 0 picks a free port)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    return ThreadingHTTPServer((HOST, port), handler)


def address(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve_in_thread(directory: Path) -> ThreadingHTTPServer:
    """Start a server in a daemon thread; stop it with `server.shutdown()`."""
    server = make_server(directory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
