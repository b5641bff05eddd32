"""SendAlerts: Match -> one decision per (rule, cluster, cycle) -> outbox reservation -> delivery.

Silenced rules reserve nothing. A channel gets at most `digest_after` messages from one cycle here; the
rest stay in the outbox and the worker's drain right after the cycle sends them as one digest.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import telemetry as t
from pipeline.alerts.decide import decide
from pipeline.alerts.notifier import NotifierSpec
from pipeline.alerts.outbox import DIGEST_AFTER, deliver
from pipeline.clock import SystemClock
from pipeline.model import Alert, Match
from pipeline.state.sqlite import SqliteStore

log = logging.getLogger("newswatch.alerts")


class _DecideFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, state_path: str, default_channel: str) -> None:
        self.state_path, self.default_channel = state_path, default_channel
        self.reserved = Metrics.counter(t.NAMESPACE, t.ALERTS_RESERVED)

    def setup(self) -> None:
        self.store = SqliteStore(self.state_path)
        self.clock = SystemClock()

    def process(self, keyed: tuple[tuple[str, str], Iterable[Match]]) -> Iterator[Alert]:
        (rule_id, cluster_id), matches = keyed
        now = self.clock.now()
        if self.store.silenced(rule_id, now):
            log.info("rule %s is silenced: no alert for cluster %s", rule_id, cluster_id)
            return
        by_cycle = sorted(matches, key=lambda m: m.item.story.fetched)
        for fetched, batch in itertools.groupby(by_cycle, key=lambda m: m.item.story.fetched):
            # The cycle's own time (the fetch; simulated in a backtest) spaces updates, not the wall clock.
            history = self.store.alert_history(rule_id, cluster_id)
            reason, alert = decide(list(batch), history, self.default_channel, fetched)
            log.debug("rule %s cluster %s: %s", rule_id, cluster_id, reason.value)
            if alert is not None and self.store.reserve(alert, fetched):
                self.reserved.inc()
                yield alert

    def teardown(self) -> None:
        self.store.close()


class _DeliverFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, state_path: str, notifier: NotifierSpec, digest_after: int) -> None:
        self.state_path, self.spec, self.digest_after = state_path, notifier, digest_after
        self.sent = Metrics.counter(t.NAMESPACE, t.ALERTS_SENT)
        self.failed = Metrics.counter(t.NAMESPACE, t.ALERTS_FAILED)

    def setup(self) -> None:
        self.store = SqliteStore(self.state_path)
        self.notifier = self.spec.build()  # secrets are read here, never pickled
        self.clock = SystemClock()

    def start_bundle(self) -> None:
        self.per_channel: Counter[str] = Counter()

    def process(self, alert: Alert) -> Iterator[Alert]:
        self.per_channel[alert.channel] += 1
        if self.per_channel[alert.channel] > self.digest_after:  # the rest go out as one digest after the cycle
            return
        result = deliver(self.store, self.notifier, alert, self.clock)
        if result is not None and result.ok:
            self.sent.inc()
            yield alert
        elif result is not None:
            self.failed.inc()

    def teardown(self) -> None:
        self.store.close()


class SendAlerts(beam.PTransform):  # type: ignore[misc]
    """Decide new/update per (rule, cluster), reserve each alert in the outbox ledger, then deliver it."""

    def __init__(self, state_path: str, notifier: NotifierSpec, default_channel: str,
                 digest_after: int = DIGEST_AFTER) -> None:
        super().__init__()
        self.state_path, self.notifier, self.default_channel = state_path, notifier, default_channel
        self.digest_after = digest_after

    def expand(self, matches: beam.PCollection) -> beam.PCollection:
        return (
            matches
            | "KeyByRuleCluster" >> beam.Map(lambda m: ((m.rule_id, m.item.cluster.id), m))
            | "GroupByRuleCluster" >> beam.GroupByKey()
            | "DecideAlerts" >> beam.ParDo(_DecideFn(self.state_path, self.default_channel))
            | "Deliver" >> beam.ParDo(_DeliverFn(self.state_path, self.notifier, self.digest_after))
        )
