"""Pure alert decision (like Alertmanager's `needsUpdate`): takes the ledger's history, returns a reason.

One (rule, cluster) gets exactly one "new" alert, ever. Later batches that bring outlets not yet named become
"update" alerts; batches with nothing new are suppressed, and so are updates that come too soon after the
last message — within the rule's `realert` window, or within `update_spacing` (1, 2, 4 ... 30 minutes after
the first update). Their outlets are not forgotten: the next update names them, so a story syndicated 50
times makes a dozen updates, not 50.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import Enum

from pipeline.model import Alert, Match
from pipeline.state.store import AlertHistory


class Reason(str, Enum):
    """Why an alert was or was not produced."""

    FIRST = "first-notification"
    NEW_SOURCES = "new-sources"
    NOTHING_NEW = "nothing-new"
    TOO_SOON = "within-realert"


def alert_key(rule_id: str, cluster_id: str, kind: str, revision: str = "") -> str:
    """Idempotency key: the same (rule, cluster, kind, revision) always gives the same key."""
    raw = "\x1f".join((rule_id, cluster_id, kind, revision))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def update_spacing(updates_so_far: int) -> float:
    """Minimum seconds between an update and the message before it: none for the first update, then 1, 2, 4
    ... minutes, at most 30 — a story that keeps spreading all day gets a dozen updates, not one per outlet."""
    return 0.0 if updates_so_far == 0 else min(1800.0, 60.0 * 2 ** (updates_so_far - 1))


def decide(batch: Sequence[Match], history: AlertHistory, default_channel: str,
           now: float = 0.0) -> tuple[Reason, Alert | None]:
    """One batch = the matches of one rule on one cluster that arrived in the same poll cycle."""
    if not batch:
        return Reason.NOTHING_NEW, None
    ordered = sorted(batch, key=lambda m: (m.item.story.published, m.item.story.id))
    sources: list[str] = []
    independent: list[str] = []
    for m in sorted(batch, key=lambda m: m.item.cluster.size):
        sources.extend(s for s in m.item.cluster.sources if s not in sources)
        independent.extend(s for s in m.item.cluster.independent if s not in independent)
    first = ordered[0]
    cluster = first.item.cluster
    if not history.has_new:
        reason, kind, lead, revision = Reason.FIRST, "new", first, ""
    else:
        fresh = [s for s in sources if s not in history.alerted_sources]
        if not fresh:
            return Reason.NOTHING_NEW, None
        if now - history.last_message < max(first.realert, update_spacing(history.updates)):
            return Reason.TOO_SOON, None
        lead = next((m for m in ordered if m.item.story.source in fresh), ordered[-1])
        reason, kind, revision = Reason.NEW_SOURCES, "update", ",".join(sorted(sources))
    matched: list[str] = []
    for m in ordered:
        matched.extend(h.term for h in m.hits if h.term not in matched)
    story = lead.item.story
    return reason, Alert(
        key=alert_key(first.rule_id, cluster.id, kind, revision),
        kind=kind,
        rule_id=first.rule_id,
        rule_title=first.rule_title,
        severity=first.severity,
        channel=first.channel or default_channel,
        cluster_id=cluster.id,
        title=story.title,
        link=story.link,
        source=story.source,
        sources=tuple(sources),
        matched=tuple(matched),
        hits=lead.hits,
        first_seen=min(m.item.cluster.first_seen for m in batch),
        published=story.published,
        independent=tuple(independent),
        snippet=story.summary[:600],
        updates=first.updates,
    )
