"""The state-store interface (the nflog analogue). A shared deployment swaps SQLite for another backend."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from pipeline.model import Alert, ClusterInfo
from pipeline.sources.schedule import FeedState


@dataclass(frozen=True, slots=True)
class AlertHistory:
    """What the ledger knows about one (rule, cluster): was a "new" alert reserved, which sources were named."""

    has_new: bool
    alerted_sources: frozenset[str]
    updates: int
    last_message: float = 0.0  # when the last alert of this (rule, cluster) was reserved


@dataclass(frozen=True, slots=True)
class Seen:
    """What the store knows about a story about to be clustered: (cluster id, processed) of the story itself
    (`known`) or of the same item of the same feed under another GUID or the same text fingerprint (`twin`),
    and the cluster of another feed's story with the same canonical URL or GUID (`same_link`)."""

    known: tuple[str, bool] | None
    twin: tuple[str, bool] | None
    same_link: str | None

    @staticmethod
    def of(found: Mapping[str, tuple[str, bool]]) -> Seen:
        """From the newest stored story matching each kind of lookup (see `Store.seen_many`)."""
        twin = next((found[k] for k in ("guid", "fp") if k in found), None)
        same = next((found[k][0] for k in ("xurl", "xguid") if k in found), None)
        return Seen(found.get("id"), twin, same)


class Identity(NamedTuple):
    """What identifies a story before its text is compared: its id, feed, GUID, canonical URL, fingerprint."""

    story_id: str
    feed_url: str
    guid: str
    canonical_url: str
    fingerprint: str


class Assignment(NamedTuple):
    """A story recorded as a member of a cluster (`processed` once the alert stages are done with it)."""

    story_id: str
    cluster_id: str
    canonical_url: str
    guid: str
    seen_at: float
    processed: bool
    feed_url: str
    fingerprint: str


class ClusterRecord(NamedTuple):
    """Durable dedup state for one story cluster (what the store keeps for `window` seconds).

    `norm_title` and `lead` are the normalized texts new stories are compared with. A row of the store, like
    `Assignment`, not a record between stages: a tuple, as one is made per story clustered (a frozen dataclass
    of ten fields took 1.5 µs to make, this 0.35).
    """

    id: str
    title: str
    link: str
    norm_title: str
    lead: str
    sources: tuple[str, ...]
    first_seen: float
    last_seen: float
    size: int
    independent: tuple[str, ...] = ()

    def info(self) -> ClusterInfo:
        return ClusterInfo(self.id, self.title, self.link, self.sources, self.first_seen, self.last_seen, self.size,
                           self.independent)


