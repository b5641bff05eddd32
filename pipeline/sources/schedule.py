"""Pure polling policy: after each fetch, when is a feed due again, and is it healthy?

- Healthy feeds are polled at an interval adapted to how often they publish (an EWMA of new items per day),
  clamped to [min_interval, max_interval] — or at the feed's configured interval;
- never faster than the feed allows: RSS `<ttl>`, `Retry-After`, `Cache-Control: max-age` are floors;
- errors back off exponentially with jitter (feeds of one host do not retry in lock-step);
- after `quarantine_after` consecutive failures (or a 410 Gone) a feed is quarantined: re-probed every
  `quarantine_interval`, never dropped, and it recovers by itself on the first success.

Time and randomness are arguments (`now`, `rand` in [0, 1)), so every decision is reproducible in tests.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, replace

DAY = 86400.0
MAX_FLOOR = DAY  # a server cannot push a feed further out than a day with Retry-After or max-age


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    """Intervals in seconds."""

    default_interval: float = 300.0
    min_interval: float = 120.0
    max_interval: float = 4 * 3600.0
    backoff_base: float = 60.0
    backoff_max: float = 6 * 3600.0
    quarantine_after: int = 10
    quarantine_interval: float = 12 * 3600.0
    jitter: float = 0.25  # +-25 %


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store keeps per feed (keyed by the configured URL)."""

    url: str
    fetch_url: str = ""  # where it lives now, after permanent redirects
    etag: str = ""
    last_modified: str = ""
    body_hash: str = ""
    items: tuple[tuple[str, str], ...] = ()  # (item block key, story id) of the last body: what is not new
    interval: float = 0.0
    next_due: float = 0.0
    last_attempt: float = 0.0
    last_success: float = 0.0
    last_error: str = ""
    last_error_at: float = 0.0
    failures: int = 0
    quarantined: bool = False
    items_per_day: float = 0.0
    items_seen: int = 0
    not_modified: int = 0  # 304s and unchanged bodies, for `feeds status`


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of polling one feed, as the scheduler needs it."""

    ok: bool
    status: int = 200
    error: str = ""
    error_kind: str = ""
    unchanged: bool = False  # 304, or the same body hash
    new_items: int = 0
    retry_after: float | None = None
    ttl: float | None = None
    max_age: float | None = None


def after(state: FeedState, out: Outcome, now: float, policy: SchedulePolicy, rand: float,
          fixed_interval: float | None = None) -> tuple[FeedState, str]:
    """The feed's next state and a short reason for the log."""
    if out.ok:
        rate = _rate(state, out, now)
        interval = fixed_interval or adaptive_interval(rate, policy)
        floor = max((f for f in (out.ttl, out.retry_after, out.max_age) if f), default=0.0)
        interval = max(interval, min(floor, MAX_FLOOR))
        reason = "recovered" if state.failures else ("unchanged" if out.unchanged else "ok")
        return replace(
            state, interval=interval, next_due=now + interval * _jitter(rand, policy.jitter / 2),
            last_attempt=now, last_success=now, failures=0, quarantined=False, items_per_day=rate,
            items_seen=state.items_seen + out.new_items, not_modified=state.not_modified + out.unchanged,
        ), reason
    failures = state.failures + 1
    quarantine = failures >= policy.quarantine_after or out.error_kind == "gone"
    if quarantine:
        delay, reason = policy.quarantine_interval, f"quarantined after {failures} failure(s)"
    else:
        delay = min(policy.backoff_max, policy.backoff_base * 2 ** (failures - 1))
        reason = f"backing off (failure {failures})"
    if out.retry_after:
        delay = max(delay, min(out.retry_after, MAX_FLOOR))
    return replace(
        state, next_due=now + delay * _jitter(rand, policy.jitter), last_attempt=now, last_error=out.error,
        last_error_at=now, failures=failures, quarantined=quarantine,
    ), reason


def adaptive_interval(items_per_day: float, policy: SchedulePolicy) -> float:
    """About two polls per new item, clamped; a feed with no history yet gets the default."""
    if items_per_day <= 0:
        return max(policy.min_interval, min(policy.default_interval, policy.max_interval))
    return max(policy.min_interval, min(policy.max_interval, DAY / items_per_day / 2))


def _rate(state: FeedState, out: Outcome, now: float) -> float:
    """EWMA of new items per day, from new items since the last successful poll."""
    if not state.last_success:
        return 0.0  # the first body says nothing about the rate
    elapsed = max(now - state.last_success, 1.0)
    observed = out.new_items * DAY / elapsed
    if not state.items_per_day:
        return observed
    weight = min(1.0, elapsed / DAY)  # a day of observation replaces the old estimate
    return state.items_per_day * (1 - weight) + observed * weight


def _jitter(rand: float, spread: float) -> float:
    return 1.0 + spread * (2 * rand - 1)


def parse_retry_after(value: str, now: float) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def parse_max_age(cache_control: str) -> float | None:
    """`max-age` seconds from a Cache-Control header (ignored with no-cache / no-store)."""
    cc = cache_control.lower()
    m = re.search(r"max-age\s*=\s*(\d+)", cc)
    if not m or "no-cache" in cc or "no-store" in cc:
        return None
    return float(m.group(1))
