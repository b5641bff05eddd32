"""Fetching against a loopback server that misbehaves the ways real feed servers do."""

from __future__ import annotations

import gzip
import itertools
import socket
import time
import zlib
from collections.abc import Iterator

import pytest

from pipeline.demo import FEEDS_DIR
from pipeline.demo.server import FeedServer, Request, Response, Route, static
from pipeline.sources.fetch import Fetcher, FetchPolicy

FEED = (FEEDS_DIR / "daily-mirror.xml").read_bytes()


def serve(routes: dict[str, Route]) -> FeedServer:
    """A feed server with these routes (started by `with`)."""
    return FeedServer(routes)


@pytest.fixture(name="fetcher")
def _fetcher() -> Iterator[Fetcher]:
    """A fetcher with short limits so fault tests run fast."""
    f = Fetcher(FetchPolicy(connect_timeout=1, read_timeout=0.5, total_timeout=1.5, max_bytes=1_000_000,
                            max_decoded_bytes=2_000_000, max_redirects=3))
    yield f
    f.close()


def test_plain_feed(fetcher: Fetcher) -> None:
    """A normal 200 gives the body and lower-cased headers."""
    with serve({"/f": static(FEED)}) as s:
        r = fetcher.fetch(s.base_url + "/f")
    assert r.status == 200 and r.body == FEED and r.headers["content-type"].startswith("application/rss+xml")
    assert not r.error and r.final_url == s.base_url + "/f"


def test_conditional_get_sends_validators_and_gets_304(fetcher: Fetcher) -> None:
    """Stored ETag and Last-Modified are sent; a 304 has no body."""
    seen: list[dict[str, str]] = []

    def route(req: Request) -> Response:
        seen.append(req.headers)
        if req.headers.get("if-none-match") == '"v1"':
            return Response(304, {"ETag": '"v1"'})
        return Response(200, {"ETag": '"v1"'}, FEED)

    with serve({"/f": route}) as s:
        first = fetcher.fetch(s.base_url + "/f")
        second = fetcher.fetch(s.base_url + "/f", etag=first.headers["etag"], last_modified="Wed, 28 Dec 2022")
    assert first.status == 200 and second.not_modified and second.body == b""
    assert seen[1]["if-none-match"] == '"v1"' and seen[1]["if-modified-since"] == "Wed, 28 Dec 2022"
    assert seen[0]["user-agent"].startswith("newswatch/")


def test_slow_headers_time_out(fetcher: Fetcher) -> None:
    """A server that does not answer within the read timeout is a timeout error."""
    with serve({"/f": lambda _: Response(200, {}, FEED, delay=2.0)}) as s:
        r = fetcher.fetch(s.base_url + "/f")
    assert r.error_kind == "timeout" and "timed out" in r.error


def test_slow_drip_body_hits_total_deadline(fetcher: Fetcher) -> None:
    """A body dripping one byte at a time (each read within the read timeout) is cut at the total deadline."""
    drip = (b"x" for _ in range(10_000))
    with serve({"/f": lambda _: Response(200, {}, drip, chunk_delay=0.05)}) as s:
        t0 = time.monotonic()
        r = fetcher.fetch(s.base_url + "/f")
    assert r.error_kind == "timeout" and "not complete after 1.5 s" in r.error
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize(("status", "kind", "text"), [
    (500, "server", "HTTP 500"), (503, "server", "HTTP 503"), (404, "http", "HTTP 404"),
    (410, "gone", "HTTP 410 Gone: the publisher removed this feed; remove it from the config"),
])
def test_http_errors_are_classified(fetcher: Fetcher, status: int, kind: str, text: str) -> None:
    """Error statuses come back with a kind the scheduler acts on."""
    with serve({"/f": static(b"<html>error</html>", status=status)}) as s:
        r = fetcher.fetch(s.base_url + "/f")
    assert (r.status, r.error_kind, r.error) == (status, kind, text)


