"""Poll feeds: fetch with validators, skip unchanged bodies, parse, count new items, schedule the next poll.

`poll_feed` handles one feed (no Beam, no threads). `poll_all` runs many through a thread pool with a per-host
limit: each host's feeds are split into at most `per_host` lanes, each lane polls its feeds one after another
with `spacing` seconds between requests, so no host ever sees more than `per_host` requests at once.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from pipeline.model import FeedSpec, Story
from pipeline.sources.fetch import Fetcher, FetchPolicy
from pipeline.sources.parse import ItemBlocks, ParseResult, drop_old, parse_feed, split_items
from pipeline.sources.schedule import FeedState, Outcome, SchedulePolicy, after, parse_max_age, parse_retry_after

MAX_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class PollResult:
    """One feed polled: new stories, the feed's next state, and what happened (for logs and counters)."""

    feed: FeedSpec
    stories: tuple[Story, ...]
    state: FeedState
    outcome: Outcome
    reason: str
    skipped: dict[str, int] = field(default_factory=dict)
    moved_to: str = ""


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a cycle polls: limits per fetch, schedule policy, concurrency."""

    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    schedule: SchedulePolicy = field(default_factory=SchedulePolicy)
    workers: int = 16
    per_host: int = 2
    spacing: float = 0.0
    max_age: float | None = 72 * 3600.0
    use_validators: bool = True  # False only for the naive benchmark baseline
    shards: int = 1


def poll_feed(feed: FeedSpec, state: FeedState, fetcher: Fetcher, now: float, policy: SchedulePolicy,
              rand: float, max_age: float | None = None, use_validators: bool = True) -> PollResult:
    """Poll one feed. Never raises for anything the feed or its server does.

    With `use_validators` (the default), three things spare work on a feed that has not changed: the stored
    ETag / Last-Modified (a 304 has no body), the body hash (same bytes: no parse), and item blocks (only the
    items whose bytes changed are parsed). Without it, every poll fetches and parses the whole feed (the naive
    baseline of the benchmark).
    """
    url = state.fetch_url or feed.url
    got = fetcher.fetch(url, state.etag if use_validators else "", state.last_modified if use_validators else "")
    retry = parse_retry_after(got.headers.get("retry-after", ""), now)

    def done(new_state: FeedState, out: Outcome, label: str = "", stories: tuple[Story, ...] = (),
             skipped: dict[str, int] | None = None) -> PollResult:
        nxt, reason = after(new_state, out, now, policy, rand, feed.interval)
        return PollResult(feed, stories, nxt, out, label or reason, skipped or {}, got.moved_to)

    if got.error:
        return done(state, Outcome(False, got.status, got.error, got.error_kind, retry_after=retry))
    cache = parse_max_age(got.headers.get("cache-control", ""))
    fresh = replace(state, etag=got.headers.get("etag", state.etag),
                    last_modified=got.headers.get("last-modified", state.last_modified),
                    fetch_url=got.moved_to or state.fetch_url)
    unchanged = Outcome(True, got.status, unchanged=True, retry_after=retry, max_age=cache)
    if got.not_modified:
        return done(fresh, unchanged, "not-modified")
    body_hash = hashlib.sha1(got.body, usedforsecurity=False).hexdigest()
    if use_validators and body_hash == state.body_hash:
        return done(fresh, unchanged, "unchanged-body")
    # Relative links resolve against the server's Content-Location if it sent one, else the URL fetched.
    headers = {"content-location": got.final_url or url, **got.headers}
    known = dict(state.items)
    blocks = split_items(got.body)
    parsed: ParseResult | None = None
    changed: list[int] = list(range(len(blocks.blocks))) if blocks else []
    if blocks is not None and known and use_validators:
        changed = [i for i, k in enumerate(blocks.keys) if k not in known]
        parsed = parse_feed(blocks.only(set(changed)), headers, feed, now)
        if parsed.error or len(parsed.stories) + sum(parsed.skipped.values()) != len(changed):
            parsed = None  # the cut did not parse like the whole: fall back to the whole document
    if parsed is None:
        parsed = parse_feed(got.body, headers, feed, now)
        if parsed.error:
            return done(state, Outcome(False, got.status, parsed.error, "not-feed"))
        if blocks is not None and len(parsed.stories) + sum(parsed.skipped.values()) != len(blocks.blocks):
            blocks = None  # the cut and the parser disagree on the items: do not remember blocks
        changed = list(range(len(blocks.blocks))) if blocks else []
    items = _remember(blocks, changed, known, parsed)
    seen = set(known.values())
    if max_age is not None:
        parsed = drop_old(parsed, now - max_age)
    new = tuple(s for s in parsed.stories if s.id not in seen)
    out = Outcome(True, 200, new_items=len(new), retry_after=retry, ttl=parsed.ttl, max_age=cache)
    return done(replace(fresh, body_hash=body_hash, items=items), out, stories=new, skipped=dict(parsed.skipped))


def _remember(blocks: ItemBlocks | None, changed: list[int], known: dict[str, str],
              parsed: ParseResult) -> tuple[tuple[str, str], ...]:
    """(block key, story id) for the current body. Ids of changed blocks are known when no item was skipped
    (then blocks and stories line up); otherwise '' (the id only saves work, dedup still knows the story)."""
    if blocks is None:
        return ()
    fresh_ids = [s.id for s in parsed.stories] if not parsed.skipped else [""] * len(changed)
    ids = dict(zip(changed, fresh_ids, strict=False))
    return tuple((k, ids.get(i, known.get(k, ""))) for i, k in enumerate(blocks.keys))[:MAX_ITEMS]


def host_of(url: str) -> str:
    """The host a per-host limit applies to (host:port, lower case)."""
    return urllib.parse.urlsplit(url).netloc.lower()


def lanes(feeds: list[tuple[FeedSpec, FeedState]], per_host: int) -> list[list[tuple[FeedSpec, FeedState]]]:
    """Split feeds into sequential lanes: at most `per_host` lanes per host; longest lanes first."""
    by_host: dict[str, list[tuple[FeedSpec, FeedState]]] = defaultdict(list)
    for item in feeds:
        by_host[host_of(item[1].fetch_url or item[0].url)].append(item)
    out: list[list[tuple[FeedSpec, FeedState]]] = []
    for items in by_host.values():
        n = max(1, min(per_host, len(items)))
        out.extend(items[i::n] for i in range(n))
    return sorted(out, key=len, reverse=True)


def poll_all(feeds: list[tuple[FeedSpec, FeedState]], fetcher: Fetcher, now: float, policy: SchedulePolicy, *,
             workers: int = 16, per_host: int = 2, spacing: float = 0.0, max_age: float | None = None,
             use_validators: bool = True, stop: Callable[[], bool] = lambda: False,
             seed: int | None = None) -> Iterator[PollResult]:
    """Poll all feeds concurrently under the per-host limits; results are yielded as they complete."""
    rng = random.Random(seed)  # noqa: S311 (jitter, not security)
    rng_lock = threading.Lock()

    def draw() -> float:
        with rng_lock:
            return rng.random()

    def run_lane(lane: list[tuple[FeedSpec, FeedState]]) -> list[PollResult]:
        results = []
        for i, (feed, state) in enumerate(lane):
            if stop():
                break
            if i and spacing:
                time.sleep(spacing)
            results.append(poll_feed(feed, state, fetcher, now, policy, draw(), max_age, use_validators))
        return results

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="poll") as pool:
        futures = [pool.submit(run_lane, lane) for lane in lanes(feeds, per_host)]
        for fut in as_completed(futures):
            yield from fut.result()

