"""A small feed server on loopback, for the demo and the tests.

`FeedServer.from_directory(root, later)` serves `root/NAME.xml` at `/NAME.xml`. If `later/NAME.xml` exists,
it is served from the second request on: an outlet that picks the story up after the first poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Response = tuple[int, dict[str, str], bytes]
Route = Callable[[int], Response]  # called with how many times this path was requested before


def _content_type(body: bytes) -> str:
    head = body[:500]
    return "application/atom+xml; charset=utf-8" if b"<feed" in head else "application/rss+xml; charset=utf-8"


class FeedServer:
    """HTTP server on 127.0.0.1 (ephemeral port by default); routes map a path to a response function."""

    def __init__(self, routes: dict[str, Route], port: int = 0) -> None:
        self.routes = routes
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    n = server.hits.get(path, 0)
                    server.hits[path] = n + 1
                route = server.routes.get(path)
                status, headers, body = route(n) if route else (404, {"Content-Type": "text/plain"}, b"not found")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="feed-server", daemon=True)

    @classmethod
    def from_directory(cls, root: Path, later: Path | None = None, port: int = 0) -> FeedServer:
        routes: dict[str, Route] = {}
        for f in sorted(root.glob("*.xml")):
            first = f.read_bytes()
            then = (later / f.name).read_bytes() if later and (later / f.name).exists() else first
            routes[f"/{f.name}"] = _versions(first, then)
        return cls(routes, port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def urls(self) -> list[str]:
        return [self.base_url + p for p in sorted(self.routes)]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _versions(first: bytes, then: bytes) -> Route:
    def route(n: int) -> Response:
        body = first if n == 0 else then
        return 200, {"Content-Type": _content_type(body)}, body

    return route
