"""SQLite implementation of `Store` (WAL mode; one connection per DoFn, opened in `setup()`)."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from itertools import accumulate, chain
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model import Alert, alert_from_dict, alert_to_dict
from pipeline.sources.schedule import FeedState
from pipeline.state.identities import (
    IdentityIndex,
    answers,
    cluster_identity,
    identities,
    many_keys,
    rows_keys,
    story_identity,
)
from pipeline.state.store import AlertHistory, Assignment, ClusterRecord, Identity

SCHEMA_VERSION = 4
# Version 3 indexed story identities and cluster ids in SQLite (now `IdentityIndex`); rows move over in order.
MIGRATE_FROM_3 = """
BEGIN;
DROP INDEX IF EXISTS clusters_last_seen;
ALTER TABLE clusters RENAME TO clusters_v3;
DROP INDEX IF EXISTS stories_url; DROP INDEX IF EXISTS stories_guid; DROP INDEX IF EXISTS stories_fp;
DROP INDEX IF EXISTS stories_unprocessed; DROP INDEX IF EXISTS stories_seen_at;
ALTER TABLE stories RENAME TO stories_v3;
{schema}
INSERT INTO stories (id, cluster_id, canonical_url, guid, seen_at, processed, feed_url, fingerprint)
  SELECT id, cluster_id, canonical_url, guid, seen_at, processed, feed_url, fingerprint FROM stories_v3 ORDER BY rowid;
DROP TABLE stories_v3;
INSERT INTO clusters ({columns}) SELECT {columns} FROM clusters_v3 ORDER BY rowid;
DROP TABLE clusters_v3;
PRAGMA user_version = 4;
COMMIT;
"""
AUTOCHECKPOINT_PAGES = 20_000
WAL_KEEP_BYTES = 64 << 20  # a log grown bigger by a busy cycle is cut back to this once checkpointed
CLUSTER_COLUMNS = "id, title, link, norm_title, lead, sources, first_seen, last_seen, size, independent"
# Eviction by age, through the time indexes; the newest row of a table always stays (`SqliteStore.gc`). The `+`
# in `+seq` keeps SQLite from walking the table by seq (every row below the newest) instead of using the index.
EVICT_CLUSTERS = "DELETE FROM clusters WHERE last_seen < ? AND +seq < (SELECT max(seq) FROM clusters)"
EVICT_STORIES = "DELETE FROM stories WHERE seen_at < ? AND processed = 1 AND +seq < (SELECT max(seq) FROM stories)"
ROWS_AT_ONCE = 100  # rows an INSERT carries (`SqliteStore._insert`; SQLite before 3.32 took at most 999 values)


@functools.lru_cache(maxsize=8)
def _many_rows(sql: str, n: int) -> str:
    """An `INSERT ... VALUES (?, ...)` of one row as one of `n` rows."""
    head, _, values = sql.partition(" VALUES ")
    return f"{head} VALUES " + ", ".join([values] * n)


class StateError(RuntimeError):
    """The state file cannot be used (corrupt, locked, wrong version): a clear error, never a silent reset."""


# `seq` numbers rows in the order written (the in-memory indexes follow them); not AUTOINCREMENT since 2026-12-02
# (eviction keeps each table's newest row instead), though files made before keep it, and work alike.
SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT NOT NULL, link TEXT NOT NULL,
  norm_title TEXT NOT NULL, lead TEXT NOT NULL,
  sources TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL, size INTEGER NOT NULL,
  independent TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS clusters_last_seen ON clusters(last_seen);
CREATE TABLE IF NOT EXISTS stories (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, cluster_id TEXT NOT NULL, canonical_url TEXT NOT NULL,
  guid TEXT NOT NULL, seen_at REAL NOT NULL, processed INTEGER NOT NULL DEFAULT 0, feed_url TEXT NOT NULL,
  fingerprint TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS stories_unprocessed ON stories(processed) WHERE processed = 0;
CREATE INDEX IF NOT EXISTS stories_seen_at ON stories(seen_at);
CREATE TABLE IF NOT EXISTS alerts (
  key TEXT PRIMARY KEY, rule_id TEXT NOT NULL, cluster_id TEXT NOT NULL, kind TEXT NOT NULL,
  status TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, channel_id TEXT, ts TEXT);
CREATE INDEX IF NOT EXISTS alerts_rule_cluster ON alerts(rule_id, cluster_id);
CREATE INDEX IF NOT EXISTS alerts_unsent ON alerts(status) WHERE status != 'sent';
CREATE TABLE IF NOT EXISTS silences (
  id INTEGER PRIMARY KEY AUTOINCREMENT, rule_id TEXT NOT NULL, until REAL NOT NULL, comment TEXT NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, state TEXT NOT NULL, next_due REAL NOT NULL);
CREATE INDEX IF NOT EXISTS feeds_next_due ON feeds(next_due);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('state_id', lower(hex(randomblob(8))));
CREATE TABLE IF NOT EXISTS feeds_staged (url TEXT PRIMARY KEY, state TEXT NOT NULL, next_due REAL NOT NULL);
"""


