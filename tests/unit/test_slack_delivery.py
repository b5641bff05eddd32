"""Slack delivery against the fake Slack Web API (real HTTP on loopback) and a real SQLite outbox: validation,
reconciliation of interrupted sends, dead letters, digests, update modes, pacing, webhooks, token hygiene, and
a chaos run of 200 alerts with 30 % injected faults."""

from __future__ import annotations

import json
import logging
import pickle
import random
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.alerts.decide import Reason, decide
from pipeline.alerts.notifier import NotifierSpec, Pacer, SlackNotifier
from pipeline.alerts.outbox import deliver, drain
from pipeline.clock import FixedClock
from pipeline.model import Alert, ClusteredStory, ClusterInfo, Hit, Match
from pipeline.state.sqlite import SqliteStore
from pipeline.state.store import AlertHistory
from pipeline.testing import FakeSlack, make_story


@pytest.fixture(name="clock")
def _clock() -> FixedClock:
    """Now, standing still until advanced (past a failed alert's backoff). Slack's ts are real times and a
    lookup starts from when an alert was reserved, so each test starts from the real now."""
    return FixedClock(time.time())


def alert(i: int = 0, channel: str = "#newswatch", kind: str = "new", updates: str = "both",
          title: str = "") -> Alert:
    story = make_story(title or f"Story {i} about Kherson", f"Civilians flee Kherson, story {i}.", "Mirror",
                       link=f"https://x.org/{i}")
    cluster = ClusterInfo(f"c{i}", story.title, story.link, ("Mirror",), 1.0, 1.0, 1)
    m = Match(f"r{i % 3}", "Rule", "urgent", channel, ClusteredStory(story, cluster, "new-cluster", 0.0),
              (Hit("places", "Kherson", "kherson", 4), Hit("any", "flee", "flee", 1)), updates)
    _, a = decide([m], AlertHistory(False, frozenset(), 0), "#newswatch")
    assert a is not None
    if kind == "update":
        a = replace(a, kind="update", key="u" + a.key[1:], source="inkl", sources=("Mirror", "inkl"))
    return a


