"""Outbox delivery: reserve -> mark sending -> send -> mark sent, back to pending (certainly not delivered),
left `sending` (outcome unknown), or dead-lettered (permanent error).

Effectively exactly once: an alert left `sending` — a crash between send and mark, a timeout, a dropped
answer — is looked up in Slack by the idempotency key in its message metadata (`Notifier.find`) before it is
sent again. A channel with more unsent alerts than `digest_after` gets the rest rolled into one digest
message instead of a burst that would only earn more 429s.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from pipeline.alerts.notifier import Notifier, SendResult
from pipeline.clock import Clock
from pipeline.model import Alert
from pipeline.shutdown import STOP
from pipeline.state.store import Store

log = logging.getLogger("newswatch.alerts")
DIGEST_AFTER = 20


def record(store: Store, alert: Alert, result: SendResult, clock: Clock) -> None:
    """Put the outcome of a send in the ledger and say what happens next."""
    now, short = clock.now(), alert.key[:12]
    if result.ok:
        store.mark_sent(alert.key, now, result.channel_id, result.ts)
    elif result.unknown:
        store.mark_unknown(alert.key, now, result.reason)
        log.warning("alert %s (%s %s): %s; it may have been delivered, so Slack is checked for it before any "
                    "resend", short, alert.rule_id, alert.kind, result.reason)
    elif result.retryable:
        store.mark_failed(alert.key, now, result.reason)
        log.warning("alert %s (%s %s) not delivered: %s; kept in the outbox, retried next cycle",
                    short, alert.rule_id, alert.kind, result.reason)
    else:
        store.mark_dead(alert.key, now, result.reason)
        log.error("alert %s (%s %s) dead-lettered: %s. Fix it, then: newswatch alerts retry %s --config CONFIG",
                  short, alert.rule_id, alert.kind, result.reason, short)


def _thread(store: Store, alert: Alert) -> tuple[tuple[str, str] | None, Alert | None]:
    if alert.kind != "update":
        return None, None
    thread = store.root_message(alert.rule_id, alert.cluster_id)
    return thread, (store.root_alert(alert.rule_id, alert.cluster_id) if thread else None)


def deliver(store: Store, notifier: Notifier, alert: Alert, clock: Clock) -> SendResult | None:
    """Send one reserved alert and record the outcome; None when shutting down (it stays pending)."""
    if STOP.is_set():
        return None
    thread, root = _thread(store, alert)
    store.mark_sending(alert.key, clock.now())
    result = notifier.send(alert, thread, root)
    record(store, alert, result, clock)
    return result


def reconcile(store: Store, notifier: Notifier, alert: Alert, clock: Clock) -> bool:
    """For an alert left `sending`: True when it needs (re)sending, False when it turned out delivered (now
    marked sent) or Slack could not be asked (it waits for the next drain)."""
    thread, _ = _thread(store, alert)
    found = notifier.find(alert, thread, store.created(alert.key))
    if found is None:
        log.info("alert %s (%s %s) was not delivered before the interruption; sending it", alert.key[:12],
                 alert.rule_id, alert.kind)
        return True
    if found.ok:
        store.mark_sent(alert.key, clock.now(), found.channel_id, found.ts)
        log.info("alert %s (%s %s) was delivered before the interruption (ts %s); not sending it again",
                 alert.key[:12], alert.rule_id, alert.kind, found.ts)
        return False
    log.warning("alert %s: cannot check Slack for it yet (%s); trying next cycle", alert.key[:12], found.reason)
    return False


def drain(store: Store, notifier: Notifier, clock: Clock, digest_after: int = DIGEST_AFTER) -> int:
    """Deliver every reserved-but-unsent alert that is not backing off (2 s after a failed attempt, doubling,
    at most 5 min), oldest first, interrupted ones reconciled first; a channel with more than `digest_after` of
    them gets the rest as one digest. Returns how many were delivered now."""
    todo: dict[str, list[Alert]] = defaultdict(list)
    for alert, status in store.due_unsent(clock.now()):
        if STOP.is_set():
            return 0
        if status == "sending" and not reconcile(store, notifier, alert, clock):
            continue
        todo[alert.channel].append(alert)
    delivered = 0
    for channel, alerts in todo.items():
        single = alerts if len(alerts) <= digest_after else alerts[: digest_after - 1]
        for alert in single:
            result = deliver(store, notifier, alert, clock)
            if result is None:
                return delivered
            delivered += result.ok
        rest = alerts[len(single):]
        if rest and not STOP.is_set():
            delivered += send_digest(store, notifier, channel, rest, clock)
    return delivered


def send_digest(store: Store, notifier: Notifier, channel: str, alerts: list[Alert], clock: Clock) -> int:
    """One message for `alerts` of one channel; each is recorded with the digest's outcome."""
    log.warning("%d alerts waiting for %s: sending them as one digest message", len(alerts), channel)
    for a in alerts:
        store.mark_sending(a.key, clock.now())
    result = notifier.send_digest(channel, alerts)
    for a in alerts:
        record(store, a, result, clock)
    return len(alerts) if result.ok else 0
