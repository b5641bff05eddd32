"""Alert decisions, rendering, the Slack notifier against a fake Slack, and outbox delivery."""

from __future__ import annotations

import pickle

import pytest

from pipeline.alerts.decide import Reason, alert_key, decide
from pipeline.alerts.notifier import NotifierSpec, SendResult, SlackNotifier
from pipeline.alerts.outbox import deliver, drain
from pipeline.alerts.render import render_console, render_slack
from pipeline.clock import FixedClock
from pipeline.model import Alert, ClusteredStory, ClusterInfo, Hit, Match
from pipeline.state.sqlite import SqliteStore
from pipeline.state.store import AlertHistory
from pipeline.testing import FakeSlack, make_story

NONE_YET = AlertHistory(False, frozenset(), 0)


def match(source: str, sources: tuple[str, ...], title: str = "Civilians flee Kherson", fetched: float = 10.0,
          link: str = "https://x.org/a") -> Match:
    """A Match of rule r1 on cluster c1 as seen from one outlet."""
    story = make_story(title, source=source, link=link, fetched=fetched)
    cluster = ClusterInfo("c1", title, link, sources, 1.0, fetched, len(sources))
    return Match("r1", "Rule one", "urgent", "", ClusteredStory(story, cluster, "new-cluster", 0.0),
                 (Hit("places", "Kherson", "kherson", 2), Hit("any", "flee", "flee", 1)))


class TestDecide:
    def test_first_batch_is_one_new_alert_naming_all_outlets(self) -> None:
        """Four outlets in one cycle: one 'new' alert that names all four."""
        batch = [match(s, ("A", "B", "C", "D")[: i + 1]) for i, s in enumerate("ABCD")]
        reason, alert = decide(batch, NONE_YET, "#default")
        assert reason is Reason.FIRST and alert is not None
        assert alert.kind == "new" and alert.sources == ("A", "B", "C", "D") and alert.channel == "#default"
        assert alert.key == alert_key("r1", "c1", "new")
        assert alert.matched == ("Kherson", "flee")

    def test_new_outlet_later_is_an_update(self) -> None:
        """An outlet not yet named becomes an update, keyed on the outlets so far."""
        history = AlertHistory(True, frozenset({"A", "B"}), 0)
        reason, alert = decide([match("C", ("A", "B", "C"))], history, "#d")
        assert reason is Reason.NEW_SOURCES and alert is not None and alert.kind == "update"
        assert alert.source == "C" and alert.key == alert_key("r1", "c1", "update", "A,B,C")

    def test_nothing_new_is_suppressed(self) -> None:
        """No new outlet, no alert."""
        reason, alert = decide([match("B", ("A", "B"))], AlertHistory(True, frozenset({"A", "B"}), 0), "#d")
        assert reason is Reason.NOTHING_NEW and alert is None


def an_alert(title: str = "Civilians flee Kherson", link: str = "https://x.org/a", kind: str = "new") -> Alert:
    """A decided alert for rendering and delivery tests."""
    _, alert = decide([match("Mirror", ("Mirror", "inkl"), title=title, link=link)], NONE_YET, "#newswatch")
    assert alert is not None
    return alert if kind == "new" else Alert(**{**{f: getattr(alert, f) for f in alert.__slots__},
                                                "kind": "update", "key": "upd-" + alert.key})


class TestRender:
    def test_hostile_title_cannot_ping_or_link(self) -> None:
        """Feed text is escaped: no @channel ping, no smuggled link, no mrkdwn injection."""
        payload = render_slack(an_alert(title="<!channel> win <http://evil.example|prize> & more"))
        body = payload["blocks"][1]["text"]["text"]
        assert "<!channel>" not in body and "<http://evil" not in body
        assert "&lt;!channel&gt; win &lt;http://evil.example|prize&gt; &amp; more" in body
        assert "<!channel>" not in payload["text"]

    def test_non_http_link_is_not_rendered_as_link(self) -> None:
        """Only http(s) links become links."""
        body = render_slack(an_alert(link="javascript:alert(1)"))["blocks"][1]["text"]["text"]
        assert "javascript:" not in body

    def test_header_is_clipped_to_slack_limit(self) -> None:
        """Header text stays within Slack's 150 characters."""
        long = an_alert()
        long = Alert(**{**{f: getattr(long, f) for f in long.__slots__}, "rule_title": "x" * 400})
        assert len(render_slack(long)["blocks"][0]["text"]["text"]) == 150

    def test_console_names_outlets_and_explanation(self) -> None:
        """The console view says how many outlets carried it and what matched."""
        text = render_console(an_alert())
        assert "[NEW] URGENT" in text and "carried by 2 outlets: Mirror, inkl" in text
        assert "places 'Kherson' -> \"kherson\"" in text


