"""Polling feeds over loopback: validators, unchanged bodies, new-item counting, per-host limits, recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.demo import FEEDS_DIR
from pipeline.demo.server import FeedServer, Request, Response, static
from pipeline.model import FeedSpec
from pipeline.sources.fetch import Fetcher, FetchPolicy
from pipeline.sources.poll import lanes, poll_all, poll_feed
from pipeline.sources.schedule import FeedState, SchedulePolicy

FEED = (FEEDS_DIR / "daily-mirror.xml").read_bytes()
POLICY = SchedulePolicy(jitter=0.0)


@pytest.fixture(name="fetcher")
def _fetcher() -> Iterator[Fetcher]:
    """A fetcher with short timeouts."""
    f = Fetcher(FetchPolicy(read_timeout=1, total_timeout=2))
    yield f
    f.close()


def etag_route(body: bytes, etag: str = '"v1"') -> object:
    """A server route honouring If-None-Match."""

    def route(req: Request) -> Response:
        if req.headers.get("if-none-match") == etag:
            return Response(304, {"ETag": etag})
        return Response(200, {"ETag": etag, "Content-Type": "application/rss+xml"}, body)

    return route


def test_second_poll_is_a_304_and_costs_no_parse(fetcher: Fetcher) -> None:
    """First poll: 3 new stories and the ETag stored; second poll: 304, no stories."""
    with FeedServer({"/f": etag_route(FEED)}) as s:  # type: ignore[dict-item]
        feed = FeedSpec(s.base_url + "/f", "Mirror")
        first = poll_feed(feed, FeedState(feed.url), fetcher, 1000, POLICY, 0.5, max_age=None)
        second = poll_feed(feed, first.state, fetcher, 2000, POLICY, 0.5, max_age=None)
    assert len(first.stories) == 3 and first.state.etag == '"v1"' and first.outcome.new_items == 3
    assert second.reason == "not-modified" and second.stories == () and second.state.not_modified == 1


def test_server_without_validators_unchanged_body_is_skipped(fetcher: Fetcher) -> None:
    """Same bytes again: no parse, no stories."""
    with FeedServer({"/f": static(FEED)}) as s:
        feed = FeedSpec(s.base_url + "/f", "")
        first = poll_feed(feed, FeedState(feed.url), fetcher, 1000, POLICY, 0.5, max_age=None)
        second = poll_feed(feed, first.state, fetcher, 2000, POLICY, 0.5, max_age=None)
    assert first.state.body_hash and second.reason == "unchanged-body" and second.stories == ()


def test_changed_body_yields_only_new_items(fetcher: Fetcher) -> None:
    """A body with one item added yields just that item."""
    extra = FEED.replace(b"<item>", b"<item><title>Brand new item</title><guid>new-1</guid></item><item>", 1)
    with FeedServer({"/f": lambda r: Response(200, {}, FEED if r.n == 0 else extra)}) as s:
        feed = FeedSpec(s.base_url + "/f", "")
        first = poll_feed(feed, FeedState(feed.url), fetcher, 1000, POLICY, 0.5, max_age=None)
        second = poll_feed(feed, first.state, fetcher, 2000, POLICY, 0.5, max_age=None)
    assert [x.title for x in second.stories] == ["Brand new item"] and second.outcome.new_items == 1


def test_html_error_page_is_a_feed_error(fetcher: Fetcher) -> None:
    """A 200 HTML page (captive portal, CMS error) is an error for that feed, not junk stories."""
    page = b"<!DOCTYPE html><html><head><title>Oops</title></head><body>Database error</body></html>"
    with FeedServer({"/f": static(page, Content_Type="text/html")}) as s:
        r = poll_feed(FeedSpec(s.base_url + "/f", ""), FeedState(s.base_url + "/f"), fetcher, 0, POLICY, 0.5)
    assert r.stories == () and not r.outcome.ok and r.outcome.error_kind == "not-feed"
    assert r.state.failures == 1 and "HTML page" in r.state.last_error


def test_permanent_redirect_updates_fetch_url(fetcher: Fetcher) -> None:
    """After a 301, the feed is polled at its new URL."""
    with FeedServer({"/old": static(b"", status=301, Location="/new"), "/new": static(FEED)}) as s:
        feed = FeedSpec(s.base_url + "/old", "")
        r = poll_feed(feed, FeedState(feed.url), fetcher, 0, POLICY, 0.5, max_age=None)
        again = poll_feed(feed, r.state, fetcher, 1, POLICY, 0.5, max_age=None)
        hits = dict(s.hits)
    assert r.moved_to == s.base_url + "/new" and r.state.fetch_url == s.base_url + "/new"
    assert again.reason == "unchanged-body" and hits == {"/old": 1, "/new": 2}


def test_feed_recovers_when_server_does(fetcher: Fetcher) -> None:
    """Failures back off; the first good answer brings the feed back with its stories."""
    with FeedServer({"/f": lambda r: Response(503, {}, b"down") if r.n < 2 else Response(200, {}, FEED)}) as s:
        feed = FeedSpec(s.base_url + "/f", "")
        st = FeedState(feed.url)
        for now in (0, 100):
            res = poll_feed(feed, st, fetcher, now, POLICY, 0.5, max_age=None)
            st = res.state
        assert st.failures == 2 and st.last_error == "HTTP 503"
        res = poll_feed(feed, st, fetcher, 1000, POLICY, 0.5, max_age=None)
    assert res.reason == "recovered" and len(res.stories) == 3 and res.state.failures == 0


def test_lanes_limit_per_host() -> None:
    """Feeds of one host go into at most `per_host` lanes; other hosts get their own."""
    feeds = [(FeedSpec(f"http://a.example/{i}", ""), FeedState(f"http://a.example/{i}")) for i in range(5)]
    feeds += [(FeedSpec("http://b.example/x", ""), FeedState("http://b.example/x"))]
    out = lanes(feeds, per_host=2)
    assert sorted(len(lane) for lane in out) == [1, 2, 3]


def test_poll_all_never_exceeds_per_host_concurrency(fetcher: Fetcher) -> None:
    """With 16 workers and per_host=2, one host never has more than 2 requests in flight; a slow feed does
    not hold up the others beyond its lane."""
    lock, inflight, peak = threading.Lock(), [0], [0]

    def route(req: Request) -> Response:
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        time.sleep(0.05)
        with lock:
            inflight[0] -= 1
        return Response(200, {}, FEED)

    with FeedServer({f"/{i}": route for i in range(12)}) as s:
        feeds = [(FeedSpec(f"{s.base_url}/{i}", ""), FeedState(f"{s.base_url}/{i}")) for i in range(12)]
        results = list(poll_all(feeds, fetcher, 0, POLICY, workers=16, per_host=2, max_age=None))
    assert len(results) == 12 and all(r.outcome.ok for r in results)
    assert peak[0] == 2


def test_only_changed_items_are_parsed(fetcher: Fetcher) -> None:
    """A new item and a new lastBuildDate: only the new item's block is parsed; a changed block of a known
    item (same id) is not reported as new."""
    v1 = FEED.replace(b"<language>en-gb</language>", b"<language>en-gb</language><lastBuildDate>1</lastBuildDate>")
    v2 = v1.replace(b"<lastBuildDate>1<", b"<lastBuildDate>2<").replace(
        b"<item>", b"<item><title>Fresh one</title><guid>fresh-1</guid></item><item>", 1).replace(
        b"Crowds gathered", b"Large crowds gathered")
    with FeedServer({"/f": lambda r: Response(200, {}, v1 if r.n == 0 else v2)}) as s:
        feed = FeedSpec(s.base_url + "/f", "")
        first = poll_feed(feed, FeedState(feed.url), fetcher, 1000, POLICY, 0.5, max_age=None)
        second = poll_feed(feed, first.state, fetcher, 2000, POLICY, 0.5, max_age=None)
    assert len(first.state.items) == 3 and all(sid for _, sid in first.state.items)
    assert [x.title for x in second.stories] == ["Fresh one"] and second.outcome.new_items == 1
    assert len(second.state.items) == 4 and all(sid for _, sid in second.state.items)