def api(fake: FakeSlack, method: str, **args: object) -> dict[str, object]:
    req = urllib.request.Request(fake.base_url + method, data=json.dumps(args).encode(), method="POST", headers={
        "Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


class TestFakeSlackValidates:
    @pytest.mark.parametrize(("args", "error"), [
        ({"channel": "#nope", "text": "x"}, "channel_not_found"),
        ({"channel": "c0lower", "text": "x"}, "channel_not_found"),
        ({"channel": "#newswatch"}, "no_text"),
        ({"channel": "#newswatch", "text": "x", "thread_ts": "12.5"}, "invalid_thread_ts"),
        ({"channel": "#newswatch", "text": "x", "thread_ts": "1700000099.000099"}, "thread_not_found"),
        ({"channel": "#newswatch", "text": "x", "metadata": {"event_payload": {}}}, "invalid_metadata_format"),
        ({"channel": "#newswatch", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
         "invalid_blocks"),
    ])
    def test_post_message_errors(self, slack: FakeSlack, args: dict[str, object], error: str) -> None:
        assert api(slack, "chat.postMessage", **args) == {"ok": False, "error": error}

    def test_not_in_channel_update_and_history(self, slack: FakeSlack) -> None:
        slack.not_joined.add("C0ALERTS001")
        assert api(slack, "chat.postMessage", channel="#alerts", text="x")["error"] == "not_in_channel"
        posted = api(slack, "chat.postMessage", channel="C0NEWSWATCH", text="hi",
                     metadata={"event_type": "t", "event_payload": {"key": "k1"}})
        assert posted["ok"] and api(slack, "chat.update", channel="C0NEWSWATCH", ts="1700000099.000099",
                                    text="y")["error"] == "message_not_found"
        assert api(slack, "chat.update", channel="C0NEWSWATCH", ts=posted["ts"], text="edited")["ok"]
        plain = api(slack, "conversations.history", channel="C0NEWSWATCH")
        meta = api(slack, "conversations.history", channel="C0NEWSWATCH", include_all_metadata=True)
        assert "metadata" not in plain["messages"][0]  # type: ignore[index]
        assert meta["messages"][0]["metadata"]["event_payload"] == {"key": "k1"}  # type: ignore[index]
        assert meta["messages"][0]["text"] == "edited"  # type: ignore[index]


class TestReconciliation:
    @pytest.mark.parametrize("kind", ["drop", "timeout"])
    def test_interrupted_send_is_found_not_resent(self, clock: FixedClock,
                                                  slack: FakeSlack, store: SqliteStore, kind: str) -> None:
        """The message was posted but the answer was lost (dropped connection, or later than the client's
        timeout): the alert stays `sending`, the next drain finds its key in the channel history, marks it
        sent, and posts nothing twice."""
        notifier = NotifierSpec("slack", pace=100, timeout=1).build()
        a = alert(1)
        store.reserve(a, clock.now())
        slack.fail_next(kind=kind, seconds=2.5)
        res = deliver(store, notifier, a, clock)
        assert res is not None and not res.ok and res.unknown
        assert [(x.key, s) for x, s in store.unsent()] == [(a.key, "sending")]
        assert drain(store, notifier, clock) == 0 and len(store.unsent()) == 1  # backing off after the failure
        clock.advance(2)
        assert drain(store, notifier, clock) == 0 and store.unsent() == []
        assert slack.keys() == [a.key] and len(slack.posts) == 1

    def test_lost_before_posting_is_sent_once(self, clock: FixedClock, slack: FakeSlack, store: SqliteStore) -> None:
        """A 503 (not posted): looked up, not found, sent again: exactly one message."""
        notifier = NotifierSpec("slack", pace=100).build()
        a = alert(2)
        store.reserve(a, clock.now())
        slack.fail_next(503, method="chat.postMessage")
        deliver(store, notifier, a, clock)
        clock.advance(2)
        assert drain(store, notifier, clock) == 1 and slack.keys() == [a.key]

    def test_thread_reply_is_looked_up_in_the_thread(self, clock: FixedClock,
                                                     slack: FakeSlack, store: SqliteStore) -> None:
        notifier = NotifierSpec("slack", pace=100).build()
        root, upd = alert(3), alert(3, kind="update", updates="thread")
        for a in (root, upd):
            store.reserve(a, clock.now())
        deliver(store, notifier, root, clock)
        slack.fail_next(kind="drop", method="chat.postMessage")
        assert deliver(store, notifier, upd, clock).unknown  # type: ignore[union-attr]
        clock.advance(2)
        drain(store, notifier, clock)
        assert store.unsent() == [] and sorted(slack.keys()) == sorted([root.key, upd.key])
        assert slack.posts[1]["thread_ts"] == slack.posts[0]["ts"]


class TestDeadLetters:
    def test_permanent_error_is_dead_lettered_and_retried_on_demand(self, clock: FixedClock, slack: FakeSlack,
                                                                    store: SqliteStore) -> None:
        notifier = NotifierSpec("slack", pace=100).build()
        a = alert(4, channel="#alerts")
        slack.not_joined.add("C0ALERTS001")
        store.reserve(a, clock.now())
        res = deliver(store, notifier, a, clock)
        assert res is not None and not res.ok and not res.retryable and not res.unknown
        assert "not_in_channel" in res.reason and "bot is invited" in res.reason
        assert store.unsent() == [] and [x.key for x, _, _ in store.dead_letters()] == [a.key]
        assert drain(store, notifier, clock) == 0 and slack.posts == []  # not retried by itself
        slack.not_joined.clear()  # someone invites the bot
        assert store.retry_dead([a.key[:12]]) == 1 and drain(store, notifier, clock) == 1
        assert store.dead_letters() == [] and slack.keys() == [a.key]


def test_overflow_goes_out_as_one_digest(clock: FixedClock, slack: FakeSlack, store: SqliteStore) -> None:
    """30 alerts waiting for one channel, digest after 10: 9 messages and one digest naming the other 21."""
    notifier = NotifierSpec("slack", pace=100).build()
    alerts = [alert(i) for i in range(30)]
    for a in alerts:
        store.reserve(a, clock.now())
    assert drain(store, notifier, clock, digest_after=10) == 30
    assert len(slack.posts) == 10 and slack.posts[-1]["text"] == "21 more alerts (digest)"
    assert sorted(slack.keys()) == sorted(a.key for a in alerts) and store.unsent() == []


@pytest.mark.parametrize(("mode", "replies", "edits"), [("both", 1, 1), ("thread", 1, 0), ("edit", 0, 1)])
def test_update_modes(clock: FixedClock,
                      slack: FakeSlack, store: SqliteStore, mode: str, replies: int, edits: int) -> None:
    """A later outlet edits the root in place (new count), replies in its thread, or both, as the rule says."""
    notifier = NotifierSpec("slack", pace=100).build()
    root, upd = alert(5), alert(5, kind="update", updates=mode)
    for a in (root, upd):
        store.reserve(a, clock.now())
        assert deliver(store, notifier, a, clock).ok  # type: ignore[union-attr]
    assert len(slack.posts) == 1 + replies and len(slack.updates) == edits
    if edits:
        assert "carried by 2 outlets" in slack.updates[0]["text"] and "Story 5" in slack.updates[0]["text"]
    assert store.unsent() == []


def test_realert_defers_updates_and_keeps_their_outlets() -> None:
    """Within the rule's realert window an update waits; after it, one update names every outlet since."""
    m = alert(6)
    story = make_story("Story 6 about Kherson", source="inkl")
    batch = [Match("r0", "Rule", "urgent", "", ClusteredStory(story, ClusterInfo("c6", "t", "l", ("Mirror", "inkl"),
                                                                               1.0, 1.0, 2), "x", 0.0),
                   (), "both", 600.0)]
    history = AlertHistory(True, frozenset({"Mirror"}), 0, last_message=1000.0)
    assert decide(batch, history, "#d", now=1300.0) == (Reason.TOO_SOON, None)
    reason, upd = decide(batch, history, "#d", now=1700.0)
    assert reason is Reason.NEW_SOURCES and upd is not None and upd.sources == ("Mirror", "inkl")
    assert m.kind == "new"


def test_pacer_allows_bursts_then_one_per_interval() -> None:
    pacer = Pacer(rate=2.0, burst=3)
    assert [pacer.delay("#a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0.4 < pacer.delay("#a") <= 0.5 and pacer.delay("#b") == 0.0  # channels are paced apart
    pacer.hold("#b", 5)
    assert pacer.delay("#b") > 4.9


def test_webhook_mode(clock: FixedClock, slack: FakeSlack, store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a bot: SLACK_WEBHOOK_URL posts to the webhook; a rejected payload is dead-lettered."""
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url)
    spec = NotifierSpec.from_env()
    assert spec.kind == "webhook"
    a = alert(7)
    store.reserve(a, clock.now())
    assert deliver(store, spec.build(), a, clock).ok  # type: ignore[union-attr]
    assert slack.webhook_posts[0]["text"].startswith("[New] URGENT Story 7")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.webhook_url.replace("/hooks/T000", "/hooks/T999"))
    b = alert(8)
    store.reserve(b, clock.now())
    res = deliver(store, NotifierSpec.from_env().build(), b, clock)
    assert res is not None and not res.ok and "HTTP 404 no_service" in res.reason
    assert [x.key for x, _, _ in store.dead_letters()] == [b.key]


def test_token_never_in_logs_errors_repr_or_pickle(clock: FixedClock, slack: FakeSlack, store: SqliteStore,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Debug logging of a send, a failure and a reconciliation never shows the token; the client cannot be
    pickled; the spec that goes into the pipeline has no token."""
    with caplog.at_level(logging.DEBUG):
        notifier = NotifierSpec("slack", pace=100, timeout=1).build()
        a = alert(9)
        store.reserve(a, clock.now())
        slack.fail_next(kind="drop")
        res = deliver(store, notifier, a, clock)
        clock.advance(2)
        drain(store, notifier, clock)
    assert slack.token not in caplog.text and slack.token not in repr(notifier) and slack.token not in str(res)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(notifier)
    assert slack.token.encode() not in pickle.dumps(NotifierSpec.from_env())
    assert isinstance(notifier, SlackNotifier)


def test_chaos_200_alerts_30_percent_faults_each_delivered_exactly_once(clock: FixedClock,
                                                                        slack: FakeSlack, tmp_path: Path) -> None:
    """200 alerts over 3 channels (with threaded updates) while 30 % of Slack calls fail — 429, 500, 503, late
    answers and dropped connections, whose messages were posted — are all delivered, each exactly once."""
    store = SqliteStore(tmp_path / "chaos.db")
    notifier = NotifierSpec("slack", pace=1000, burst=1000, timeout=1).build()
    rng = random.Random(42)
    alerts: list[Alert] = []
    for i in range(160):
        alerts.append(alert(i, channel=rng.choice(["#newswatch", "#alerts", "#ukraine-alerts"])))
    alerts += [alert(i, channel=alerts[i].channel, kind="update", updates="thread") for i in range(40)]
    slack.chaos(0.3, seed=7, kinds=("429", "500", "503", "timeout", "drop"))
    for a in alerts:
        store.reserve(a, clock.now())
    for a in alerts[:160]:  # the first attempt, as the pipeline makes it
        deliver(store, notifier, a, clock)
    for _ in range(40):  # then the worker's drains, cycle after cycle
        if not store.unsent():
            break
        clock.advance(300)  # past every backoff
        drain(store, notifier, clock, digest_after=1000)
    assert store.unsent() == [] and store.dead_letters() == []
    keys = slack.keys()
    assert sorted(keys) == sorted(a.key for a in alerts), "lost or duplicated alerts"
    print(f"faults served: {len(slack.faults_served)} {sorted(set(slack.faults_served))}, requests {slack.requests}")
    assert len(slack.faults_served) >= 40 and {"drop", "timeout", "429", "500", "503"} <= set(slack.faults_served)
    store.close()


def test_updates_are_spaced_by_default() -> None:
    """Without a realert, the first update goes at once, then 1, 2, 4 ... minutes (at most 30) must pass: a
    story picked up by a new outlet every 5 minutes for 4 hours makes 12 updates, not 48."""
    from pipeline.alerts.decide import update_spacing

    assert [update_spacing(n) for n in (0, 1, 2, 3, 6, 9)] == [0, 60, 120, 240, 1800, 1800]
    history, sent, now = AlertHistory(True, frozenset({"o0"}), 0, last_message=0.0), 0, 0.0
    for k in range(1, 49):
        now = k * 300.0
        outlets = tuple(f"o{i}" for i in range(k + 1))
        story = make_story("Story about Kherson", source=f"o{k}", fetched=now)
        batch = [Match("r0", "Rule", "urgent", "", ClusteredStory(story, ClusterInfo("c", "t", "l", outlets, 0.0, now,
                                                                                     k + 1), "x", 0.0), ())]
        _, upd = decide(batch, history, "#d", now)
        if upd is not None:
            sent += 1
            assert len(upd.sources) == k + 1  # deferred outlets are named by the next update
            history = AlertHistory(True, frozenset(upd.sources), history.updates + 1, last_message=now)
    assert sent == 12
