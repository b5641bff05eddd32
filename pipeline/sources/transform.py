"""ReadFeeds: due FeedSpecs -> new Stories, polling politely; ReadFeedFiles: local files -> Stories (backtest).

Feeds are grouped into shards by host (one shard on the local runner) and each shard is polled by a thread
pool under per-host limits. Each feed's new state (validators, body hash, schedule, health) is *staged* in the
store; the worker commits it at the end of the cycle together with the cycle's stories.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline import telemetry as t
from pipeline.model import FeedSpec, Story
from pipeline.shutdown import STOP
from pipeline.sources.fetch import Fetcher
from pipeline.sources.parse import ParseResult, parse_feed
from pipeline.sources.poll import PollResult, PollSettings, host_of, poll_all
from pipeline.sources.schedule import FeedState
from pipeline.state.sqlite import SqliteStore

log = logging.getLogger("newswatch.sources")
STAGE_BATCH = 500  # feed states written per transaction


class _PollShardFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, state_path: str, now: float | None, settings: PollSettings) -> None:
        self.state_path, self.now, self.settings = state_path, now, settings
        self._now = now or 0.0
        self.counters = {name: Metrics.counter(t.NAMESPACE, name) for name in (
            t.FEEDS_OK, t.FEEDS_FAILED, t.FEEDS_NOT_MODIFIED, t.FEEDS_QUARANTINED, t.STORIES, t.ITEMS_SKIPPED)}

    def setup(self) -> None:
        self.store = SqliteStore(self.state_path)
        s = self.settings
        self.fetcher = Fetcher(s.fetch, pool_size=max(2, s.per_host))

    def process(self, shard: tuple[int, Iterable[FeedSpec]],
                window: Any = beam.DoFn.WindowParam) -> Iterator[Story]:
        # A cycle's `now`: fixed for a per-cycle pipeline; in the streaming pipeline, the tick's window start.
        self._now = self.now if self.now is not None else float(window.start)
        feeds = list(shard[1])
        states = self.store.feed_states([f.url for f in feeds])
        pairs = [(f, states.get(f.url) or FeedState(f.url)) for f in feeds]
        s = self.settings
        batch: list[FeedState] = []
        for res in poll_all(pairs, self.fetcher, self._now, s.schedule, workers=s.workers, per_host=s.per_host,
                            spacing=s.spacing, max_age=s.max_age, use_validators=s.use_validators,
                            stop=STOP.is_set):
            batch.append(res.state)
            if len(batch) >= STAGE_BATCH:
                self.store.stage_feed_states(batch)
                batch = []
            self._record(res)
            yield from res.stories
        self.store.stage_feed_states(batch)

    def _record(self, res: PollResult) -> None:
        c = self.counters
        out = res.outcome
        if out.ok:
            c[t.FEEDS_OK].inc()
            if out.unchanged:
                c[t.FEEDS_NOT_MODIFIED].inc()
        else:
            c[t.FEEDS_FAILED].inc()
            if res.state.quarantined:
                c[t.FEEDS_QUARANTINED].inc()
            level = logging.WARNING if res.state.failures in (1, self.settings.schedule.quarantine_after) else \
                logging.INFO
            log.log(level, "feed %s: %s (%s; next try in %.0f s)", res.feed.url, out.error, res.reason,
                    res.state.next_due - self._now)
        if res.reason == "recovered":
            log.warning("feed %s: recovered", res.feed.url)
        if res.moved_to:
            log.warning("feed %s moved permanently to %s; polling the new URL (update the config)",
                        res.feed.url, res.moved_to)
        c[t.STORIES].inc(len(res.stories))
        for reason, n in res.skipped.items():
            c[t.ITEMS_SKIPPED].inc(n)
            log.info("feed %s: skipped %d item(s): %s", res.feed.url, n, reason)

    def teardown(self) -> None:
        self.fetcher.close()
        self.store.close()


class ReadFeeds(beam.PTransform):  # type: ignore[misc]
    """Poll the given (due) feeds; emit their new stories, `fetched` = the cycle's start time `now` (None: the
    start of each element's window, for the streaming pipeline's ticks)."""

    def __init__(self, state_path: str, now: float | None, settings: PollSettings | None = None) -> None:
        super().__init__()
        self.state_path, self.now, self.settings = state_path, now, settings or PollSettings()

    def expand(self, feeds: beam.PCollection) -> beam.PCollection:
        shards = max(1, self.settings.shards)
        return (
            feeds
            | "KeyByHostShard" >> beam.Map(lambda f: (zlib.crc32(host_of(f.url).encode()) % shards, f))
            | "GroupByShard" >> beam.GroupByKey()
            | "PollShard" >> beam.ParDo(_PollShardFn(self.state_path, self.now, self.settings))
        )


class _ReadFileFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, cycle: float, now: float) -> None:
        self.cycle, self.now = cycle, now
        self.stories = Metrics.counter(t.NAMESPACE, t.STORIES)
        self.failed = Metrics.counter(t.NAMESPACE, t.FEEDS_FAILED)

    def process(self, path: str) -> Iterator[Story]:
        try:
            result = parse_feed(Path(path).read_bytes(), {}, FeedSpec(Path(path).resolve().as_uri(), ""), self.now)
        except OSError as e:
            result = ParseResult(error=f"cannot read file: {e}")
        progress.advance()
        if result.error:
            self.failed.inc()
            log.warning("feed file %s: %s", path, result.error)
            return
        self.stories.inc(len(result.stories))
        for story in result.stories:
            # Replay as if polled every `cycle` seconds: a story is "fetched" at the first poll after publication.
            yield replace(story, fetched=math.ceil(story.published / self.cycle) * self.cycle)


class ReadFeedFiles(beam.PTransform):  # type: ignore[misc]
    """Parse local RSS/Atom files as if they had been polled every `cycle` seconds (for backtests)."""

    def __init__(self, cycle: float, now: float) -> None:
        super().__init__()
        self.cycle, self.now = cycle, now

    def expand(self, paths: beam.PCollection) -> beam.PCollection:
        return paths | "ReadAndParse" >> beam.ParDo(_ReadFileFn(self.cycle, self.now))
