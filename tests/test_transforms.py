"""Each composite PTransform on Beam's FnApiRunner (TestPipeline + assert_that), and the Worker loop."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

from pipeline.alerts.notifier import NotifierSpec
from pipeline.app import Worker
from pipeline.config import WorkerConfig
from pipeline.dedup.transform import DedupStories
from pipeline.demo.server import FeedServer
from pipeline.model import ClusteredStory, FeedSpec, Match
from pipeline.rules.loader import load_rules
from pipeline.rules.transform import MatchRules
from pipeline.sources.poll import PollSettings
from pipeline.sources.transform import ReadFeeds
from tests.unit.test_dedup import demo_stories


def pipeline() -> beam.Pipeline:
    """A bounded pipeline on FnApiRunner, as the worker uses."""
    return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions([]))


def test_read_feeds_fetches_over_http(demo_feeds: FeedServer, tmp_path: Path) -> None:
    """ReadFeeds fetches each served feed and yields its items as stories."""
    with pipeline() as p:
        stories = (p | beam.Create([FeedSpec(u, "") for u in demo_feeds.urls()])
                   | ReadFeeds(str(tmp_path / "s.db"), now=1.0, settings=PollSettings(max_age=None)))
        assert_that(stories | beam.Map(lambda s: s.source) | beam.Distinct(), equal_to([
            "Daily Mirror - World News", "inkl - Top stories", "The Kyiv Independent", "World News Digest",
            "World News Wire", "Yahoo News UK"]))


def test_dedup_stories_clusters_syndicated_copies(tmp_path: Path) -> None:
    """DedupStories puts the 13 demo items into 9 clusters; the Kherson cluster names 4 outlets."""

    def summary(items: list[ClusteredStory]) -> list[tuple[int, int]]:
        clusters = {i.cluster.id for i in items}
        biggest = max(len(i.cluster.sources) for i in items)
        return [(len(clusters), biggest)]

    with pipeline() as p:
        out = p | beam.Create(demo_stories()) | DedupStories(str(tmp_path / "s.db"))
        assert_that(out | beam.combiners.ToList() | beam.Map(summary), equal_to([[(9, 4)]]))


def test_match_rules_fires_only_on_the_kherson_story(repo: Path) -> None:
    """MatchRules with the shipped rules matches the four Kherson copies and no trap."""
    rules = load_rules(repo / "rules").rules
    items = [ClusteredStory(s, None, "new-cluster", 0.0) for s in demo_stories()]  # type: ignore[arg-type]

    def label(m: Match) -> tuple[str, str]:
        return (m.rule_id, m.item.story.source)

    with pipeline() as p:
        out = p | beam.Create(items) | MatchRules(rules) | beam.Map(label)
        assert_that(out, equal_to([("kherson-evacuation", s) for s in (
            "Daily Mirror - World News", "inkl - Top stories", "World News Wire", "Yahoo News UK")]))


def test_worker_keeps_last_good_rules_on_broken_edit(tmp_path: Path, demo_feeds: FeedServer, repo: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A broken rule edit between cycles is logged with file:line and the previous rules keep working."""
    rules = tmp_path / "rules"
    rules.mkdir()
    good = (repo / "rules" / "ukraine" / "kherson-evacuation.yaml").read_text(encoding="utf-8")
    (rules / "k.yaml").write_text(good, encoding="utf-8")
    cfg = WorkerConfig(tuple(FeedSpec(u, "", (), 0.01) for u in demo_feeds.urls()), str(rules),
                       str(tmp_path / "s.db"), tick=0, max_item_age=None)
    worker = Worker(cfg, NotifierSpec("jsonl", str(tmp_path / "out.jsonl")))
    worker.run(once=True)
    (rules / "k.yaml").write_text(good.replace("severity: urgent", "severity: loud"), encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        worker.run(once=True)
    assert f"{rules / 'k.yaml'}:9:11: 'severity' must be one of flash, urgent, routine; got 'loud'" in caplog.text
    assert "keeping its last good version (1 rule(s))" in caplog.text
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and '"kind": "update"' in lines[1]  # the old rule still produced the update


def test_failed_cycle_does_not_stop_the_worker(tmp_path: Path, demo_feeds: FeedServer, repo: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """A cycle that crashes mid-send is logged; the next cycle looks for the interrupted alert, does not find
    it, and delivers it, once."""
    cfg = WorkerConfig(tuple(FeedSpec(u, "", (), 0.01) for u in demo_feeds.urls()), str(repo / "rules"),
                       str(tmp_path / "s.db"), tick=0, max_item_age=None)
    out = tmp_path / "missing" / "out.jsonl"  # the notifier fails until this directory exists
    worker = Worker(cfg, NotifierSpec("jsonl", str(out)))
    with caplog.at_level(logging.INFO):
        worker.run(max_cycles=1)
        assert "cycle 1 failed" in caplog.text and "No such file or directory" in caplog.text
        out.parent.mkdir()
        worker.run(max_cycles=2)
    assert "was not delivered before the interruption; sending it" in caplog.text  # looked up first
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], len(x["sources"])) for x in lines] == [("new", 4), ("update", 5)]