# Per indexed table: the rows after a seq number, and the index keys of such rows (their values after the seq):
# the keys concatenated, and how many each row has.
_INDEXED: dict[str, tuple[str, Callable[[list[Any]], tuple[list[int], list[int]]]]] = {
    "stories": ("SELECT seq, id, feed_url, guid, canonical_url, fingerprint FROM stories WHERE seq > ? ORDER BY seq",
                rows_keys),
    "clusters": ("SELECT seq, id FROM clusters WHERE seq > ? ORDER BY seq",
                 lambda rows: (many_keys([cluster_identity(row[0]) for row in rows]), [1] * len(rows))),
}


class _Shared:
    """The in-memory indexes of one state file (per table: `stories`, `clusters`), shared by the stores of this
    process that open it: the worker opens a store per stage and cycle, and rebuilding the indexes each time
    would cost seconds at a million stories. Their own lock guards them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.indexes: dict[str, IdentityIndex] = {}


_SHARED: dict[tuple[str, str], _Shared] = {}  # (real path, state id) -> indexes; one state file at a time
_SHARED_LOCK = threading.Lock()


def _shared_for(path: str, state_id: str) -> _Shared:
    with _SHARED_LOCK:
        key = (os.path.realpath(path), state_id)  # a new file at the same path has a new id
        if key not in _SHARED:
            _SHARED.clear()  # a worker uses one state file; stores still open on another keep theirs
            _SHARED[key] = _Shared()
        return _SHARED[key]


def forget_indexes() -> None:
    """Drop the indexes this process keeps (as a restart does: the next store rebuilds them from the file)."""
    with _SHARED_LOCK:
        _SHARED.clear()


CACHE_KIB = 16 * 1024  # SQLite's page cache (2 MiB by default): the upper levels of the big tables' B-trees fit


class SqliteStore:
    """Durable state in one SQLite file. Bounded by `gc()`; the alert ledger is kept (it is small)."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            # The worker checkpoints after each cycle (`checkpoint`); this is only the backstop (80 MiB of log)
            # for other writers. The default (1,000 pages) checkpointed inside nearly every busy cycle's commit.
            self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables and version == 3:
                self._db.executescript(MIGRATE_FROM_3.format(schema=SCHEMA, columns=CLUSTER_COLUMNS))
                version = SCHEMA_VERSION
            if tables and version != SCHEMA_VERSION:
                self._db.close()
                raise StateError(f"{self.path}: state file has schema version {version}, this newswatch needs "
                                 f"{SCHEMA_VERSION}; move the file aside to start fresh")
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            state_id = self._db.execute("SELECT value FROM meta WHERE key = 'state_id'").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "locked" in str(e):
                raise StateError(f"{self.path}: state file is locked by another process ({e}, waited {timeout:g} "
                                 "s); is another worker running on it? Stop it, or give this one its own `state:` "
                                 "file") from e
            raise StateError(f"{self.path}: cannot open the state file ({e}); check the path and its "
                             "permissions") from e
        except sqlite3.DatabaseError as e:
            raise StateError(f"{self.path}: not a newswatch state file, or corrupt ({e}). newswatch never resets "
                             "state by itself: move the file aside (keep it for inspection) to start fresh") from e

        self.state_id: str = state_id
        self._shared = _shared_for(self.path, state_id)
        self._asked = _Asked([], [])

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Run the enclosed reads and writes in one transaction (one commit instead of one per write)."""
        with self._lock:
            self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            with self._lock:
                self._db.execute("ROLLBACK")
                with self._shared.lock:  # they may hold rows that are gone now (whose seq numbers come again)
                    self._shared.indexes.clear()
            raise
        with self._lock:
            self._db.execute("COMMIT")

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # --- dedup ---
    def _find(self, table: str, keys: list[int]) -> list[int]:
        """The newest row of `table` carrying each key (0: none), from its index brought up to date."""
        with self._lock, self._shared.lock:
            return self._index(table).find(keys)

    def _index(self, table: str) -> IdentityIndex:
        """The in-memory index of `stories` (identities) or `clusters` (ids), brought up to date with the rows
        added since it last looked (by any connection). Call with both locks held."""
        ids = self._shared.indexes.get(table)
        if ids is None:
            ids = self._shared.indexes[table] = IdentityIndex()
        sql, keys_of = _INDEXED[table]
        cur = self._db.execute(sql, (ids.upto,))
        while rows := cur.fetchmany(10_000):
            ids.add_rows([row[0] for row in rows], *keys_of([row[1:] for row in rows]))
            self._merge_if_due(table, ids)
        return ids

    def _append(self, table: str, sql: str, rows: list[Any], indexed: list[tuple[str, ...]],
                keys: Callable[[list[Any]], tuple[list[int], list[int]]] | None = None) -> None:
        """Insert `rows` at the end of an indexed table and index them (`indexed`: each row's values as the index
        reads them, `keys`: their index keys, when not the table's usual) without reading them back: when no other
        connection wrote in between, they took the seq numbers right after the index's last (else the next
        catch-up reads them, as it reads others' rows)."""
        if not rows:
            return
        with self._lock, self._shared.lock:
            ids = self._index(table)
            before = ids.upto
            self._insert(sql, rows)
            if self._db.execute(f"SELECT max(seq) FROM {table}").fetchone()[0] == before + len(rows):  # noqa: S608
                ids.add_rows(list(range(before + 1, before + 1 + len(rows))), *(keys or _INDEXED[table][1])(indexed))
                self._merge_if_due(table, ids)

    def _insert(self, sql: str, rows: list[Any]) -> None:
        """`executemany(sql, rows)` of an `INSERT ... VALUES (?, ...)`, the rows in order, most of them by statements
        of `ROWS_AT_ONCE` rows each: a statement run per row cost ~1 µs a row more (its own step and reset)."""
        k = ROWS_AT_ONCE
        whole = len(rows) - len(rows) % k
        if whole:
            many = _many_rows(sql, k)
            for at in range(0, whole, k):
                self._db.execute(many, tuple(chain.from_iterable(rows[at : at + k])))
        if whole < len(rows):
            self._db.executemany(sql, rows[whole:])

    def _merge_if_due(self, table: str, ids: IdentityIndex) -> None:
        if ids.due():
            ids.merge(self._db.execute(f"SELECT min(seq) FROM {table}").fetchone()[0] or 0)  # noqa: S608

    def _rows(self, seqs: set[int]) -> dict[int, tuple[Any, ...]]:
        """Story rows by seq: (id, feed_url, guid, canonical_url, fingerprint, cluster_id, processed)."""
        return {r[0]: r[1:] for r in self._in(
            "SELECT seq, id, feed_url, guid, canonical_url, fingerprint, cluster_id, processed FROM stories "
            "WHERE seq IN ({})", seqs)}

    def story_cluster(self, story_id: str) -> tuple[str, bool] | None:
        return self.seen_many([Identity(story_id, "", "", "", "")])[0].get("id")

    def seen_many(self, items: list[Identity]) -> list[dict[str, tuple[str, bool]]]:
        # The identity index names the newest row for each identity; the rows are read in one query and
        # each must carry what was asked (a hash collision or an evicted row is no hit).
        out: list[dict[str, tuple[str, bool]]] = [{} for _ in items]
        if not items:
            return out
        asked = [identities(*i) for i in items]
        flat = list(chain.from_iterable(asked))
        keys = many_keys(flat)
        self._asked = _Asked(items, keys, list(accumulate(map(len, asked), initial=0)))
        seqs = self._find("stories", keys)
        hits = np.flatnonzero(seqs).tolist()  # (most identities asked are of new stories: a loop over hits only)
        if not hits:
            return out
        rows = self._rows({seqs[at] for at in hits})
        owners = np.repeat(np.arange(len(items)), list(map(len, asked)))[hits].tolist()
        for at, owner in zip(hits, owners, strict=True):
            ident, row = flat[at], rows.get(seqs[at])
            if row is not None and ident in identities(*row[:5]):
                kind = ident[0]
                if answers(kind, row[1], items[owner].feed_url):
                    out[owner][kind] = (row[5], bool(row[6]) and kind[0] != "x")
        return out

    def _in(self, sql: str, values: set[Any]) -> list[Any]:
        """Rows of `sql` with its `IN ({})` filled with `values` (in slices under SQLite's parameter limit)."""
        rows: list[Any] = []
        ordered = sorted(values)
        for start in range(0, len(ordered), 900):
            part = ordered[start : start + 900]
            rows += self._exec(sql.format(",".join("?" * len(part))), tuple(part)).fetchall()
        return rows

    def last_cluster_seq(self) -> int:
        return int(self._exec("SELECT coalesce(max(seq), 0) FROM clusters").fetchone()[0])

    def cluster_texts(self, since: float, page: int = 10_000, after: int = 0) -> Iterator[list[tuple[str, str, str]]]:
        last = after
        while rows := self._exec("SELECT seq, id, norm_title, lead FROM clusters WHERE seq > ? AND last_seen >= ? "
                                 "ORDER BY seq LIMIT ?", (last, since, page)).fetchall():
            last = rows[-1][0]
            yield [(cid, title, text) for _, cid, title, text in rows]

    def get_cluster(self, cluster_id: str) -> ClusterRecord | None:
        return next(iter(self.get_clusters([cluster_id])), None)

    def get_clusters(self, cluster_ids: list[str]) -> list[ClusterRecord]:
        # Like story identities, cluster ids are found through the in-memory index, and checked on the row.
        if not cluster_ids:
            return []
        seqs = self._find("clusters", many_keys(list(map(cluster_identity, cluster_ids))))
        rows = {r[0]: r[1:] for r in self._in(f"SELECT seq, {CLUSTER_COLUMNS} FROM clusters "  # noqa: S608
                                              "WHERE seq IN ({})", {q for q in seqs if q})}
        return [_cluster(r) for i, q in zip(cluster_ids, seqs, strict=True) if (r := rows.get(q)) and r[0] == i]

    def save_clusters(self, clusters: list[ClusterRecord]) -> None:
        # A changed cluster is a new row at the end of the table; the index points at it, and its older rows
        # (their `last_seen` earlier) go with eviction. Only appending keeps the table's and the `last_seen`
        # index's pages in order of time: a busy cycle writes a few recent pages, not one per cluster.
        rows = [(c.id, c.title, c.link, c.norm_title, c.lead, _json_strings(c.sources), c.first_seen, c.last_seen,
                 c.size, _json_strings(c.independent)) for c in clusters]
        self._append("clusters", f"INSERT INTO clusters ({CLUSTER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",  # noqa: S608
                     rows, [(c.id,) for c in clusters])

    def assign_many(self, rows: list[Assignment]) -> None:
        # A story already recorded keeps its first record (as does the first of two rows of one story here).
        seqs = self._find("stories", self._asked.id_keys([r.story_id for r in rows]))
        known = {row[0] for row in self._rows({q for q in seqs if q}).values()}  # (a hit is checked on its row)
        fresh = {r.story_id: r for r in reversed(rows) if r.story_id not in known}
        rows = [r for r in rows if fresh.get(r.story_id) is r]
        self._append("stories", "INSERT INTO stories (id, cluster_id, canonical_url, guid, seen_at, processed, "
                     "feed_url, fingerprint) VALUES (?,?,?,?,?,?,?,?)", rows,
                     [Identity(r.story_id, r.feed_url, r.guid, r.canonical_url, r.fingerprint) for r in rows],
                     self._asked.keys_of)

    def checkpoint(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def gc(self, now: float, cluster_window: float, seen_retention: float) -> int:
        # The newest row of each table stays, whatever its age: SQLite numbers a new row after the highest one
        # left, and the in-memory indexes read the rows after the last number they saw, so a number must never
        # be handed out twice (AUTOINCREMENT promised that too, at ~1 µs a row: its counter is a table).
        with self._lock, self._db:
            n = self._db.execute(EVICT_CLUSTERS, (now - cluster_window,)).rowcount
            n += self._db.execute(EVICT_STORIES, (now - seen_retention,)).rowcount
        return n

    # --- feeds: validators, health, schedule (staged during a cycle, committed at its end) ---
    def feed_states(self, urls: list[str]) -> dict[str, FeedState]:
        out: dict[str, FeedState] = {}
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only; values are bound
            rows = self._exec(f"SELECT state FROM feeds WHERE url IN ({marks})", tuple(chunk)).fetchall()  # noqa: S608
            for (raw,) in rows:
                st = _feed_state(raw)
                out[st.url] = st
        return out

    def not_due(self, now: float) -> set[str]:
        return {r[0] for r in self._exec("SELECT url FROM feeds WHERE next_due > ?", (now,)).fetchall()}

    def all_feed_states(self) -> list[FeedState]:
        return [_feed_state(r[0]) for r in self._exec("SELECT state FROM feeds ORDER BY url").fetchall()]

    def stage_feed_states(self, states: list[FeedState]) -> None:
        rows = [(s.url, json.dumps(_feed_dict(s)), s.next_due) for s in states]
        with self.batch(), self._lock:
            self._db.executemany("INSERT OR REPLACE INTO feeds_staged VALUES (?,?,?)", rows)

    def discard_staged(self) -> None:
        self._exec("DELETE FROM feeds_staged")

    def commit_cycle(self, seen_before: float | None = None) -> int:
        """Atomically: staged feed states become current and the cycle's stories are marked processed."""
        with self.batch():
            self._exec("INSERT OR REPLACE INTO feeds SELECT * FROM feeds_staged")
            self._exec("DELETE FROM feeds_staged")
            if seen_before is None:
                return self._exec("UPDATE stories SET processed = 1 WHERE processed = 0").rowcount
            return self._exec("UPDATE stories SET processed = 1 WHERE processed = 0 AND seen_at < ?",
                              (seen_before,)).rowcount

    # --- alert ledger ---
    def alert_history(self, rule_id: str, cluster_id: str) -> AlertHistory:
        rows = self._exec(
            "SELECT kind, payload, created FROM alerts WHERE rule_id = ? AND cluster_id = ?", (rule_id, cluster_id)
        ).fetchall()
        sources: set[str] = set()
        for _, payload, _ in rows:
            sources.update(json.loads(payload)["sources"])
        return AlertHistory(
            has_new=any(k == "new" for k, _, _ in rows),
            alerted_sources=frozenset(sources),
            updates=sum(1 for k, _, _ in rows if k == "update"),
            last_message=max((float(c) for _, _, c in rows), default=0.0),
        )

    def reserve(self, alert: Alert, now: float) -> bool:
        cur = self._exec(
            "INSERT OR IGNORE INTO alerts (key, rule_id, cluster_id, kind, status, payload, created, updated) "
            "VALUES (?,?,?,?, 'pending', ?,?,?)",
            (alert.key, alert.rule_id, alert.cluster_id, alert.kind, json.dumps(alert_to_dict(alert)), now, now),
        )
        return cur.rowcount == 1

    def root_message(self, rule_id: str, cluster_id: str) -> tuple[str, str] | None:
        row = self._exec(
            "SELECT channel_id, ts FROM alerts WHERE rule_id = ? AND cluster_id = ? AND kind = 'new' "
            "AND status = 'sent'", (rule_id, cluster_id),
        ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def root_alert(self, rule_id: str, cluster_id: str) -> Alert | None:
        row = self._exec("SELECT payload FROM alerts WHERE rule_id = ? AND cluster_id = ? AND kind = 'new'",
                         (rule_id, cluster_id)).fetchone()
        return alert_from_dict(json.loads(row[0])) if row else None

    def unsent(self) -> list[tuple[Alert, str]]:
        return self.due_unsent(math.inf)  # every backoff has passed by then

    def due_unsent(self, now: float, base: float = 2.0, cap: float = 300.0) -> list[tuple[Alert, str]]:
        # A failed attempt (last_error set) waits base * 2^(attempts-1) seconds, at most `cap`; an alert
        # interrupted by a crash (no error recorded) is due at once.
        rows = self._exec(
            "SELECT payload, status FROM alerts WHERE status IN ('pending', 'sending') AND (last_error IS NULL "
            "OR updated + min(?, ? * (1 << min(max(attempts - 1, 0), 20))) <= ?) ORDER BY created, key",
            (cap, base, now),
        ).fetchall()
        return [(alert_from_dict(json.loads(p)), s) for p, s in rows]

    def outbox_counts(self) -> dict[str, int]:
        rows = self._exec("SELECT status, count(*) FROM alerts WHERE status != 'sent' GROUP BY status").fetchall()
        return {str(s): int(n) for s, n in rows}

    def created(self, key: str) -> float:
        row = self._exec("SELECT created FROM alerts WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else 0.0

    def mark_unknown(self, key: str, now: float, error: str) -> None:
        self._exec("UPDATE alerts SET status = 'sending', updated = ?, last_error = ? WHERE key = ?", (now, error, key))

    def mark_dead(self, key: str, now: float, error: str) -> None:
        self._exec("UPDATE alerts SET status = 'dead', updated = ?, last_error = ? WHERE key = ?", (now, error, key))

    def dead_letters(self) -> list[tuple[Alert, str, float]]:
        rows = self._exec("SELECT payload, last_error, updated FROM alerts WHERE status = 'dead' "
                          "ORDER BY created, key").fetchall()
        return [(alert_from_dict(json.loads(p)), str(e or ""), float(u)) for p, e, u in rows]

    def retry_dead(self, keys: list[str] | None = None) -> int:
        if keys is None:
            return self._exec("UPDATE alerts SET status = 'pending', attempts = 0, last_error = NULL "
                              "WHERE status = 'dead'").rowcount
        return sum(self._exec("UPDATE alerts SET status = 'pending', attempts = 0, last_error = NULL "
                              "WHERE status = 'dead' AND key LIKE ?", (k + "%",)).rowcount for k in keys)

    # --- silences ---
    def add_silence(self, rule_id: str, until: float, comment: str, now: float) -> int:
        cur = self._exec("INSERT INTO silences (rule_id, until, comment, created) VALUES (?,?,?,?)",
                         (rule_id, until, comment, now))
        return int(cur.lastrowid or 0)

    def silences(self, now: float) -> list[tuple[int, str, float, str]]:
        rows = self._exec("SELECT id, rule_id, until, comment FROM silences WHERE until > ? ORDER BY id",
                          (now,)).fetchall()
        return [(int(i), str(r), float(u), str(c)) for i, r, u, c in rows]

    def expire_silence(self, silence_id: int, now: float) -> bool:
        return self._exec("UPDATE silences SET until = ? WHERE id = ? AND until > ?",
                          (now, silence_id, now)).rowcount == 1

    def silenced(self, rule_id: str, now: float) -> bool:
        return self._exec("SELECT 1 FROM silences WHERE rule_id = ? AND until > ? LIMIT 1",
                          (rule_id, now)).fetchone() is not None

    def mark_sending(self, key: str, now: float) -> None:
        self._exec(
            "UPDATE alerts SET status = 'sending', attempts = attempts + 1, updated = ? WHERE key = ?", (now, key)
        )

    def mark_sent(self, key: str, now: float, channel_id: str, ts: str) -> None:
        self._exec(
            "UPDATE alerts SET status = 'sent', updated = ?, channel_id = ?, ts = ?, last_error = NULL "
            "WHERE key = ?",
            (now, channel_id, ts, key),
        )

    def mark_failed(self, key: str, now: float, error: str) -> None:
        self._exec(
            "UPDATE alerts SET status = 'pending', updated = ?, last_error = ? WHERE key = ?", (now, error, key)
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Asked:
    """The identities a store was last asked about (`seen_many`: a chunk's stories) and their index keys, for the
    writes that follow (the chunk's own rows): each story's identities were made and hashed three times."""

    def __init__(self, items: list[Identity], keys: list[int], bounds: list[int] | None = None) -> None:
        self.items, self.keys, self.bounds = items, keys, bounds or [0]
        self.place = {item.story_id: i for i, item in enumerate(items)}

    def id_keys(self, story_ids: list[str]) -> list[int]:
        """The index key of each story id's identity (the first of a story's identities)."""
        place, keys, bounds = self.place, self.keys, self.bounds
        return [keys[bounds[i]] if (i := place.get(sid)) is not None else many_keys([story_identity(sid)])[0]
                for sid in story_ids]

    def keys_of(self, rows: list[Identity]) -> tuple[list[int], list[int]]:
        """`rows_keys` of these identities, the keys of the ones asked taken as they were made."""
        place, items, bounds = self.place, self.items, self.bounds
        at = [i for row in rows if (i := place.get(row.story_id)) is not None]
        if len(at) < len(rows) or any(items[i] != row for i, row in zip(at, rows, strict=True)):
            return rows_keys(rows)  # (some row not asked as it is written: made anew, all of them)
        keys, counts = self.keys, []
        out: list[int] = []
        for i in at:
            a, b = bounds[i], bounds[i + 1]
            out += keys[a:b]
            counts.append(b - a)
        return out, counts


def _json_strings(values: tuple[str, ...]) -> str:
    """`json.dumps` of strings, the same text in a third of the time (a cluster row is written per story)."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _strings(text: str) -> tuple[str, ...]:
    """`tuple(json.loads(text))` of a JSON list of strings; one without escapes (no backslash: every quote in it
    delimits a string) is cut at its quotes instead, 5x faster (two such lists are read per cluster)."""
    return tuple(text.split('"')[1::2]) if "\\" not in text else tuple(json.loads(text))


def _cluster(r: Any) -> ClusterRecord:
    return ClusterRecord(r[0], r[1], r[2], r[3], r[4], _strings(r[5]), float(r[6]), float(r[7]), int(r[8]),
                         _strings(r[9]))


_FEED_FIELDS = tuple(f.name for f in fields(FeedState))


def _feed_dict(state: FeedState) -> dict[str, object]:
    return {name: getattr(state, name) for name in _FEED_FIELDS}  # flat: cheaper than dataclasses.asdict


def _feed_state(raw: str) -> FeedState:
    d = json.loads(raw)
    d["items"] = tuple(tuple(pair) for pair in d.get("items", ()))
    return FeedState(**d)
