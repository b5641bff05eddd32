"""An in-memory index of the stored stories' identities, so the story table needs no index of its own on them.

Each story is known by up to five identities (`identities`): its id; its GUID and content fingerprint within
its feed (the same item republished under a new GUID or link form); its canonical URL and (when it is a URL,
URI or UUID) GUID in other feeds. As SQLite indexes these were five B-trees with an entry at a random place for
every story: at a million stories their pages no longer stay in cache, so each story cost about 45 µs of index
upkeep on write and as much again when the write-ahead log was copied into the file. Here they are 64-bit hashes
in sorted numpy arrays (plus a dict of the newest, merged in when it grows), mapping each identity to the newest
story row (`seq`) carrying it; the table itself is then only appended to.

The index is a cache of the table, never the truth: it is filled from the rows after the last one it saw
(`upto`), so it follows what any connection wrote, and every hit is read back and compared with the row
(a hash collision or a deleted row is a miss). Memory is 12 bytes per identity (about 60 MB for a million
stories with GUIDs and links); rows deleted by eviction are dropped at the next merge.

Where the dedup stage's C kernels are built (`pipeline.dedup.native`), the arrays are searched, the newest entries
kept and the levels merged in C (`index_find`, `_Newest`, `sorted_merge`); the numpy code and the dict here are
their reference (tests/unit/test_native.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from types import ModuleType

import numpy as np

from pipeline.dedup import native

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def global_guid(guid: str) -> bool:
    """Does this GUID name one item in every feed? A URL, a `tag:` or `urn:` URI or a UUID does; a bare number
    or slug (`1234`, `article-17`) names an item of its own feed only: two outlets both have a story 1234, and
    taking them for one story would merge unrelated stories (and hide the second's alert)."""
    return "://" in guid or guid[:4].lower() in ("tag:", "urn:") or _UUID.fullmatch(guid) is not None


def identities(story_id: str, feed: str, guid: str, url: str, fp: str) -> list[tuple[str, str, str]]:
    """The lookups a story answers to, as (kind, feed or '', value), without empty ones: `id`; `guid` and `fp`
    within its feed; `xurl`, and `xguid` when the GUID is a `global_guid`, for another feed's stories (see
    `Store.seen_many`). A link is no identity within its feed: an item without a GUID takes its id from its link
    already, and items that share one (a feed linking every item to a section page) are not one item."""
    if guid and url and fp and "://" in guid:  # most stories: the list in one go (~3x fewer steps; made three
        return [("id", "", story_id), ("guid", feed, guid), ("fp", feed, fp), ("xurl", "", url),  # times a story)
                ("xguid", "", guid)]
    out = [("id", "", story_id)]  # (`story_identity`, without a call)
    if guid:
        out.append(("guid", feed, guid))
    if fp:
        out.append(("fp", feed, fp))
    if url:
        out.append(("xurl", "", url))
    if guid and global_guid(guid):
        out.append(("xguid", "", guid))
    return out


def answers(kind: str, row_feed: str, feed: str) -> bool:
    """Does a row (of `row_feed`) carrying an identity of `kind` answer for a story of `feed`? `xurl` and `xguid`
    are for other feeds' stories only: within a feed a link proves nothing, and a GUID has `guid`."""
    return kind[0] != "x" or row_feed != feed


def story_identity(story_id: str) -> tuple[str, str, str]:
    """The identity of a story's id (its first, `id`)."""
    return ("id", "", story_id)


def many_keys(idents: list[tuple[str, str, str]]) -> list[int]:
    """The index key of each identity: its `hash()` as an unsigned 64-bit number, in one pass in C (a Python call
    per identity cost more than the hashing). `hash()` is salted per process, which is fine for an index rebuilt
    in each process."""
    return np.fromiter(map(hash, idents), dtype=np.int64, count=len(idents)).view(np.uint64).tolist()  # type: ignore[no-any-return]


def rows_keys(rows: Sequence[tuple[str, str, str, str, str]]) -> tuple[list[int], list[int]]:
    """The keys of many stories' identities ((story id, feed, guid, url, fingerprint) a story), concatenated,
    and how many each story has."""
    asked = [identities(*row) for row in rows]
    return many_keys(list(chain.from_iterable(asked))), list(map(len, asked))


def cluster_identity(cluster_id: str) -> tuple[str, str, str]:
    """A cluster id as an identity: the cluster table is indexed the same way."""
    return ("cluster", "", cluster_id)


class _Newest:
    """The newest entries of an `IdentityIndex` (key -> row) where the kernels are built: an open-addressing table
    of two numpy arrays, filled and read in C (`newest_put`, `newest_get`), at most half full (doubled when it
    would be more), key 0 kept aside (0 marks an empty slot). As a dict (the code without the kernels, and the
    reference) each lookup and insert cost ~0.1-0.2 µs at a million stories, cache misses in a 4 MB dict."""

    def __init__(self, kernels: ModuleType, bits: int = 17) -> None:
        self._kernels = kernels  # (kept: a table made with the kernels is read with them, even if switched off)
        self._empty(bits)
        self.zero: int | None = None  # the row of key 0

    def _empty(self, bits: int) -> None:
        self.keys = np.zeros(1 << bits, dtype=np.uint64)
        self.rows = np.zeros(1 << bits, dtype=np.uint64)
        self.size = 0

    def __len__(self) -> int:
        return self.size + (self.zero is not None)

    def put(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Each key's row set (a later one among `keys` wins)."""
        if self.size + len(keys) > len(self.keys) // 2:
            old_keys, old_rows = self.arrays(with_zero=False)
            self._empty((4 * (self.size + len(keys))).bit_length())
            self.size = self._kernels.newest_put(self.keys, self.rows, old_keys, old_rows)
        if not keys.all():
            self.zero = int(rows[keys == 0][-1])
        self.size += self._kernels.newest_put(self.keys, self.rows, keys, rows)

    def over(self, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """`rows`, the row of each key this table holds put in its place."""
        found = np.frombuffer(self._kernels.newest_get(self.keys, self.rows, keys), dtype=np.uint64)
        out: np.ndarray = np.where(found != 0, found, rows)
        if self.zero is not None:
            out[keys == 0] = self.zero
        return out

    def arrays(self, with_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The entries: (keys, rows)."""
        used = self.keys != 0
        keys, rows = self.keys[used], self.rows[used]
        if with_zero and self.zero is not None:
            keys, rows = np.append(keys, np.uint64(0)), np.append(rows, np.uint64(self.zero))
        return keys, rows

    def clear(self) -> None:
        self.keys.fill(0)
        self.size, self.zero = 0, None

    def as_dict(self) -> dict[int, int]:
        return dict(zip(*(a.tolist() for a in self.arrays()), strict=True))

    def __eq__(self, other: object) -> bool:
        return self.as_dict() == (other.as_dict() if isinstance(other, _Newest) else other)

    # (it changes: unhashable, as a dict)
    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, key: int) -> int:
        row = int(self.over(np.array([key], dtype=np.uint64), np.zeros(1, dtype=np.uint64))[0])
        if not row:
            raise KeyError(key)
        return row

    def __setitem__(self, key: int, row: int) -> None:
        self.put(np.array([key], dtype=np.uint64), np.array([row], dtype=np.uint64))


SHARDS = 16  # the big sorted array is kept in parts (by the top bits of the hash), so a fold copies one at a time


class IdentityIndex:
    """Key (an identity's hash) -> the newest row (`seq`) carrying it; 0 for none.

    Three levels, newest first, like a log-structured merge tree: a dict of the newest entries; a sorted array
    they are merged into every `merge_at` entries; the big sorted arrays (in `SHARDS` parts) that one is folded
    into every `fold_at` entries. Merging straight into the big arrays copied all of them every 100,000 entries
    (~30 ms at a million stories); now the frequent merges copy the middle array only.

    Most keys asked are of new stories, found nowhere: a Bloom filter with one hash over the arrays' keys (4 to 8
    bits a key, made anew at a fold when it has grown stale) answers about three in four of those with one
    memory access instead of two binary searches (those were ~8 µs a story at a million stories)."""

    def __init__(self, merge_at: int = 50_000, fold_at: int = 1_000_000, min_filter: int = 1 << 19) -> None:
        empty = np.empty(0, dtype=np.uint64)
        self.keys = [empty] * SHARDS  # per shard: sorted, unique
        self.rows = [empty.astype(np.uint32)] * SHARDS  # seq numbers: 4 bytes, 8 past 4 billion rows
        self.mid_keys, self.mid_rows = empty, empty.astype(np.uint32)  # newer than anything in `keys`
        # newer than anything in the arrays: a table in C where the kernels are built, else a dict
        self.recent: dict[int, int] | _Newest = {} if native.KERNELS is None else _Newest(native.KERNELS)
        self.upto = 0  # the last row added
        self._merge_at, self._fold_at = merge_at, fold_at
        self._min_filter = min_filter
        self._filter = np.zeros(min_filter, dtype=np.uint8)  # bytes: 4 Mi bits, for the first million keys
        self._remembered = 0  # keys put in the filter since it was made (evicted ones included)

    def __len__(self) -> int:
        return sum(map(len, self.keys)) + len(self.mid_keys) + len(self.recent)

    @property
    def nbytes(self) -> int:
        return self._filter.nbytes + sum(int(k.nbytes + r.nbytes) for k, r in zip(
            [*self.keys, self.mid_keys], [*self.rows, self.mid_rows], strict=True))

    def _bits(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bit = keys & np.uint64(len(self._filter) * 8 - 1)
        return (bit >> np.uint64(3)).astype(np.intp), np.left_shift(1, (bit & np.uint64(7)).astype(np.uint8))

    def _remember(self, keys: np.ndarray) -> None:
        if (kernels := native.KERNELS) is not None:
            kernels.bloom_add(self._filter, np.ascontiguousarray(keys, dtype=np.uint64))
        else:
            at, bit = self._bits(keys)
            np.bitwise_or.at(self._filter, at, bit)
        self._remembered += len(keys)

    def _may_have(self, keys: np.ndarray) -> np.ndarray:
        at, bit = self._bits(keys)
        maybe: np.ndarray = (self._filter[at] & bit) != 0
        return maybe

    def add(self, seq: int, keys: list[int]) -> None:
        """Row `seq` (greater than every row added before) carries these keys."""
        self.add_rows([seq], keys, [len(keys)])

    def add_rows(self, seqs: list[int], keys: list[int], counts: list[int]) -> None:
        """`add` of many rows at once (`seqs` increasing, after every row added before): row `seqs[i]` carries
        `counts[i]` of the `keys`, in order."""
        if seqs:
            if isinstance(self.recent, _Newest):
                self.recent.put(np.array(keys, dtype=np.uint64), np.repeat(np.array(seqs, dtype=np.uint64), counts))
            else:
                self.recent.update(zip(keys, np.repeat(seqs, counts).tolist(), strict=True))
            self.upto = seqs[-1]

    def find(self, keys: list[int]) -> list[int]:
        """The newest row carrying each key, 0 for none."""
        if not keys:
            return []
        wanted = np.array(keys, dtype=np.uint64)
        if (kernels := native.KERNELS) is not None:
            rows = np.frombuffer(kernels.index_find(wanted, self._filter, [*self.keys, self.mid_keys],
                                                    [*self.rows, self.mid_rows], int(_SHIFT)), dtype=np.uint64)
        else:
            rows = self._find_in_arrays(wanted)
        recent = self.recent
        if isinstance(recent, _Newest):
            return (recent.over(wanted, rows) if recent else rows).tolist()  # type: ignore[no-any-return]
        found: list[int] = rows.tolist()
        if recent:  # newest
            found = list(map(recent.get, keys, found))  # (the loop in C; `keys` and `found` are as long)
        return found

    def _find_in_arrays(self, wanted: np.ndarray) -> np.ndarray:
        """`find` in the arrays only (the reference of the kernel `index_find`)."""
        rows = np.zeros(len(wanted), dtype=np.uint64)
        order = np.flatnonzero(self._may_have(wanted))
        wanted = wanted[order]
        by_key = np.argsort(wanted)  # sorted, each shard's keys are a run, and searching them goes in order
        order, wanted = order[by_key], wanted[by_key]
        bounds = np.searchsorted(wanted >> _SHIFT, np.arange(SHARDS + 1, dtype=np.uint64)).tolist()
        for s in range(SHARDS):
            a, b, known = bounds[s], bounds[s + 1], self.keys[s]
            if a < b and len(known):
                at = np.searchsorted(known, wanted[a:b]).clip(max=len(known) - 1)
                rows[order[a:b]] = np.where(known[at] == wanted[a:b], self.rows[s][at], 0)
        if len(self.mid_keys) and len(wanted):  # newer
            at = np.searchsorted(self.mid_keys, wanted).clip(max=len(self.mid_keys) - 1)
            hit = self.mid_keys[at] == wanted
            rows[order[hit]] = self.mid_rows[at[hit]]
        return rows

    def due(self) -> bool:
        """Is the dict of newest entries big enough to merge into the arrays?"""
        return len(self.recent) >= self._merge_at

    def merge(self, oldest_row: int = 0) -> None:
        """Merge the newest entries into the middle array (folded into the big ones when it has grown to
        `fold_at`), dropping entries of rows before `oldest_row` (evicted) from the arrays copied."""
        dtype = np.uint64 if self.upto >= 1 << 32 else np.uint32
        if isinstance(self.recent, _Newest):
            new, new_rows = self.recent.arrays()
            new_rows = new_rows.astype(dtype)
            self.recent.clear()
        else:
            new = np.fromiter(self.recent.keys(), dtype=np.uint64, count=len(self.recent))
            new_rows = np.fromiter(self.recent.values(), dtype=dtype, count=len(self.recent))
            self.recent = {}
        order = np.argsort(new)
        self.mid_keys, self.mid_rows = _merged(self.mid_keys, self.mid_rows, new[order], new_rows[order], oldest_row)
        self._remember(new)
        if len(self.mid_keys) < self._fold_at:
            return
        new, new_rows = self.mid_keys, self.mid_rows
        self.mid_keys, self.mid_rows = new[:0], new_rows[:0]
        bounds = np.searchsorted(new >> _SHIFT, np.arange(SHARDS + 1, dtype=np.uint64)).tolist()
        for s in range(SHARDS):
            self.keys[s], self.rows[s] = _merged(self.keys[s], self.rows[s], new[bounds[s] : bounds[s + 1]],
                                                 new_rows[bounds[s] : bounds[s + 1]], oldest_row)
        total = sum(map(len, self.keys))
        if total > 2 * len(self._filter) or self._remembered > 3 * len(self._filter):  # under 4 bits a key, or
            size = max(self._min_filter, 1 << (total // 2).bit_length())  # 2.7 counting evicted ones: made anew
            self._filter = np.zeros(size, dtype=np.uint8)
            self._remembered = 0
            for keys in self.keys:
                self._remember(keys)


def _merged(keys: np.ndarray, rows: np.ndarray, add: np.ndarray, add_rows: np.ndarray,
            oldest_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique `keys` with their `rows`, and newer sorted unique entries added (replacing a key's row),
    without entries of rows before `oldest_row`."""
    if rows.dtype != add_rows.dtype and add_rows.dtype == np.uint64:
        rows = rows.astype(np.uint64)
    if (kernels := native.KERNELS) is not None:  # one pass (the numpy code below: ~15 ms at a million keys)
        out_keys, out_rows = np.empty(len(keys) + len(add), np.uint64), np.empty(len(keys) + len(add), rows.dtype)
        n = kernels.sorted_merge(keys, np.ascontiguousarray(rows), add, np.ascontiguousarray(add_rows, rows.dtype),
                                 oldest_row, out_keys, out_rows)
        return out_keys[:n], out_rows[:n]
    if len(add):
        at = np.searchsorted(keys, add)
        known = at < len(keys)
        known[known] = keys[at[known]] == add[known]
        rows[at[known]] = add_rows[known]  # a newer row for a key already there (in place: replaced below)
        keys = np.insert(keys, at[~known], add[~known])
        rows = np.insert(rows, at[~known], add_rows[~known])
    if oldest_row and len(rows) and rows.min() < oldest_row:
        live = rows >= oldest_row
        keys, rows = keys[live], rows[live]
    return keys, rows


_SHIFT = np.uint64(64 - (SHARDS - 1).bit_length())
