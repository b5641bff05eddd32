"""The SQLite state store's story identities and cluster ids: the in-memory indexes over the story and cluster
tables, and the move from schema version 3 (which kept them in SQLite indexes)."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pipeline.state import sqlite as sqlite_store
from pipeline.state.identities import (
    IdentityIndex,
    cluster_identity,
    global_guid,
    identities,
    many_keys,
    rows_keys,
)
from pipeline.state.sqlite import SCHEMA_VERSION, SqliteStore, forget_indexes
from pipeline.state.store import Assignment, ClusterRecord, Identity

FEED = "http://a.example/feed"


def identity_keys(story_id: str, feed: str, guid: str, url: str, fp: str) -> list[tuple[str, int]]:
    """(kind, index key) of each identity of a story, one at a time as the key is defined: its `hash()` as an
    unsigned 64-bit number."""
    return [(ident[0], hash(ident) & (2**64 - 1)) for ident in identities(story_id, feed, guid, url, fp)]


def cluster_key(cluster_id: str) -> int:
    return hash(cluster_identity(cluster_id)) & (2**64 - 1)


def row(sid: str, cluster: str, url: str = "", guid: str = "", feed: str = FEED, fp: str = "",
        seen_at: float = 100.0) -> Assignment:
    return Assignment(sid, cluster, url, guid, seen_at, False, feed, fp)


def ident(sid: str, url: str = "", guid: str = "", feed: str = FEED, fp: str = "") -> Identity:
    return Identity(sid, feed, guid, url, fp)


def test_index_answers_with_the_newest_row_before_and_after_merging() -> None:
    ids = IdentityIndex(merge_at=4)
    ids.add(1, [k for _, k in identity_keys("a", FEED, "g", "http://x/1", "")])
    ids.add(2, [k for _, k in identity_keys("b", FEED, "g2", "http://x/1", "")])  # same URL, newer row
    keys = dict(identity_keys("a", FEED, "g", "http://x/1", ""))
    assert ids.find([keys["id"], keys["xurl"], keys["guid"], 12345]) == [1, 2, 1, 0]
    assert ids.due()
    ids.merge()
    assert not ids.recent and len(ids) == 5  # (id, guid, xurl) each (bare GUIDs: no xguid), the URL's shared
    assert ids.find([keys["id"], keys["xurl"], keys["guid"], 12345]) == [1, 2, 1, 0]
    ids.add(3, [k for _, k in identity_keys("c", FEED, "", "http://x/1", "")])  # newer, in the dict
    assert ids.find([keys["xurl"]]) == [3]
    ids.merge(oldest_row=2)  # row 1 evicted: its entries go
    assert ids.find([keys["id"], keys["guid"], keys["xurl"]]) == [0, 0, 3]
    assert all(list(k) == sorted(k) for k in ids.keys)


def test_rows_added_at_once_are_those_added_one_by_one() -> None:
    """`add_rows` (a chunk's rows, keys hashed in one pass) leaves the index as `add` per row does: a key
    carried by two rows answers with the newer."""
    rows = [("a", FEED, "g", "http://x/1", "f1"), ("b", FEED, "", "http://x/1", ""), ("c", "", "", "", "")]
    one_by_one, at_once = IdentityIndex(), IdentityIndex()
    for seq, r in enumerate(rows, 7):
        one_by_one.add(seq, [k for _, k in identity_keys(*r)])
    at_once.add_rows([7, 8, 9], *rows_keys(rows))
    assert at_once.recent == one_by_one.recent and at_once.upto == one_by_one.upto == 9
    by_one = [dict(identity_keys("a", "", "", "", ""))["id"], cluster_key("c1")]
    assert many_keys([("id", "", "a"), ("cluster", "", "c1")]) == by_one


def test_index_levels_agree_with_a_dict() -> None:
    """Entries move from the dict to the middle array to the big ones; at every step each key answers with its
    newest row, or, once that row is evicted, with nothing (or an evicted row, which the store's check rejects)."""
    rng = np.random.default_rng(4)
    ids = IdentityIndex(merge_at=5, fold_at=12, min_filter=4)  # a filter of 32 bits: remade, and mostly wrong
    model: dict[int, int] = {}
    oldest = 0
    used: set[str] = set()
    filters: set[int] = set()
    for seq in range(1, 400):
        keys = [int(k) for k in rng.integers(1, 60, 2)] + [int(rng.integers(1, 2**63)) << 1]
        ids.add(seq, keys)
        model.update(dict.fromkeys(keys, seq))
        if ids.due():
            oldest = max(oldest, int(rng.integers(0, seq)) if rng.random() < 0.3 else 0)
            ids.merge(oldest)
            used |= {"middle"} if len(ids.mid_keys) else set()
            used |= {"big"} if any(len(k) for k in ids.keys) else set()
            filters.add(len(ids._filter))
        asked = [*model, 3, 2**63 + 5]
        for key, row in zip(asked, ids.find(asked), strict=True):
            newest = model.get(key, 0)
            assert row == newest if newest >= oldest else row < oldest, (key, row, newest, oldest)
    assert used == {"middle", "big"} and len(filters) > 3  # the filter was made anew as the index grew
    assert all(list(k) == sorted(k) and len(set(k.tolist())) == len(k) for k in [*ids.keys, ids.mid_keys])


def test_index_rows_past_four_billion() -> None:
    """Seq numbers are kept in 4 bytes until a row number needs 8 (AUTOINCREMENT never reuses one)."""
    ids = IdentityIndex()
    ids.add(7, [1])
    ids.merge()
    ids.add(5_000_000_000, [2])
    ids.merge()
    assert ids.find([1, 2, 3]) == [7, 5_000_000_000, 0]


def test_only_guids_that_name_their_site_are_looked_up_in_every_feed() -> None:
    for guid in ("https://x.example/a/1", "tag:x.example,2026:1", "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                 "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "Tag:X"):
        assert global_guid(guid), guid
    for guid in ("1234", "article-17", "x.example/a/1", "3f2504e0", "urn"):
        assert not global_guid(guid), guid
    assert [k for k, *_ in identities("s", FEED, "1234", "x.example/1", "f")] == ["id", "guid", "fp", "xurl"]


def test_seen_many_finds_each_kind_and_checks_the_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.assign_many([row("s1", "c1", url="http://x/1", guid="tag:x,2026:1", fp="f1"),
                       row("s2", "c2", url="http://x/2", guid="g2", feed="http://b.example/feed")])
    got = store.seen_many([ident("s1"), ident("new", url="http://x/1"),
                           ident("new", guid="tag:x,2026:1", feed="http://other"), ident("new", fp="f1"),
                           ident("new", fp="f1", feed="http://other"), ident("nothing"),
                           ident("new", guid="g2", feed="http://b.example/feed"), ident("new", guid="g2"),
                           ident("new", url="http://x/1", feed="http://other")])
    assert got[0] == {"id": ("c1", False)}
    assert got[1] == {}  # a link is no identity within its feed (items linking to one section page)...
    assert got[8] == {"xurl": ("c1", False)}  # ...but in another feed, the same link is the same story
    assert got[2] == {"xguid": ("c1", False)}  # another feed's item with this GUID: same link, not a twin
    assert got[3] == {"fp": ("c1", False)}
    assert got[4] == {} and got[5] == {}  # a fingerprint counts within its feed only
    assert got[6] == {"guid": ("c2", False)}  # a bare GUID too, in its own feed...
    assert got[7] == {}  # ...but not in another's: every outlet has a story "g2"
    # A hit is read back and compared: an index entry naming the wrong row (a hash collision) is no hit.
    ids = store._index("stories")
    ids.recent[dict(identity_keys("s9", "", "", "", ""))["id"]] = ids.recent[dict(identity_keys("s1", "", "", "",
                                                                                                  ""))["id"]]
    assert store.story_cluster("s9") is None
    assert store.story_cluster("s1") == ("c1", False)
    store.commit_cycle()
    assert store.story_cluster("s1") == ("c1", True)
    store.close()


def test_the_newest_story_with_a_url_answers_for_it(tmp_path: Path) -> None:
    """When a URL's first cluster has closed and the URL went on to a new one, later copies go there."""
    store = SqliteStore(tmp_path / "s.db")
    store.assign_many([row("s1", "old", url="http://x/1")])
    store.assign_many([row("s2", "new", url="http://x/1", feed="http://b.example/feed")])
    assert store.seen_many([ident("s3", url="http://x/1", feed="http://c")])[0] == {"xurl": ("new", False)}
    store.assign_many([row("s1", "other")])  # a story already recorded keeps its first record
    assert store.story_cluster("s1") == ("old", False)
    store.assign_many([row("s4", "first"), row("s4", "second")])  # so does one written twice at once
    assert store.story_cluster("s4") == ("first", False)
    assert store._db.execute("SELECT count(*) FROM stories WHERE id IN ('s1', 's4')").fetchone()[0] == 2
    # a row left out shifts the ones after it: each new row is indexed under its own identities
    store.assign_many([row("s1", "again", url="http://x/7"), row("s5", "c5", url="http://x/5")])
    assert store.seen_many([ident("s6", url="http://x/5", feed="http://c")])[0] == {"xurl": ("c5", False)}
    assert store.seen_many([ident("s6", url="http://x/7", feed="http://c")])[0] == {}
    store.close()


@pytest.mark.parametrize("at_once", [100, 3])
def test_rows_are_written_in_order_many_to_a_statement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       at_once: int) -> None:
    """Rows go in by statements of `ROWS_AT_ONCE` rows, the rest one by one; all in order, each indexed."""
    monkeypatch.setattr(sqlite_store, "ROWS_AT_ONCE", at_once)
    store = SqliteStore(tmp_path / "s.db")
    for n in (2, 250):  # fewer than a statement's rows; several statements and the rest
        first = store._index("stories").upto
        store.assign_many([row(f"s{first + i}", f"c{first + i}", url=f"http://x/{first + i}") for i in range(n)])
        store.save_clusters([cluster(f"c{first + i}", size=i + 1) for i in range(n)])
        got = store._db.execute("SELECT seq, id FROM stories WHERE seq > ? ORDER BY seq", (first,)).fetchall()
        assert got == [(first + i + 1, f"s{first + i}") for i in range(n)]
        assert [c.size for c in store.get_clusters([f"c{first + i}" for i in range(n)])] == list(range(1, n + 1))
        seen = store.seen_many([ident("new", url=f"http://x/{first + i}", feed="http://c") for i in range(n)])
        assert seen == [{"xurl": (f"c{first + i}", False)} for i in range(n)]
        assert store._index("stories").upto == first + n
    store.close()


def test_another_connection_and_a_rollback(tmp_path: Path) -> None:
    """The index follows rows written through another connection, and forgets rows of a rolled-back batch
    (their seq numbers are handed out again)."""
    store, other = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    assert other.story_cluster("s1") is None  # index built (empty)
    store.assign_many([row("s1", "c1")])
    assert other.story_cluster("s1") == ("c1", False)
    with pytest.raises(RuntimeError), store.batch():
        store.assign_many([row("gone", "c2")])
        assert store.story_cluster("gone") == ("c2", False)
        raise RuntimeError("the cycle failed")
    assert store.story_cluster("gone") is None
    store.assign_many([row("s2", "c3")])  # takes the rolled-back row's seq
    assert store.story_cluster("s2") == ("c3", False) and store.story_cluster("gone") is None
    assert other.story_cluster("s2") == ("c3", False)
    store.close()
    other.close()


def test_rows_written_are_indexed_without_reading_them_back_unless_another_process_wrote(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store indexes the rows it writes as it writes them (their seq numbers follow the index's last), but
    only when nothing else wrote in between: a row another process slips in after the index caught up shifts the
    numbers, and both rows must still be found (by reading them back)."""
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.assign_many([row("s1", "c1")])
    ids = store._index("stories")
    assert ids.upto == 1 and store.story_cluster("s1") == ("c1", False)
    calls: list[str] = []
    slip_at = 0  # the index call after which another process writes a row
    caught_up = SqliteStore._index

    def index(self: SqliteStore, table: str) -> IdentityIndex:
        found = caught_up(self, table)
        calls.append(table)
        if len(calls) == slip_at:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("INSERT INTO stories (id, cluster_id, canonical_url, guid, seen_at, processed, "
                          "feed_url, fingerprint) VALUES ('theirs', 'c9', '', '', 1.0, 0, ?, '')", (FEED,))
            other.close()
        return found

    monkeypatch.setattr(SqliteStore, "_index", index)
    store.assign_many([row("s2", "c2")])  # nothing written in between: indexed as written
    assert ids.upto == 2 and calls == ["stories", "stories"]  # the check that it is new, the write
    calls.clear()
    slip_at = 2  # just after the write's catch-up, before its insert
    store.assign_many([row("s3", "c3")])  # lands at 4, after theirs at 3
    assert ids.upto == 2  # not indexed as written: the numbers are not the ones that followed
    assert [store.story_cluster(s) for s in ("s3", "theirs", "s2")] == [("c3", False), ("c9", False), ("c2", False)]
    assert ids.upto == 4
    store.close()


def test_stores_of_one_state_file_share_its_indexes(tmp_path: Path) -> None:
    """The worker opens a store per stage and cycle: they share the file's in-memory indexes (built once), but a
    new state file at the same path, or a restart, starts afresh."""
    path = tmp_path / "s.db"
    first = SqliteStore(path)
    first.assign_many([row("s1", "c1")])
    assert first.story_cluster("s1") == ("c1", False)
    built = first._index("stories")
    first.close()
    again = SqliteStore(path)
    assert again._index("stories") is built and again.story_cluster("s1") == ("c1", False)
    forget_indexes()  # a restart
    assert SqliteStore(path)._index("stories") is not built
    again.close()
    for name in ("s.db", "s.db-wal", "s.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    fresh = SqliteStore(path)  # moved aside and started over: a new state, rows numbered from 1 again
    fresh.assign_many([row("s2", "c2")])
    assert fresh.story_cluster("s1") is None and fresh.story_cluster("s2") == ("c2", False)
    fresh.close()


def test_evicted_stories_are_forgotten(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.assign_many([row("old", "c1", url="http://x/1", seen_at=10.0), row("new", "c2", seen_at=500.0)])
    store.commit_cycle()
    assert store.story_cluster("old") == ("c1", True)
    assert store.gc(now=600.0, cluster_window=10**9, seen_retention=300.0) == 1
    assert store.story_cluster("old") is None and store.seen_many([ident("x", url="http://x/1")]) == [{}]
    ids = store._index("stories")
    ids.merge(oldest_row=store._db.execute("SELECT min(seq) FROM stories").fetchone()[0])
    assert len(ids) == 1  # only the new story's id is left
    store.close()


def test_eviction_keeps_each_tables_newest_row_so_no_number_comes_again(tmp_path: Path) -> None:
    """SQLite numbers a new row after the highest one left; if eviction removed every row, numbers would be handed
    out again, and the in-memory indexes (which read the rows after the last number they saw) would miss the new
    rows: a story seen again would not be known."""
    store = SqliteStore(tmp_path / "s.db")
    store.assign_many([row("s1", "c1", seen_at=10.0), row("s2", "c2", seen_at=20.0)])
    store.save_clusters([cluster("c1", last_seen=10.0), cluster("c2", last_seen=20.0)])
    store.commit_cycle()
    assert store.gc(now=10**9, cluster_window=1.0, seen_retention=1.0) == 2  # all old; the newest of each stays
    store.assign_many([row("s3", "c3")])
    store.save_clusters([cluster("c3")])
    assert store._db.execute("SELECT max(seq) FROM stories").fetchone()[0] == 3
    other = SqliteStore(tmp_path / "s.db")  # another stage's store: shares the indexes, catches up from them
    assert other.story_cluster("s3") == ("c3", False) and [c.id for c in other.get_clusters(["c3"])] == ["c3"]
    assert other.story_cluster("s1") is None and other.story_cluster("s2") == ("c2", True)
    store.close()
    other.close()


def cluster(cid: str, last_seen: float = 100.0, size: int = 1) -> ClusterRecord:
    return ClusterRecord(cid, f"Title {cid}", "http://x", f"title {cid}", "", ("A",), 100.0, last_seen, size, ("A",))


def test_clusters_are_appended_and_found_by_id(tmp_path: Path) -> None:
    """A changed cluster is written as a new row at the table's end (its older rows age out), found by id through
    the in-memory index, checked on the row."""
    store, other = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    store.save_clusters([cluster("c1"), cluster("c2")])
    store.save_clusters([cluster("c1", last_seen=200.0, size=2)])
    assert store._db.execute("SELECT seq, id, size FROM clusters").fetchall() == [(1, "c1", 1), (2, "c2", 1),
                                                                                  (3, "c1", 2)]
    assert [c.size for c in store.get_clusters(["c1", "nope", "c2"])] == [2, 1]
    assert other.get_cluster("c1") == cluster("c1", last_seen=200.0, size=2)  # written by another connection
    assert [[cid for cid, _, _ in page] for page in store.cluster_texts(150.0)] == [["c1"]]
    assert [[cid for cid, _, _ in page] for page in store.cluster_texts(0.0, page=2)] == [["c1", "c2"], ["c1"]]
    ids = store._index("clusters")
    ids.recent[cluster_key("c9")] = ids.recent[cluster_key("c2")]  # an index entry naming another cluster's row
    assert store.get_cluster("c9") is None
    with pytest.raises(RuntimeError), store.batch():
        store.save_clusters([cluster("c3")])
        assert store.get_cluster("c3") is not None
        raise RuntimeError("the cycle failed")
    assert store.get_cluster("c3") is None
    store.save_clusters([cluster("c4")])  # takes the rolled-back row's seq
    assert store.get_cluster("c4") is not None and store.get_cluster("c3") is None
    # c2 and c1's first row; c4 is as old, but the table's newest row stays (its number must not come again)
    assert store.gc(now=1000.0, cluster_window=850.0, seen_retention=10**9) == 2
    assert store.get_clusters(["c1", "c2", "c4"]) == [cluster("c1", last_seen=200.0, size=2), cluster("c4")]
    store.close()
    other.close()


def test_outlet_lists_read_back_as_written() -> None:
    """A cluster's outlets are a JSON list of strings in its row; read back cut at the quotes when there is no
    escape in it, else with `json` — the same strings either way, however the list was written (this writer,
    `json.dumps` with or without spaces or ASCII escapes, as older rows were written)."""
    rng = random.Random(7)
    alphabet = ["a", "B", " ", '"', "\\", "é", "Ж", ",", "[", "]", "\n", "\u2028", "😀", "'", "/", ": "]
    for _ in range(5000):
        names = tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 4)))
        for text in (sqlite_store._json_strings(names), json.dumps(list(names)),
                     json.dumps(list(names), separators=(",", ":")), json.dumps(list(names), ensure_ascii=False)):
            assert sqlite_store._strings(text) == names, text


V3_STORIES = """
CREATE TABLE stories (
  id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL, canonical_url TEXT NOT NULL, guid TEXT NOT NULL,
  seen_at REAL NOT NULL, processed INTEGER NOT NULL DEFAULT 0, feed_url TEXT NOT NULL, fingerprint TEXT NOT NULL);
CREATE INDEX stories_url ON stories(canonical_url);
CREATE INDEX stories_guid ON stories(guid);
CREATE INDEX stories_fp ON stories(fingerprint);
CREATE INDEX stories_unprocessed ON stories(processed) WHERE processed = 0;
CREATE INDEX stories_seen_at ON stories(seen_at);
CREATE TABLE clusters (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, link TEXT NOT NULL, norm_title TEXT NOT NULL, lead TEXT NOT NULL,
  sources TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL, size INTEGER NOT NULL,
  independent TEXT NOT NULL DEFAULT '[]');
CREATE INDEX clusters_last_seen ON clusters(last_seen);
CREATE TABLE feeds (url TEXT PRIMARY KEY, state TEXT NOT NULL, next_due REAL NOT NULL);
PRAGMA user_version = 3;
"""


def test_a_version_3_state_file_is_moved_over(tmp_path: Path) -> None:
    """A state file of the previous version keeps its stories (order, processed flags) and opens as the new one."""
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    db.executescript(V3_STORIES)
    db.executemany("INSERT INTO stories VALUES (?,?,?,?,?,?,?,?)",
                   [("s1", "c1", "http://x/1", "g1", 10.0, 1, FEED, "f1"), ("s2", "c2", "http://x/1", "", 20.0, 0,
                                                                              "http://b", "")])
    db.execute("INSERT INTO clusters VALUES ('c2', 'T', 'L', 't', 'l', '[\"A\"]', 1.0, 20.0, 3, '[]')")
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert store._db.execute("SELECT seq, id FROM stories ORDER BY seq").fetchall() == [(1, "s1"), (2, "s2")]
    names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'stories'")}
    assert names == {"stories", "stories_unprocessed", "stories_seen_at"}
    assert store.get_cluster("c2") == ClusterRecord("c2", "T", "L", "t", "l", ("A",), 1.0, 20.0, 3, ())
    assert store.story_cluster("s1") == ("c1", True)
    assert store.seen_many([ident("s3", url="http://x/1", feed="http://c")])[0] == {"xurl": ("c2", False)}
    assert store.seen_many([ident("s3", guid="g1")])[0] == {"guid": ("c1", True)}  # (a bare GUID: its feed's only)
    store.close()
    SqliteStore(path).close()  # and opens again as version 4


def test_a_state_file_with_autoincrement_tables_works_alike(tmp_path: Path) -> None:
    """Version 4 files made before 2026-12-02 number their rows with AUTOINCREMENT; they open, index, evict and
    reopen like new ones (nothing to move over)."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(sqlite_store.SCHEMA.replace("seq INTEGER PRIMARY KEY,", "seq INTEGER PRIMARY KEY AUTOINCREMENT,"))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.close()
    store = SqliteStore(path)
    assert store._db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()[0] == 1
    store.assign_many([row("s1", "c1", seen_at=10.0), row("s2", "c2", seen_at=20.0)])
    store.save_clusters([cluster("c1", last_seen=10.0), cluster("c2", last_seen=20.0)])
    store.commit_cycle()
    assert store.gc(now=10**9, cluster_window=1.0, seen_retention=1.0) == 2
    store.assign_many([row("s3", "c3")])
    store.close()
    forget_indexes()  # a restart
    again = SqliteStore(path)
    assert [again.story_cluster(s) for s in ("s1", "s2", "s3")] == [None, ("c2", True), ("c3", False)]
    assert again._db.execute("SELECT max(seq) FROM stories").fetchone()[0] == 3
    again.close()


def test_a_big_cycle_does_not_leave_a_big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The write-ahead log grown by a busy cycle is cut back once checkpointed (it used to keep its largest
    size until the last connection closed)."""
    monkeypatch.setattr(sqlite_store, "WAL_KEEP_BYTES", 100_000)
    store = SqliteStore(tmp_path / "s.db")
    with store.batch():
        store.assign_many([row(f"s{i}", "c" * 200, url=f"http://x/{i}" * 5) for i in range(5000)])
    wal = tmp_path / "s.db-wal"
    assert wal.stat().st_size > 1_000_000
    store.checkpoint()
    store.assign_many([row("next", "c1")])  # the next write starts the log over, truncated to the limit
    assert wal.stat().st_size <= 100_000
    store.close()


def test_the_writes_after_a_lookup_index_the_same_keys(tmp_path: Path) -> None:
    """`seen_many` keeps the keys it made for the writes that follow (`_Asked`); a row written as asked is indexed
    under those keys, one changed since (or never asked) under its own: lookups answer as if each were made anew."""
    store = SqliteStore(tmp_path / "s.db")
    asked = [ident("a", url="http://x/a", guid="tag:x,1:a", fp="fa"), ident("b", url="http://x/b"), ident("c")]
    store.seen_many(asked)
    got = store._asked.keys_of(asked)
    assert got == rows_keys(asked)
    changed = [asked[0], ident("b", url="http://x/b2"), ident("d", url="http://x/d")]
    assert store._asked.keys_of(changed) == rows_keys(changed)
    assert store._asked.id_keys(["c", "e"]) == many_keys([("id", "", "c"), ("id", "", "e")])
    store.assign_many([row("a", "c1", url="http://x/a", guid="tag:x,1:a", fp="fa"), row("b", "c2", url="http://x/b2")])
    found = store.seen_many([ident("z", url="http://x/a", feed="http://other"), ident("y", url="http://x/b2",
                                                                                     feed="http://other")])
    assert found == [{"xurl": ("c1", False)}, {"xurl": ("c2", False)}]
    assert store.story_cluster("a") == ("c1", False) and store.story_cluster("b") == ("c2", False)