def test_429_keeps_retry_after(fetcher: Fetcher) -> None:
    """A 429 is rate-limited and its Retry-After header is kept for the scheduler."""
    with serve({"/f": static(b"slow down", status=429, Retry_After="120")}) as s:
        r = fetcher.fetch(s.base_url + "/f")
    assert r.error_kind == "rate-limited" and r.headers["retry-after"] == "120"


@pytest.mark.parametrize(("codes", "moved"), [((301,), True), ((308,), True), ((302,), False), ((301, 307), False)])
def test_redirects_followed_and_permanent_ones_reported(fetcher: Fetcher, codes: tuple[int, ...],
                                                        moved: bool) -> None:
    """Redirects are followed; only an all-permanent chain reports the new URL."""
    routes: dict[str, Route] = {"/new": static(FEED)}
    for i, code in enumerate(codes):
        target = "/new" if i == len(codes) - 1 else f"/hop{i + 1}"
        routes[f"/hop{i}"] = static(b"", status=code, Location=target)
    with serve(routes) as s:
        r = fetcher.fetch(s.base_url + "/hop0")
    assert r.status == 200 and r.body == FEED and r.final_url == s.base_url + "/new"
    assert r.moved_to == (s.base_url + "/new" if moved else "")


def test_redirect_loop_is_an_error(fetcher: Fetcher) -> None:
    """A redirect loop stops at the limit with a clear error."""
    with serve({"/a": static(b"", status=302, Location="/b"), "/b": static(b"", status=302, Location="/a")}) as s:
        r = fetcher.fetch(s.base_url + "/a")
    assert r.error_kind == "redirects" and r.error == "more than 3 redirects; fix the feed URL"


def test_gzip_is_decoded(fetcher: Fetcher) -> None:
    """gzip and deflate bodies are decompressed before parsing."""
    with serve({"/g": static(gzip.compress(FEED), Content_Encoding="gzip"),
                "/d": static(zlib.compress(FEED), Content_Encoding="deflate")}) as s:
        g, d = fetcher.fetch(s.base_url + "/g"), fetcher.fetch(s.base_url + "/d")
    assert g.body == FEED and d.body == FEED and "content-encoding" not in g.headers


def test_gzip_bomb_is_refused(fetcher: Fetcher) -> None:
    """A small gzip body that expands past the decompressed cap is refused without expanding it."""
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    with serve({"/b": static(bomb, Content_Encoding="gzip")}) as s:
        r = fetcher.fetch(s.base_url + "/b")
    assert r.error_kind == "too-large" and "compression bomb" in r.error


def test_endless_body_is_capped(fetcher: Fetcher) -> None:
    """A 1 GB body without Content-Length is cut at the size cap (nothing near 1 GB is read)."""
    gigabyte = itertools.repeat(b"y" * 65536, 16384)
    with serve({"/big": lambda _: Response(200, {}, gigabyte)}) as s:
        r = fetcher.fetch(s.base_url + "/big")
    assert r.error_kind == "too-large" and "1000000-byte cap" in r.error


def test_declared_huge_length_refused_before_reading(fetcher: Fetcher) -> None:
    """A Content-Length over the cap is refused from the headers."""
    with serve({"/big": lambda _: Response(200, {"Content-Length": str(1 << 30)}, iter([b"x"]))}) as s:
        r = fetcher.fetch(s.base_url + "/big")
    assert r.error_kind == "too-large" and r.error.startswith("response is 1073741824 bytes")


def test_connection_refused(fetcher: Fetcher) -> None:
    """Nothing listening is a connect error, not an exception."""
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = fetcher.fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert r.error_kind == "connect" and r.error.startswith("cannot connect")


def test_truncated_body_is_an_error(fetcher: Fetcher) -> None:
    """A body shorter than its Content-Length (connection dropped) is an error."""
    with serve({"/t": lambda _: Response(200, {"Content-Length": "5000"}, iter([FEED[:300]]))}) as s:
        r = fetcher.fetch(s.base_url + "/t")
    assert r.error_kind == "connect" and "connection broken" in r.error
