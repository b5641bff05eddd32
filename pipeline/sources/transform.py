"""ReadFeeds: FeedSpec -> Story over HTTP; ReadFeedFiles: local files -> Story (backtest). Errors are logged."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import telemetry as t
from pipeline.model import FeedSpec, Story
from pipeline.sources.fetch import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, fetch
from pipeline.sources.parse import ParseResult, drop_old, parse_feed

log = logging.getLogger("newswatch.sources")


class _Counted(beam.DoFn):  # type: ignore[misc]
    def __init__(self) -> None:
        self.ok = Metrics.counter(t.NAMESPACE, t.FEEDS_OK)
        self.failed = Metrics.counter(t.NAMESPACE, t.FEEDS_FAILED)
        self.stories = Metrics.counter(t.NAMESPACE, t.STORIES)
        self.skipped = Metrics.counter(t.NAMESPACE, t.ITEMS_SKIPPED)

    def emit(self, where: str, result: ParseResult) -> Iterator[Story]:
        if result.error:
            self.failed.inc()
            log.warning("feed %s: %s", where, result.error)
            return
        self.ok.inc()
        for reason, n in result.skipped.items():
            self.skipped.inc(n)
            log.info("feed %s: skipped %d item(s): %s", where, n, reason)
        self.stories.inc(len(result.stories))
        yield from result.stories


class _FetchParseFn(_Counted):
    def __init__(self, fetched: float, timeout: float, max_bytes: int, max_age: float | None) -> None:
        super().__init__()
        self.fetched, self.timeout, self.max_bytes, self.max_age = fetched, timeout, max_bytes, max_age

    def process(self, feed: FeedSpec) -> Iterator[Story]:
        got = fetch(feed.url, timeout=self.timeout, max_bytes=self.max_bytes)
        result = ParseResult(error=got.error) if got.error else parse_feed(got.body, got.headers, feed, self.fetched)
        if self.max_age is not None:
            result = drop_old(result, self.fetched - self.max_age)
        yield from self.emit(feed.url, result)


class ReadFeeds(beam.PTransform):  # type: ignore[misc]
    """Fetch and parse each feed; every story of this cycle carries `fetched` (the cycle's start time)."""

    def __init__(self, fetched: float, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_age: float | None = None) -> None:
        super().__init__()
        self.fetched, self.timeout, self.max_bytes, self.max_age = fetched, timeout, max_bytes, max_age

    def expand(self, feeds: beam.PCollection) -> beam.PCollection:
        fn = _FetchParseFn(self.fetched, self.timeout, self.max_bytes, self.max_age)
        return feeds | "FetchAndParse" >> beam.ParDo(fn)


class _ReadFileFn(_Counted):
    def __init__(self, cycle: float, now: float) -> None:
        super().__init__()
        self.cycle, self.now = cycle, now

    def process(self, path: str) -> Iterator[Story]:
        try:
            body = Path(path).read_bytes()
        except OSError as e:
            yield from self.emit(path, ParseResult(error=f"cannot read file: {e}"))
            return
        feed = FeedSpec(url=Path(path).resolve().as_uri(), name="")
        for story in self.emit(path, parse_feed(body, {}, feed, self.now)):
            # Replay as if polled every `cycle` seconds: a story is "fetched" at the first poll after publication.
            polled = math.ceil(story.published / self.cycle) * self.cycle
            yield replace(story, fetched=polled)


class ReadFeedFiles(beam.PTransform):  # type: ignore[misc]
    """Parse local RSS/Atom files as if they had been polled every `cycle` seconds (for backtests)."""

    def __init__(self, cycle: float, now: float) -> None:
        super().__init__()
        self.cycle, self.now = cycle, now

    def expand(self, paths: beam.PCollection) -> beam.PCollection:
        return paths | "ReadAndParse" >> beam.ParDo(_ReadFileFn(self.cycle, self.now))
