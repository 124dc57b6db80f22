"""Local receivers for tests of notifications: a webhook (an HTTP server collecting the JSON it is
sent) on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Webhook:
    """A running receiver: its URL, and every JSON body it got."""

    url: str
    got: list[dict] = field(default_factory=list)


@contextmanager
def webhook() -> Iterator[Webhook]:
    """A webhook receiver on a free local port, for the ``with`` block."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield hook
    finally:
        server.shutdown()


__all__ = ["Webhook", "webhook"]