class TestSlackNotifier:
    def test_posts_blocks_and_metadata(self, slack: FakeSlack) -> None:
        """A post carries text, blocks, and the idempotency key in message metadata."""
        alert = an_alert()
        res = NotifierSpec("slack").build().send(alert)
        assert res.ok and res.channel_id == "C0NEWSWATCH" and res.ts == slack.posts[0]["ts"]
        assert slack.posts[0]["metadata"]["event_payload"]["key"] == alert.key
        assert slack.posts[0]["blocks"][0]["type"] == "header"

    def test_one_429_is_retried_after_retry_after(self, slack: FakeSlack) -> None:
        """slack_sdk's RateLimitErrorRetryHandler waits Retry-After and retries once: one post, no error."""
        slack.fail_next(429, retry_after=1)
        res = NotifierSpec("slack", pace=100).build().send(an_alert())
        assert res.ok and len(slack.posts) == 1 and slack.faults_served == ["429"]

    @pytest.mark.parametrize(("status", "expected"), [
        (429, SendResult(False, True, "Slack rate limit (retry after 1 s)")),  # certainly not posted: retry
        (500, SendResult(False, False, "Slack server error HTTP 500", unknown=True)),  # maybe posted: look first
        (503, SendResult(False, False, "Slack server error HTTP 503", unknown=True)),
    ])
    def test_outages_are_classified(self, slack: FakeSlack, status: int, expected: SendResult) -> None:
        """A 429 that persists is retryable; a 5xx has an unknown outcome."""
        slack.fail_next(status, 1 if status == 429 else None, times=2)
        assert NotifierSpec("slack", pace=100).build().send(an_alert()) == expected

    def test_unknown_channel_is_not_retryable(self, slack: FakeSlack) -> None:
        """Slack's validation errors are permanent and say what to check."""
        a = an_alert()
        a = Alert(**{**{f: getattr(a, f) for f in a.__slots__}, "channel": "#nope"})
        res = NotifierSpec("slack").build().send(a)
        assert not res.ok and not res.retryable and "channel_not_found" in res.reason

    def test_token_never_in_repr_or_pickle(self, slack: FakeSlack) -> None:
        """The token is not in the notifier's repr nor in the pickled spec that goes into the pipeline."""
        n = SlackNotifier(slack.token, slack.base_url)
        assert slack.token not in repr(n)
        assert slack.token.encode() not in pickle.dumps(NotifierSpec.from_env())


class _Flaky:
    """A notifier that fails the first `fails` sends (retryable), then succeeds."""

    def __init__(self, fails: int) -> None:
        self.fails, self.sent = fails, []  # type: ignore[var-annotated]

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        if self.fails:
            self.fails -= 1
            return SendResult(False, True, "down")
        self.sent.append((alert.key, thread))
        return SendResult(True, channel_id="C1", ts=f"{len(self.sent)}.000001")

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None:
        return None

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult:
        raise AssertionError("no digest expected")


class TestOutbox:
    def test_failed_send_stays_and_drains_later(self, store: SqliteStore) -> None:
        """An outage loses nothing: the alert stays pending and the next drain delivers it once."""
        alert, clock, n = an_alert(), FixedClock(100.0), _Flaky(fails=1)
        assert store.reserve(alert, clock.now())
        assert not deliver(store, n, alert, clock).ok  # type: ignore[union-attr]
        assert [(a.key, s) for a, s in store.unsent()] == [(alert.key, "pending")]
        assert drain(store, n, clock) == 0  # backing off: 2 s after a failed attempt
        clock.advance(2)
        assert drain(store, n, clock) == 1 and drain(store, n, clock) == 0
        assert n.sent == [(alert.key, None)] and store.unsent() == []

    def test_reserve_is_idempotent(self, store: SqliteStore) -> None:
        """The same key cannot be reserved twice."""
        alert = an_alert()
        assert store.reserve(alert, 1.0) and not store.reserve(alert, 2.0)

    def test_update_is_threaded_under_the_sent_root(self, store: SqliteStore) -> None:
        """An update is sent with the (channel, ts) of the story's first message."""
        clock, n = FixedClock(1.0), _Flaky(0)
        root, upd = an_alert(), an_alert(kind="update")
        for a in (root, upd):
            store.reserve(a, 1.0)
            deliver(store, n, a, clock)
        assert n.sent == [(root.key, None), (upd.key, ("C1", "1.000001"))]
