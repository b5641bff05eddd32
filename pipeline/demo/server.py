"""A small feed server on loopback, for the demo, the tests and the benchmarks.

`FeedServer.from_directory(root, later)` serves `root/NAME.xml` at `/NAME.xml`. If `later/NAME.xml` exists,
it is served from the second request on: an outlet that picks the story up after the first poll.

Routes are functions of the request, so tests can script anything a real server does: status codes, headers,
validators (ETag / 304), delays before the headers, and bodies streamed in chunks (slow drip, endless bodies).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Request:
    """What a route sees: the path, how many times it was requested before, and the request headers."""

    path: str
    n: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Response:
    """A body of bytes (sent with Content-Length, keep-alive) or an iterable of chunks (sent, then closed).

    `delay` seconds pass before the status line; `chunk_delay` between streamed chunks.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    chunk_delay: float = 0.0


Route = Callable[[Request], Response]


def content_type(body: bytes) -> str:
    """The media type a feed server would send for this document."""
    return "application/atom+xml; charset=utf-8" if b"<feed" in body[:500] else "application/rss+xml; charset=utf-8"


class FeedServer:
    """HTTP/1.1 server on a loopback address (ephemeral port by default); routes map a path to a function."""

    def __init__(self, routes: dict[str, Route], port: int = 0, host: str = "127.0.0.1") -> None:
        self.routes = routes
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up, as it should

            def _answer(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    n = server.hits.get(path, 0)
                    server.hits[path] = n + 1
                route = server.routes.get(path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                resp = route(Request(path, n, headers)) if route else Response(404, {}, b"not found")
                if resp.delay:
                    time.sleep(resp.delay)
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                if isinstance(resp.body, bytes):
                    self.send_header("Content-Length", str(len(resp.body)))
                    self.end_headers()
                    self.wfile.write(resp.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for chunk in resp.body:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if resp.chunk_delay:
                        time.sleep(resp.chunk_delay)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _QuietServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 128
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
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

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


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (as a fetcher with caps and deadlines does) are not errors."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def static(body: bytes, status: int = 200, **headers: str) -> Route:
    """A route that always answers the same (header names with `_` for `-`)."""
    hdrs = {"Content-Type": content_type(body), **{k.replace("_", "-"): v for k, v in headers.items()}}
    return lambda _: Response(status, hdrs, body)


def _versions(first: bytes, then: bytes) -> Route:
    def route(req: Request) -> Response:
        body = first if req.n == 0 else then
        return Response(200, {"Content-Type": content_type(body)}, body)

    return route
