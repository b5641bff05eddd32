"""End to end on loopback: feed server -> the real Beam pipeline (FnApiRunner) -> fake Slack Web API."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from pipeline.alerts.notifier import NotifierSpec
from pipeline.app import Worker, backtest, run_cycle
from pipeline.clock import SystemClock
from pipeline.config import WorkerConfig
from pipeline.demo import FEEDS_DIR
from pipeline.demo.server import FeedServer
from pipeline.model import FeedSpec
from pipeline.rules.loader import load_rules
from pipeline.state.sqlite import SqliteStore
from pipeline.testing import FakeSlack


def config(server: FeedServer, repo: Path, state: Path) -> WorkerConfig:
    """A worker config over the served demo feeds and the repository's rules."""
    return WorkerConfig(tuple(FeedSpec(u, "") for u in server.urls()), str(repo / "rules"), str(state),
                        max_item_age=None)  # the demo stories are from 2022


def texts(slack: FakeSlack) -> list[str]:
    """The fallback text of every post so far."""
    return [p["text"] for p in slack.posts]


def test_one_alert_per_story_then_update_then_silence(demo_feeds: FeedServer, slack: FakeSlack, repo: Path,
                                                      tmp_path: Path) -> None:
    """Four outlets -> exactly one new alert; a fifth outlet later -> one threaded update and an edit of the
    root; then nothing."""
    cfg = config(demo_feeds, repo, tmp_path / "state.db")
    rules = load_rules(cfg.rules_dir).rules
    spec, clock = NotifierSpec.from_env(), SystemClock()

    report = run_cycle(cfg, rules, spec, clock)
    assert report.counts["feeds_ok"] == 6 and report.counts["alerts_sent"] == 1
    assert len(slack.posts) == 1
    first = slack.posts[0]
    assert first["channel_id"] == "C0UKRAINE01"
    assert "Hundreds of civilians flee Kherson" in first["text"]
    assert "carried by 4 outlets" in first["text"]
    assert not any(w in t for t in texts(slack) for w in ("Texas", "Fleet", "fleet", "Hurricane", "hospital"))

    run_cycle(cfg, rules, spec, clock)  # the digest feed now carries the story too
    assert len(slack.posts) == 2
    update = slack.posts[1]
    assert update["thread_ts"] == first["ts"] and "now carried by 5 outlets" in update["text"]
    assert update["text"].startswith("Update: World News Digest")
    # ... and the root message is edited in place to show the new count (rules' default `updates: both`)
    assert len(slack.updates) == 1 and slack.updates[0]["ts"] == first["ts"]
    assert "carried by 5 outlets" in slack.updates[0]["text"] and "Hundreds of civilians" in slack.updates[0]["text"]

    run_cycle(cfg, rules, spec, clock)
    assert len(slack.posts) == 2

    Worker(cfg, spec).run(once=True)  # a restarted worker re-alerts nothing
    assert len(slack.posts) == 2


def test_old_items_do_not_flood_a_first_start(demo_feeds: FeedServer, slack: FakeSlack, repo: Path,
                                              tmp_path: Path) -> None:
    """With the default max item age, years-old items are skipped (counted), not alerted."""
    cfg = replace(config(demo_feeds, repo, tmp_path / "state.db"), max_item_age=72 * 3600.0)
    report = run_cycle(cfg, load_rules(cfg.rules_dir).rules, NotifierSpec.from_env(), SystemClock())
    assert report.counts["items_skipped"] == 13 and report.counts.get("stories", 0) == 0 and slack.posts == []


def test_slack_outage_loses_nothing_and_duplicates_nothing(demo_feeds: FeedServer, slack: FakeSlack, repo: Path,
                                                           tmp_path: Path) -> None:
    """A lasting 429, then a 503: the alert waits in the outbox, is looked up in Slack after the 503 (whose
    outcome is unknown), and goes out exactly once when Slack is back."""
    cfg = config(demo_feeds, repo, tmp_path / "state.db")
    rules = load_rules(cfg.rules_dir).rules
    spec, clock = NotifierSpec.from_env(pace=100), SystemClock()
    slack.fail_next(429, retry_after=1, times=2)  # the send and slack_sdk's own retry after Retry-After
    report = run_cycle(cfg, rules, spec, clock)
    assert report.counts["alerts_failed"] == 1 and slack.posts == []
    store = SqliteStore(cfg.state_path)
    assert [(a.kind, status) for a, status in store.unsent()] == [("new", "pending")]
    slack.fail_next(503, method="chat.postMessage")
    time.sleep(2.5)  # past the backoff after the failed attempt (2 s)
    run_cycle(cfg, rules, spec, clock)  # the retry meets a 503 (outcome unknown); the update goes out
    assert [(a.kind, status) for a, status in store.unsent()] == [("new", "sending")]
    time.sleep(4.5)  # past the next backoff (4 s)
    run_cycle(cfg, rules, spec, clock)  # looked up in Slack first: not there, so sent
    assert sorted(p["text"].split("]")[0] for p in slack.posts) == ["[New", "[Update"]
    keys = [p["metadata"]["event_payload"]["key"] for p in slack.posts]
    assert len(keys) == len(set(keys)) == 2 and store.unsent() == []
    store.close()


def test_backtest_replays_cycles(repo: Path, tmp_path: Path) -> None:
    """Backtest over the demo files: one new alert, later outlets as updates (15-min cycles), none for traps."""
    out = tmp_path / "alerts.jsonl"
    backtest([str(FEEDS_DIR)], str(repo / "rules"), str(out), cycle=900)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert {k for k in ("rule_id", "cluster_id", "kind", "title", "link", "source", "sources", "matched")} <= set(
        lines[0])
    assert [x["rule_id"] for x in lines] == ["kherson-evacuation"] * 4
    assert len({x["cluster_id"] for x in lines}) == 1
    lines.sort(key=lambda x: len(x["sources"]))
    assert [x["kind"] for x in lines] == ["new", "update", "update", "update"]
    assert lines[0]["source"] == "Daily Mirror - World News" and lines[0]["sources"] == ["Daily Mirror - World News"]
    assert len(lines[-1]["sources"]) == 4 and "flee" in lines[0]["matched"]


def test_backtest_daily_cycle_gives_one_alert(repo: Path, tmp_path: Path) -> None:
    """Polled once a day, the same files give one new alert naming all four outlets; no state file is left."""
    out = tmp_path / "alerts.jsonl"
    backtest([str(FEEDS_DIR)], str(repo / "rules"), str(out), cycle=86400)
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], len(x["sources"])) for x in lines] == [("new", 4)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl"]
