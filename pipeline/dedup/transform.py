"""DedupStories: Story -> ClusteredStory, in arrival order, against clusters persisted in the state store.

All stories of a cycle are gathered under one key and assigned sequentially, because whether a story founds a
cluster depends on the stories before it. State is bounded: clusters idle past the window are evicted by `gc`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import progress
from pipeline import telemetry as t
from pipeline.dedup.core import DEFAULT_WINDOW, Deduper, Reason
from pipeline.dedup.index import DEFAULT_CAPACITY, KeyTable
from pipeline.model import ClusteredStory, Story
from pipeline.state.sqlite import SqliteStore

# The candidate key table of the last state file used in this process: a long-lived worker keeps it from cycle to
# cycle instead of rebuilding it from the store each time (one entry: a worker uses one state file).
_TABLES: dict[str, KeyTable] = {}


def _table_for(state_path: str) -> KeyTable | None:
    """The kept table of this state file, or None (cold start: the Deduper loads or builds one)."""
    return _TABLES.get(state_path)


def saved_table_path(state_path: str) -> Path | None:
    """Where the key table of a state file is kept between runs (beside it; none for an in-memory state)."""
    return None if state_path == ":memory:" else Path(state_path + ".keytable.npz")


def save_table(state_path: str, capacity: int = DEFAULT_CAPACITY) -> None:
    """At a graceful stop: write the kept key table beside the state file, so the next start loads it and
    indexes only the clusters written since (a crash leaves the last saved one, caught up the same way)."""
    table, path = _TABLES.get(state_path), saved_table_path(state_path)
    if table is None or path is None:
        return
    store = SqliteStore(state_path)
    try:
        Deduper(store, index=table, capacity=capacity, saved=path).save_index()
    finally:
        store.close()


class _AssignClustersFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, state_path: str, window: float, boilerplate: tuple[str, ...], capacity: int) -> None:
        self.state_path, self.window, self.boilerplate, self.capacity = state_path, window, boilerplate, capacity
        self.new_stories = Metrics.counter(t.NAMESPACE, t.STORIES_NEW)
        self.new_clusters = Metrics.counter(t.NAMESPACE, t.CLUSTERS_NEW)

    def setup(self) -> None:
        self.store = SqliteStore(self.state_path)

    def process(self, keyed: tuple[None, Iterable[Story]]) -> Iterator[ClusteredStory]:
        deduper = Deduper(self.store, self.window, boilerplate=self.boilerplate, index=_table_for(self.state_path),
                          capacity=self.capacity, saved=saved_table_path(self.state_path))
        results = []
        with self.store.batch():  # one commit for the cycle; nothing is emitted before it
            for out in deduper.add_all(sorted(keyed[1], key=lambda s: (s.fetched, s.published, s.id))):
                progress.advance()
                if out is not None:
                    results.append(out)
        _TABLES.clear()
        _TABLES[self.state_path] = deduper.index
        for out in results:
            if out.reason not in (Reason.REPLAY.value, Reason.SAME_ITEM.value):  # not a new story
                self.new_stories.inc()
            if out.reason == Reason.NEW.value:
                self.new_clusters.inc()
            yield out

    def teardown(self) -> None:
        self.store.close()


class DedupStories(beam.PTransform):  # type: ignore[misc]
    """Drop stories already processed; put the rest into story clusters (state in `state_path`)."""

    def __init__(self, state_path: str, window: float = DEFAULT_WINDOW, boilerplate: tuple[str, ...] = (),
                 capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__()
        self.state_path, self.window, self.boilerplate, self.capacity = state_path, window, boilerplate, capacity

    def expand(self, stories: beam.PCollection) -> beam.PCollection:
        return (
            stories
            | "OneKey" >> beam.Map(lambda s: (None, s))
            | "GatherCycle" >> beam.GroupByKey()
            | "AssignClusters" >> beam.ParDo(_AssignClustersFn(self.state_path, self.window, self.boilerplate,
                                                                       self.capacity))
        )


class _AppendRowsFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: list[str] = []

    def start_bundle(self) -> None:
        self.lines = []

    def process(self, item: ClusteredStory) -> None:
        row = {"id": item.story.id, "cluster_id": item.cluster.id, "score": round(item.score, 1),
               "reason": item.reason}
        self.lines.append(json.dumps(row) + "\n")

    def finish_bundle(self) -> None:  # one append a bundle, not an open() a story
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(self.lines)
        self.lines = []


class WriteClusterRows(beam.PTransform):  # type: ignore[misc]
    """Append `{"id", "cluster_id", "score", "reason"}` per clustered story to a JSONL file (one local worker)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        return items | "AppendRows" >> beam.ParDo(_AppendRowsFn(self.path))
