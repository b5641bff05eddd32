"""HTTP fetching with timeouts and a size cap. feedparser never sees a URL, only these bytes and headers.

The skeleton does plain GETs; conditional GET, backoff and per-host politeness build on `FetchResult`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from pipeline import __version__

USER_AGENT = f"newswatch/{__version__} (+https://github.com/newswatch/newswatch; feed alerting bot)"
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch: a body and headers, or an `error` sentence saying what went wrong."""

    url: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


def fetch(url: str, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES) -> FetchResult:
    """GET `url`; never raises for network or HTTP problems (they become `FetchResult.error`)."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked in config)
            body = resp.read(max_bytes + 1)
            headers = {k.lower(): v for k, v in resp.headers.items()}
            if len(body) > max_bytes:
                return FetchResult(url, resp.status, headers=headers,
                                   error=f"response larger than {max_bytes} bytes; raise max_bytes if intended")
            return FetchResult(url, resp.status, body, headers)
    except urllib.error.HTTPError as e:
        return FetchResult(url, e.code, error=f"HTTP {e.code} {e.reason}")
    except TimeoutError:
        return FetchResult(url, 0, error=f"timed out after {timeout:g} s")
    except urllib.error.URLError as e:
        return FetchResult(url, 0, error=f"cannot connect: {e.reason}")
    except (OSError, ValueError) as e:
        return FetchResult(url, 0, error=f"fetch failed: {e}")


_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
