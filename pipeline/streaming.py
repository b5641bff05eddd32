"""One long-running streaming pipeline for runners that keep a pipeline alive (Dataflow, Flink, Portable):
the same composites as the worker's per-cycle pipelines, driven by `PeriodicImpulse`, one fixed window per tick.

    ticks --Ticks (PeriodicImpulse, a window per tick)--> DrainOutbox       (retry the outbox, as a cycle does)
          \\--DueFeeds--> ReadFeeds --> DedupStories --> MatchRules --> SendAlerts --\\
           \\---------------------------------------------------------------------------> CommitTick

`CommitTick` groups the tick's marker with the keys of the alerts it sent: it fires when the watermark passes
the tick's window, i.e. after every alert decision of that tick is in the outbox; only then are the tick's
feed states and stories committed (a crash before replays the tick, as in the worker).

Limits, stated: the state store is the SQLite file, so every worker of the runner must see the same file (one
worker, or a shared volume with one writer); rules are fixed when the pipeline is built (the per-cycle worker
hot-reloads them; here, resubmit or use the worker). Ticks should not overlap (keep `polling.tick` well above a
tick's duration): feed states are staged globally, so a tick's commit also makes a later, still running tick's
feed states current, and a crash in that gap could keep that later tick's stories from being fetched again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipeline.alerts.notifier import NotifierSpec
from pipeline.alerts.outbox import drain
from pipeline.clock import SystemClock
from pipeline.config import WorkerConfig
from pipeline.dedup.core import DEFAULT_SEEN_RETENTION
from pipeline.rules.loader import RuleSet
from pipeline.sources.transform import ReadFeeds
from pipeline.state.sqlite import SqliteStore

log = logging.getLogger("newswatch")


class _DueFeedsFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg

    def process(self, tick: Any, window: Any = beam.DoFn.WindowParam) -> Iterator[Any]:
        from pipeline.app import due_feeds

        store = SqliteStore(self.cfg.state_path)
        try:
            yield from due_feeds(store, self.cfg.feeds, float(window.start))
        finally:
            store.close()


class _DrainFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, cfg: WorkerConfig, notifier: NotifierSpec) -> None:
        self.cfg, self.spec = cfg, notifier

    def setup(self) -> None:
        self.notifier = self.spec.build()

    def process(self, tick: Any) -> Iterator[Any]:
        store = SqliteStore(self.cfg.state_path)
        try:
            drain(store, self.notifier, SystemClock(), self.cfg.digest_after)
        finally:
            store.close()
        return iter(())


class _CommitTickFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg

    def process(self, keyed: tuple[None, Iterable[Any]], window: Any = beam.DoFn.WindowParam) -> Iterator[int]:
        store = SqliteStore(self.cfg.state_path)
        try:
            committed = store.commit_cycle(float(window.end))  # this tick's stories, not a later tick's
            store.gc(float(window.end), self.cfg.dedup_window, DEFAULT_SEEN_RETENTION)
            store.checkpoint()
        finally:
            store.close()
        sent = sum(1 for x in keyed[1] if x != "tick")
        log.info("tick %s: %d stories committed, %d alerts sent", window.start.to_utc_datetime(), committed, sent)
        yield committed


def build(p: beam.Pipeline, cfg: WorkerConfig, rules: RuleSet, notifier: NotifierSpec, start: float,
          stop: float | None = None) -> beam.PCollection:
    """Add the streaming graph to `p`: a tick every `cfg.tick` seconds from `start` (until `stop`, for tests
    and bounded runs). Returns the per-tick commit results."""
    from apache_beam.transforms.periodicsequence import PeriodicImpulse

    from pipeline.app import stages

    store = SqliteStore(cfg.state_path)
    try:
        store.discard_staged()  # left over from a tick that never committed: its feeds are fetched again
    finally:
        store.close()
    impulse = PeriodicImpulse(start_timestamp=start, fire_interval=max(1.0, cfg.tick), apply_windowing=True,
                              **({"stop_timestamp": stop} if stop is not None else {}))
    ticks = p | "Ticks" >> impulse
    _ = ticks | "DrainOutbox" >> beam.ParDo(_DrainFn(cfg, notifier))
    stories = (ticks | "DueFeeds" >> beam.ParDo(_DueFeedsFn(cfg))
               | "ReadFeeds" >> ReadFeeds(cfg.state_path, None, cfg.poll_settings()))
    sent = stages(stories, rules, cfg.state_path, notifier, cfg.channel, cfg.dedup_window, cfg.boilerplate,
                  cfg.dedup_capacity, cfg.digest_after)
    markers = ticks | "TickMarker" >> beam.Map(lambda _: (None, "tick"))
    keys = sent | "SentKeys" >> beam.Map(lambda a: (None, a.key))
    return ((markers, keys) | "TickAndAlerts" >> beam.Flatten()
            | "GroupTick" >> beam.GroupByKey()
            | "CommitTick" >> beam.ParDo(_CommitTickFn(cfg)))
