"""The pure polling policy: adaptive intervals, floors, backoff with jitter, quarantine and recovery."""

from __future__ import annotations

import pytest

from pipeline.sources.schedule import (
    DAY,
    FeedState,
    Outcome,
    SchedulePolicy,
    adaptive_interval,
    after,
    parse_max_age,
    parse_retry_after,
)

P = SchedulePolicy(default_interval=300, min_interval=120, max_interval=4 * 3600, backoff_base=60,
                   backoff_max=6 * 3600, quarantine_after=3, quarantine_interval=12 * 3600, jitter=0.0)
OK = Outcome(True)
FAIL = Outcome(False, 500, "HTTP 500", "server")


def test_new_feed_gets_default_interval() -> None:
    """With no publishing history a feed is polled at the default interval."""
    s, reason = after(FeedState("u"), OK, now=1000, policy=P, rand=0.5)
    assert (s.interval, s.next_due, reason) == (300, 1300, "ok")


@pytest.mark.parametrize(("per_day", "interval"), [(1000, 120), (48, 900), (1, 4 * 3600)])
def test_adaptive_interval_follows_publishing_rate(per_day: float, interval: float) -> None:
    """About two polls per new item, clamped to [min, max]."""
    assert adaptive_interval(per_day, P) == interval


def test_rate_is_learned_from_new_items() -> None:
    """New items since the last success raise the rate estimate and shorten the interval."""
    s = FeedState("u", last_success=0.0)
    s, _ = after(s, OK, now=1000, policy=P, rand=0.5)
    s, _ = after(s, Outcome(True, new_items=10), now=1000 + 3600, policy=P, rand=0.5)
    assert s.items_per_day == pytest.approx(240)
    assert s.interval == 180


@pytest.mark.parametrize(("out", "floor"), [
    (Outcome(True, ttl=3600), 3600), (Outcome(True, max_age=1800), 1800),
    (Outcome(True, retry_after=7200), 7200), (Outcome(True, retry_after=10 * DAY), DAY),
])
def test_server_floors_are_respected(out: Outcome, floor: float) -> None:
    """TTL, Cache-Control max-age and Retry-After are floors (capped at a day)."""
    s, _ = after(FeedState("u"), out, now=0, policy=P, rand=0.5)
    assert s.interval == floor


def test_fixed_interval_from_config_still_respects_floors() -> None:
    """A configured interval replaces the adaptive one but not the server's floor."""
    assert after(FeedState("u"), OK, 0, P, 0.5, fixed_interval=60)[0].interval == 60
    assert after(FeedState("u"), Outcome(True, ttl=600), 0, P, 0.5, fixed_interval=60)[0].interval == 600


def test_errors_back_off_exponentially_then_quarantine_then_recover() -> None:
    """60, 120 s of backoff, then quarantine at 12 h; the first success clears it all."""
    s = FeedState("u", interval=300)
    delays = []
    for i in range(3):
        s, reason = after(s, FAIL, now=i * 100_000, policy=P, rand=0.5)
        delays.append(s.next_due - i * 100_000)
    assert delays == [60, 120, 12 * 3600]
    assert s.quarantined and s.failures == 3 and reason == "quarantined after 3 failure(s)"
    assert s.last_error == "HTTP 500"
    s, reason = after(s, OK, now=10**6, policy=P, rand=0.5)
    assert reason == "recovered" and not s.quarantined and s.failures == 0


def test_gone_is_quarantined_at_once_but_still_probed() -> None:
    """A 410 quarantines immediately; the feed is still re-probed, never dropped."""
    s, _ = after(FeedState("u"), Outcome(False, 410, "gone", "gone"), now=0, policy=P, rand=0.5)
    assert s.quarantined and s.next_due == 12 * 3600


def test_retry_after_stretches_backoff() -> None:
    """A 429's Retry-After is honoured when longer than the backoff."""
    s, _ = after(FeedState("u"), Outcome(False, 429, "429", "rate-limited", retry_after=900), 0, P, 0.5)
    assert s.next_due == 900


def test_jitter_spreads_retries() -> None:
    """With jitter, two feeds failing together retry at different times."""
    jp = SchedulePolicy(backoff_base=60, jitter=0.5)
    a, _ = after(FeedState("a"), FAIL, 0, jp, rand=0.0)
    b, _ = after(FeedState("b"), FAIL, 0, jp, rand=0.99)
    assert a.next_due == 30 and b.next_due == pytest.approx(89.4)


def test_header_parsing() -> None:
    """Retry-After as seconds or HTTP date; max-age ignored with no-cache."""
    assert parse_retry_after("120", now=0) == 120
    assert parse_retry_after("Thu, 01 Jan 1970 00:02:00 GMT", now=60) == 60
    assert parse_retry_after("soon", now=0) is None
    assert parse_max_age("public, max-age=600") == 600
    assert parse_max_age("no-cache, max-age=600") is None