class Store(Protocol):
    """Everything the stages persist. Implementations must be safe to open from several DoFns of one process."""

    def batch(self) -> AbstractContextManager[None]:
        """One transaction around many calls (the dedup stage wraps a cycle's stories in it)."""

    # --- dedup: seen stories and clusters (bounded by `gc`) ---
    def story_cluster(self, story_id: str) -> tuple[str, bool] | None:
        """(cluster id, processed) of a story seen before, else None."""

    def seen_many(self, items: list[Identity]) -> list[dict[str, tuple[str, bool]]]:
        """For each story, in a few round trips for all: the newest stored story matching it, as (cluster id,
        processed), by kind — `id`: the story itself; `guid`, `fp`: the same feed's item under that GUID or
        content fingerprint; `xurl`, `xguid`: another feed's story with that canonical URL or GUID (the newest
        story carrying it, if it is another feed's: when a URL's first cluster has closed, the one it went to
        next; a GUID only when it is a URL, URI or UUID: `identities.global_guid`). Empty values match nothing.
        `Seen.of` reads the answer."""

    state_id: str  # a random id given to the state when it was created: a file started over gets a new one

    def last_cluster_seq(self) -> int:
        """The number of the last cluster state written (they are numbered in order; 0: none)."""

    def cluster_texts(self, since: float, page: int = 10_000, after: int = 0) -> Iterator[list[tuple[str, str, str]]]:
        """(id, normalized headline, lead) of the clusters changed at or after `since` (and written after state
        number `after`), oldest change first, `page` at a time (so a cold start does not hold a million clusters
        at once). A cluster changed more than once may come once per stored state: the caller indexes texts,
        where an older lead does no harm."""

    def get_cluster(self, cluster_id: str) -> ClusterRecord | None: ...

    def get_clusters(self, cluster_ids: list[str]) -> list[ClusterRecord]:
        """The clusters with these ids that still exist, in the order given."""

    def save_clusters(self, clusters: list[ClusterRecord]) -> None:
        """Insert or replace these clusters."""

    def assign_many(self, rows: list[Assignment]) -> None:
        """Record stories as members of clusters (a story already recorded keeps its first record)."""

    def commit_cycle(self, seen_before: float | None = None) -> int:
        """End of a cycle, atomically: staged feed states become current, assigned stories (those first seen
        before `seen_before`, when given: the streaming pipeline commits one tick at a time) become processed.

        Called only after every alert decision of the cycle is in the outbox, so a crash before it replays the
        cycle (the feeds are fetched again without the new validators) instead of losing its alerts.
        """

    # --- feeds ---
    def feed_states(self, urls: list[str]) -> dict[str, FeedState]: ...

    def all_feed_states(self) -> list[FeedState]: ...

    def not_due(self, now: float) -> set[str]:
        """URLs of feeds whose next poll is still in the future (read from an index, not the states)."""

    def stage_feed_states(self, states: list[FeedState]) -> None:
        """Record feeds' new states for this cycle, in one transaction (current only after `commit_cycle`)."""

    def discard_staged(self) -> None:
        """Forget staged states of a cycle that did not finish."""

    def checkpoint(self) -> None:
        """Move what the cycle wrote from the write-ahead log into the main file (SQLite). The worker calls it
        once a cycle's alerts are sent, so that copying is not on the way from a story to its alert."""

    def gc(self, now: float, cluster_window: float, seen_retention: float) -> int:
        """Delete clusters idle longer than `cluster_window` and story ids older than `seen_retention`; returns
        the number of rows deleted (a store may count superseded versions of a cluster, and may keep its newest
        row of each kind: readers must still check a cluster's `last_seen` against the window)."""

    # --- alerts: the outbox ledger ---
    def alert_history(self, rule_id: str, cluster_id: str) -> AlertHistory: ...

    def reserve(self, alert: Alert, now: float) -> bool:
        """Insert the alert as pending; False if its key is already in the ledger (then nothing changes)."""

    def root_message(self, rule_id: str, cluster_id: str) -> tuple[str, str] | None:
        """(channel id, ts) of the sent "new" alert of this (rule, cluster), to thread updates under it."""

    def root_alert(self, rule_id: str, cluster_id: str) -> Alert | None:
        """The "new" alert of this (rule, cluster), as reserved (what its root message shows)."""

    def unsent(self) -> list[tuple[Alert, str]]:
        """Alerts reserved but not sent or dead-lettered, oldest first, with their status: `pending` (not
        sent, or certainly not delivered) or `sending` (the outcome is unknown: reconcile before resending)."""

    def due_unsent(self, now: float, base: float = 2.0, cap: float = 300.0) -> list[tuple[Alert, str]]:
        """`unsent`, without those still backing off: after a failed attempt an alert waits base x 2^(attempts-1)
        seconds (at most `cap`) before the next one."""

    def outbox_counts(self) -> dict[str, int]:
        """Alerts not sent, by status (pending, sending, dead)."""

    def created(self, key: str) -> float:
        """When the alert was reserved (0 if unknown): where to start looking for it in Slack."""

    def mark_sending(self, key: str, now: float) -> None: ...

    def mark_sent(self, key: str, now: float, channel_id: str, ts: str) -> None: ...

    def mark_failed(self, key: str, now: float, error: str) -> None:
        """Back to pending with the error recorded; it is retried on the next cycle."""

    def mark_unknown(self, key: str, now: float, error: str) -> None:
        """Stays `sending` with the error recorded: it may have been delivered (timeout, dropped answer, 5xx)."""

    def mark_dead(self, key: str, now: float, error: str) -> None:
        """A permanent failure (channel not found, bot not in channel, bad token): not retried until
        `retry_dead` is asked for it."""

    def dead_letters(self) -> list[tuple[Alert, str, float]]:
        """Dead-lettered alerts with their error and when they failed, oldest first."""

    def retry_dead(self, keys: list[str] | None = None) -> int:
        """Dead letters (these keys, or all) back to pending; how many."""

    # --- silences ---
    def add_silence(self, rule_id: str, until: float, comment: str, now: float) -> int: ...

    def silences(self, now: float) -> list[tuple[int, str, float, str]]:
        """Active silences: (id, rule id, until, comment)."""

    def expire_silence(self, silence_id: int, now: float) -> bool: ...

    def silenced(self, rule_id: str, now: float) -> bool: ...

    def close(self) -> None: ...
