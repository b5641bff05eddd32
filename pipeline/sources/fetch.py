"""HTTP fetching that survives the real web. feedparser never sees a URL, only these bytes and headers.

- connect and read timeouts, plus a total deadline per response (a slow-drip body cannot hold a worker);
- a cap on the bytes received and a separate cap on the decompressed size (gzip/deflate bombs);
- redirects followed by hand up to a limit; an all-permanent chain (301/308) is reported as `moved_to`;
- conditional GET: send the stored ETag / Last-Modified, a 304 costs no body and no parse;
- a descriptive User-Agent.

Problems never raise: they come back as `FetchResult.error` (one sentence) and `error_kind` (for scheduling).
"""

from __future__ import annotations

import time
import urllib.parse
import zlib
from dataclasses import dataclass, field

import urllib3

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


class Fetcher:
    """One connection pool for all fetches of a worker process (thread-safe, keep-alive per host)."""

    def __init__(self, policy: FetchPolicy | None = None, pool_size: int = 4) -> None:
        self.policy = policy or FetchPolicy()
        self._headers = {"User-Agent": self.policy.user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
        self._pool = urllib3.PoolManager(
            num_pools=512, maxsize=pool_size, block=False, retries=False,
            timeout=urllib3.Timeout(connect=self.policy.connect_timeout, read=self.policy.read_timeout),
        )

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
            return _with(result, final_url=current, moved_to=moved, seconds=time.monotonic() - started)
        return FetchResult(url, 0, error=f"more than {self.policy.max_redirects} redirects; fix the feed URL",
                           error_kind="redirects", final_url=current, seconds=time.monotonic() - started)

    def _one(  # noqa: PLR0911 (one return per way a response can end)
        self, url: str, current: str, conditional: dict[str, str], deadline: float
    ) -> FetchResult:
        p = self.policy
        if not current.startswith(("http://", "https://")):
            return FetchResult(url, 0, error=f"redirected to a non-HTTP URL {current!r}", error_kind="redirects")
        try:
            resp = self._pool.request("GET", current, headers={**self._headers, **conditional}, preload_content=False,
                                      decode_content=False, redirect=False, retries=False)
        except urllib3.exceptions.NewConnectionError as e:  # (a subclass of ConnectTimeoutError)
            return FetchResult(url, 0, error=f"cannot connect: {_reason(e)}", error_kind="connect")
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError):
            return FetchResult(url, 0, error=f"timed out after {p.read_timeout:g} s", error_kind="timeout")
        except urllib3.exceptions.HTTPError as e:
            return FetchResult(url, 0, error=f"cannot connect: {_reason(e)}", error_kind="connect")
        reuse = False  # only a connection whose response was read to the end goes back to the pool
        try:
            headers = {k.lower(): v for k, v in resp.headers.items()}
            status = resp.status
            if status == 304:
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
        except urllib3.exceptions.ReadTimeoutError:
            return FetchResult(url, 0, error=f"timed out after {p.read_timeout:g} s reading the body",
                               error_kind="timeout")
        except (urllib3.exceptions.HTTPError, OSError) as e:
            return FetchResult(url, 0, error=f"connection broken while reading: {_reason(e)}", error_kind="connect")
        finally:
            if not reuse:
                resp.close()
            resp.release_conn()


def _read_capped(resp: urllib3.BaseHTTPResponse, cap: int, deadline: float,
                 total: float) -> tuple[bytes, tuple[str, str] | None]:
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            return b"", ("timeout", f"body not complete after {total:g} s (slow or stalled server)")
        chunk = resp.read1(_CHUNK, decode_content=False)
        if not chunk:
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
    inner = getattr(e, "reason", None)
    return str(inner or e)


def _with(r: FetchResult, **changes: object) -> FetchResult:
    from dataclasses import replace

    return replace(r, **changes)  # type: ignore[arg-type]


def fetch(url: str, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES) -> FetchResult:
    """One-off fetch with a fresh pool (tools and tests); the worker keeps one `Fetcher` per process."""
    f = Fetcher(FetchPolicy(read_timeout=timeout, max_bytes=max_bytes))
    try:
        return f.fetch(url)
    finally:
        f.close()
