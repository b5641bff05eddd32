"""Outbox delivery: reserve -> mark sending -> send -> mark sent (or back to pending with the error).

A restart never re-sends an alert marked sent. An alert interrupted between send and mark (status `sending`)
is re-sent on the next cycle with a warning: that window is closed by reconciling against Slack message
metadata, which lands with the Slack delivery issue.
"""

from __future__ import annotations

import logging

from pipeline.alerts.notifier import Notifier, SendResult
from pipeline.clock import Clock
from pipeline.model import Alert
from pipeline.shutdown import STOP
from pipeline.state.store import Store

log = logging.getLogger("newswatch.alerts")


def deliver(store: Store, notifier: Notifier, alert: Alert, clock: Clock) -> SendResult | None:
    """Send one reserved alert and record the outcome; None when shutting down (it stays pending)."""
    if STOP.is_set():
        return None
    thread = store.root_message(alert.rule_id, alert.cluster_id) if alert.kind == "update" else None
    store.mark_sending(alert.key, clock.now())
    result = notifier.send(alert, thread)
    if result.ok:
        store.mark_sent(alert.key, clock.now(), result.channel_id, result.ts)
    else:
        store.mark_failed(alert.key, clock.now(), result.reason)
        level = logging.WARNING if result.retryable else logging.ERROR
        log.log(level, "alert %s (%s %s) not delivered: %s; kept in the outbox, retried next cycle",
                alert.key[:12], alert.rule_id, alert.kind, result.reason)
    return result


def drain(store: Store, notifier: Notifier, clock: Clock) -> int:
    """Retry every reserved-but-unsent alert (oldest first); returns how many were delivered now."""
    delivered = 0
    for alert, status in store.unsent():
        if status == "sending":
            log.warning("alert %s (%s %s) was interrupted mid-send; sending again (it may appear twice)",
                        alert.key[:12], alert.rule_id, alert.kind)
        result = deliver(store, notifier, alert, clock)
        if result is None:
            break
        delivered += result.ok
    return delivered
