"""HTTP fetching that survives the real web. feedparser never sees a URL, only these bytes and headers.

- connect and read timeouts, plus a total deadline per response (a slow-drip body cannot hold a worker);
- a cap on the bytes received and a separate cap on the decompressed size (gzip/deflate bombs);
- redirects followed by hand up to a limit; an all-permanent chain (301/308) is reported as `moved_to`;
- conditional GET: send the stored ETag / Last-Modified, a 304 costs no body and no parse;
- a descriptive User-Agent.

Problems never raise: they come back as `FetchResult.error` (one sentence) and `error_kind` (for scheduling).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field, replace

from pipeline import __version__

USER_AGENT = f"newswatch/{__version__} (feed alerting bot; +https://github.com/newswatch/newswatch)"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 15.0
_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, " \
          "text/xml;q=0.9, */*;q=0.1"
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for one fetch. Times in seconds, sizes in bytes."""

    connect_timeout: float = 10.0
    read_timeout: float = DEFAULT_TIMEOUT
    total_timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_decoded_bytes: int = 4 * DEFAULT_MAX_BYTES
    max_redirects: int = 5
    user_agent: str = USER_AGENT


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch: a body and headers (status 200), a 304, or an `error` saying what went wrong.

    `error_kind` is one of: timeout, connect, http (4xx), server (5xx), rate-limited, gone (410), too-large,
    redirects, decode. `moved_to` is set when the feed answered through permanent redirects only.
    """

    url: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""
    final_url: str = ""
    moved_to: str = ""
    seconds: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class _Pool:
    """Idle keep-alive connections per (scheme, host, port), at most `size` each; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def put(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.size:
                idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()


class Fetcher:
    """Fetches for a whole worker process: thread-safe, keep-alive connections reused per host.

    Built on the standard library's http.client (which urllib3 and requests wrap too): one GET costs about
    half the CPU it costs through urllib3, and the worker makes tens of thousands of them per hour.
    """

    def __init__(self, policy: FetchPolicy | None = None, pool_size: int = 4) -> None:
        self.policy = policy or FetchPolicy()
        self._headers = {"User-Agent": self.policy.user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
        self._pool = _Pool(pool_size)
        self._tls = ssl.create_default_context()

    def close(self) -> None:
        self._pool.clear()

    def fetch(self, url: str, etag: str = "", last_modified: str = "") -> FetchResult:
        """GET `url` with validators; follows redirects; never raises for network or HTTP problems."""
        started = time.monotonic()
        deadline = started + self.policy.total_timeout
        conditional = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
        current, permanent = url, True
        for _ in range(self.policy.max_redirects + 1):
            result = self._one(url, current, conditional, deadline)
            if result.status in _REDIRECTS and "location" in result.headers:
                permanent = permanent and result.status in _PERMANENT
                current = urllib.parse.urljoin(current, result.headers["location"])
                continue
            moved = current if permanent and current != url else ""
            return replace(result, final_url=current, moved_to=moved, seconds=time.monotonic() - started)
        return FetchResult(url, 0, error=f"more than {self.policy.max_redirects} redirects; fix the feed URL",
                           error_kind="redirects", final_url=current, seconds=time.monotonic() - started)

    def _connection(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = key
        p = self.policy
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=p.connect_timeout, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=p.connect_timeout)

    def _send(self, key: tuple[str, str, int], target: str,
              headers: dict[str, str]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send on an idle kept-alive connection if there is one (once more on a fresh one if the server had
        closed it meanwhile), else on a new connection."""
        reused = self._pool.get(key)
        for candidate in ([reused] if reused else []) + [None]:
            conn = candidate or self._connection(key)
            try:
                if conn.sock is None:
                    conn.connect()
                    conn.sock.settimeout(self.policy.read_timeout)  # type: ignore[attr-defined]
                conn.request("GET", target, headers=headers)
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if candidate is None:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _one(  # noqa: PLR0911 (one return per way a response can end)
        self, url: str, current: str, conditional: dict[str, str], deadline: float
    ) -> FetchResult:
        p = self.policy
        parts = urllib.parse.urlsplit(current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return FetchResult(url, 0, error=f"not an http(s) URL: {current!r}", error_kind="redirects")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return FetchResult(url, 0, error=f"bad port in URL {current!r}", error_kind="connect")
        key = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn, resp = self._send(key, target, {**self._headers, **conditional})
        except TimeoutError:
            return FetchResult(url, 0, error=f"timed out after {p.read_timeout:g} s", error_kind="timeout")
        except (OSError, http.client.HTTPException) as e:
            return FetchResult(url, 0, error=f"cannot connect: {_reason(e)}", error_kind="connect")
        reuse = False  # only a connection whose response was read to the end goes back to the pool
        try:
            headers = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
            if status == 304:
                resp.read()
                reuse = True
                return FetchResult(url, status, headers=headers)
            if status in _REDIRECTS:
                return FetchResult(url, status, headers=headers)
            if status != 200:
                return _http_error(url, status, headers)
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > p.max_bytes:
                return FetchResult(url, status, headers=headers, error_kind="too-large",
                                   error=f"response is {int(length)} bytes, over the {p.max_bytes}-byte cap")
            raw, err = _read_capped(resp, p.max_bytes, deadline, p.total_timeout)
            if err:
                return FetchResult(url, status, headers=headers, error=err[1], error_kind=err[0])
            body, derr = _decode(raw, headers.get("content-encoding", ""), p.max_decoded_bytes)
            if derr:
                return FetchResult(url, status, headers=headers, error=derr[1], error_kind=derr[0])
            headers.pop("content-encoding", None)  # the body handed on is decoded
            reuse = True
            return FetchResult(url, status, body, headers)
        except TimeoutError:
            return FetchResult(url, 0, error=f"timed out after {p.read_timeout:g} s reading the body",
                               error_kind="timeout")
        except (OSError, http.client.HTTPException) as e:
            return FetchResult(url, 0, error=f"connection broken while reading: {_reason(e)}", error_kind="connect")
        finally:
            if reuse and not resp.will_close:
                self._pool.put(key, conn)
            else:
                conn.close()


def _read_capped(resp: http.client.HTTPResponse, cap: int, deadline: float,
                 total: float) -> tuple[bytes, tuple[str, str] | None]:
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            return b"", ("timeout", f"body not complete after {total:g} s (slow or stalled server)")
        chunk = resp.read1(_CHUNK)
        if not chunk:
            if resp.length:  # http.client does not raise when a Content-Length body is cut short
                return b"", ("connect", f"connection broken while reading: body ended {resp.length} bytes short")
            resp.read()  # marks the response closed, so the connection can carry the next request
            return b"".join(parts), None
        size += len(chunk)
        if size > cap:
            return b"", ("too-large", f"response larger than the {cap}-byte cap; raise max_bytes if intended")
        parts.append(chunk)


def _decode(raw: bytes, encoding: str, cap: int) -> tuple[bytes, tuple[str, str] | None]:
    """Decompress gzip/deflate with an output cap, so a small bomb cannot expand into gigabytes."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return raw, None
    if enc not in ("gzip", "x-gzip", "deflate"):
        return b"", ("decode", f"unsupported Content-Encoding {encoding!r}")
    attempts = (zlib.MAX_WBITS | 32,) if enc != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(raw, cap + 1)
        except zlib.error as e:
            last = e
            continue
        if len(out) > cap or d.unconsumed_tail:
            return b"", ("too-large", f"decompressed body exceeds the {cap}-byte cap (compression bomb?)")
        return out + d.flush(), None
    return b"", ("decode", f"cannot decompress {encoding} body: {last}")


def _http_error(url: str, status: int, headers: dict[str, str]) -> FetchResult:
    if status == 429:
        ra = headers.get("retry-after", "")
        return FetchResult(url, status, headers=headers, error_kind="rate-limited",
                           error=f"HTTP 429 Too Many Requests (Retry-After: {ra or 'none'})")
    if status == 410:
        return FetchResult(url, status, headers=headers, error_kind="gone",
                           error="HTTP 410 Gone: the publisher removed this feed; remove it from the config")
    kind = "server" if status >= 500 else "http"
    return FetchResult(url, status, headers=headers, error=f"HTTP {status}", error_kind=kind)


def _reason(e: BaseException) -> str:
    return str(e) or type(e).__name__

