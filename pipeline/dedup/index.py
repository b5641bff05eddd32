"""Candidate lookup for near-duplicates in time and memory independent of the window size.

Signatures: a story is described by a few dozen integer keys that a copy of it shares and an unrelated story
almost never does —

- every *pair* of its headline's content words (at most the `title_words` with the smallest hash, a consistent
  choice): a rewritten headline that keeps three content words keeps three pairs, while two stories that merely
  share a topic word share no pair;
- a consistent sample (1 in `lead_sample`, chosen by hash) of the *bigrams* of content words in the opening of
  its text: a copy carries the same run of text, so it carries the same sampled bigrams wherever its own opening
  starts (captions, datelines and chrome in front only add bigrams).

Keys are computed for many stories at once (`signatures`, a few numpy operations per batch rather than a Python
loop per key), because a per-key loop was the largest cost of clustering a story; so are the words themselves
(hashed on the batch's bytes, their stems found in a numpy table: `_word_spans`, `_Stems`).

`KeyTable` maps keys to cluster references in one fixed-size numpy array: buckets of `WAYS` slots, each slot a
64-bit word holding a 16-bit key check and a 48-bit cluster reference, overwritten oldest-first. Memory is fixed
at creation (8 bytes x slots, no per-entry Python objects); a lookup is a handful of vectorized operations on a
whole batch of keys; old entries fade out when the table wraps, which bounds the state by construction. A stale
or colliding hit only costs a verification: the caller checks every candidate against the state store.

Where the C kernels are built (`pipeline.dedup.native`), the word spans and hashes, the stem lookup, the keys
and the table's adds and lookups are each one call into them: the same arrays as the numpy code below, which
runs without them and is their reference (tests/unit/test_native.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from pipeline.dedup import native
from pipeline.dedup.normalize import STOPWORDS, stemmed


def _view(data: bytes, dtype: type) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype)


WAYS = 8  # a power of two (ways wrap around with `& (WAYS - 1)`)
DEFAULT_CAPACITY = 250_000  # clusters; 61 MiB of table (256 bytes each)
_REF_BITS = 48
_REF_MASK = (1 << _REF_BITS) - 1
_U = np.uint64


def word_hash(word: str) -> int:
    """A stable, non-zero 64-bit hash of a word (the same in every process and run, unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") or 1


def _mix(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """An order-sensitive 64-bit mix of two arrays of word hashes (uint64 arithmetic wraps, as intended)."""
    x: np.ndarray = a * _U(0x9E3779B97F4A7C15) + b * _U(0xC2B2AE3D27D4EB4F) + _U(salt)
    x = x ^ (x >> _U(29))
    mixed: np.ndarray = x * _U(0xBF58476D1CE4E5B9)
    return mixed


@dataclass(frozen=True)
class Signatures:
    """The keys of a batch of stories, concatenated: `keys[i]` belongs to story `owner[i]` and is a headline key
    when `title[i]`, else a lead key."""

    keys: np.ndarray
    owner: np.ndarray
    title: np.ndarray


class _Stems:
    """Word -> the hash of its stem (`word_hash(stem(word))`, 0 for a stopword), for a whole batch of words at
    once: an open-addressing table of two numpy arrays, keyed by a 64-bit hash of the word's UTF-8 bytes
    (`_word_spans`). A dict lookup per word was the largest cost of computing keys (~10 µs a story, mostly cache
    misses on the dict's key strings); this is a few array operations a batch. Words are learned as they come
    (stemming and hashing each once); the table doubles when a quarter full, up to `MAX_BITS`, and is then
    emptied and relearned, which bounds it. (A lookup takes as many rounds of array operations as the longest
    probe among the batch's words: ~18 a chunk at half full, ~8 at a quarter, -1.2 % instructions a story.)"""

    MAX_BITS = 20  # 16 MiB: up to 256k distinct words, then emptied

    def __init__(self, bits: int = 16) -> None:  # 1 MiB to start with, doubled as words come
        self._empty(bits)
        self.numbers = np.empty(0, dtype=_U)  # the stem hashes of stems that are numbers ("2014"; "1" of "one"), sorted

    def _empty(self, bits: int) -> None:
        self.keys = np.zeros(1 << bits, dtype=_U)  # 0: an empty slot
        self.values = np.zeros(1 << bits, dtype=_U)
        self.mask = (1 << bits) - 1
        self.size = 0

    def get(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stem hash, known) of each word hash."""
        if (kernels := native.KERNELS) is not None:
            hashes, known = kernels.stem_lookup(np.ascontiguousarray(raw, dtype=_U), self.keys, self.values, self.mask)
            return _view(hashes, _U), _view(known, np.bool_)
        slot = (raw & _U(self.mask)).astype(np.intp)
        out = np.zeros(len(raw), dtype=_U)
        known = np.zeros(len(raw), dtype=bool)
        todo = np.arange(len(raw))
        while len(todo):  # linear probing, one step for all unresolved words at a time (at most a quarter full)
            at = slot[todo]
            stored = self.keys[at]
            hit = stored == raw[todo]
            out[todo[hit]], known[todo[hit]] = self.values[at[hit]], True
            todo = todo[~hit & (stored != 0)]
            slot[todo] = (slot[todo] + 1) & self.mask
        return out, known

    def make_room(self, n: int) -> bool:
        """Room for `n` more words (the table stays at most a quarter full): the table doubled, up to `MAX_BITS`, or
        else emptied. False when emptied."""
        bits = self.mask.bit_length()
        while self.size + n > 1 << (bits - 2) and bits < self.MAX_BITS:
            bits += 1
        if self.size + n <= 1 << (bits - 2):
            if bits > self.mask.bit_length():
                used = np.flatnonzero(self.keys)
                keys, values = self.keys[used].tolist(), self.values[used].tolist()
                self._empty(bits)
                self._insert(keys, values)
            return True
        self._empty(max(bits, (4 * n - 1).bit_length()))
        self.numbers = self.numbers[:0]  # (relearned with the words)
        return False

    def _insert(self, raw: list[int], values: list[int]) -> None:
        keys, table, mask = self.keys, self.values, self.mask
        for r, v in zip(raw, values, strict=True):
            at = r & mask
            while keys[at]:
                at = (at + 1) & mask
            keys[at], table[at] = r, v
        self.size += len(raw)

    def learn(self, raw: list[int], words: list[str]) -> None:
        """Add words not in the table (`raw`: their hashes, distinct; see `make_room`)."""
        stems = [None if word in STOPWORDS else stemmed(word) for word in words]
        self._insert(raw, [0 if stem is None else word_hash(stem) for stem in stems])
        if numbers := [word_hash(stem) for stem in stems if stem is not None and stem.isdigit()]:
            new = np.unique(np.array(numbers, dtype=_U))
            new = new[~self.are_numbers(new)]  # (inserted in place: real text brings new numbers all the time)
            self.numbers = np.insert(self.numbers, np.searchsorted(self.numbers, new), new)

    def are_numbers(self, hashes: np.ndarray) -> np.ndarray:
        """Which of these stem hashes are of numbers."""
        if not len(self.numbers):
            return np.zeros(len(hashes), dtype=bool)
        at = np.searchsorted(self.numbers, hashes).clip(max=len(self.numbers) - 1)
        found: np.ndarray = self.numbers[at] == hashes
        return found


_STEMS = _Stems()
_LOCK = threading.Lock()  # the stem table and the powers are shared by the process's Dedupers
_P = 0x100000001B3  # odd: invertible modulo 2**64
_BATCH = 500  # texts hashed at once, at most (a chunk): ~0.25 MB of text, so ~4 MiB of powers kept
_POWERS = [np.ones(1, dtype=_U), np.ones(1, dtype=_U)]  # P**i and P**-i modulo 2**64, grown as needed


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    with _LOCK:
        if len(_POWERS[0]) < n:
            size = 1 << (n - 1).bit_length()
            for i, base in enumerate((_P, pow(_P, -1, 1 << 64))):
                _POWERS[i] = np.concatenate([np.ones(1, dtype=_U), np.cumprod(np.full(size - 1, base, dtype=_U))])
        return _POWERS[0], _POWERS[1]


def _word_spans(texts: list[tuple[str, str]], lead_span: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes,
                                                                       np.ndarray, np.ndarray]:
    """The words of normalized (headline, lead) pairs (words separated by single spaces): per word its 64-bit
    hash, story, whether it is a headline word, and where it is in the returned UTF-8 bytes (start, end); only
    the first `lead_span` words of a lead. Computed on the bytes of all texts at once: a polynomial hash from
    prefix sums, so there is no Python work per word."""
    joined = "\n".join(chain.from_iterable(texts))
    if joined.count("\n") >= 2 * len(texts):  # a text with a line break of its own (not a normalized one)
        joined = "\n".join(t.replace("\n", " ") for t in chain.from_iterable(texts))
    data = joined.encode() + b"\n"  # "\n" ends each text, " " each word
    if (kernels := native.KERNELS) is not None:
        h, story, title, start, end = kernels.word_spans(data, lead_span)
        return (_view(h, _U), _view(story, np.intp), _view(title, np.bool_), data, _view(start, np.intp),
                _view(end, np.intp))
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b <= 32)
    newline = b[ends] == 10
    segment = np.cumsum(newline) - newline  # which text each word is in: headline 2i, lead 2i + 1
    starts = np.concatenate([np.zeros(1, dtype=np.intp), ends[:-1] + 1])
    up, down = _powers(len(b) + 1)
    sums = np.concatenate([np.zeros(1, dtype=_U), np.cumsum((b.astype(_U) + _U(1)) * up[: len(b)])])
    h = (sums[ends] - sums[starts]) * down[starts]  # sum of (byte + 1) * P**(i - start) over the word
    h ^= h >> _U(31)
    h *= _U(0xBF58476D1CE4E5B9)
    h ^= h >> _U(29)
    h[h == 0] = 1
    word = ends > starts  # not the empty text
    h, segment, starts, ends = h[word], segment[word], starts[word], ends[word]
    rank = ranks(segment, 2 * len(texts))  # place in its text
    title = (segment & 1) == 0  # (bit operations: numpy's integer division is ~10x slower)
    keep = title | (rank < lead_span)
    return h[keep], segment[keep] >> 1, title[keep], data, starts[keep], ends[keep]


def _stem_hashes(raw: np.ndarray, data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`_STEMS` of each word hash, learning the words not seen before (their text is data[start:end])."""
    with _LOCK:
        return _learned(raw, data, starts, ends)


def _learned(raw: np.ndarray, data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`_stem_hashes`, with `_LOCK` held."""
    hashes, known = _STEMS.get(raw)
    if known.all():
        return hashes
    learn = ~known
    if not _STEMS.make_room(int(learn.sum())):  # emptied: start again with this batch's words
        learn[:] = True
    new, first = np.unique(raw[learn], return_index=True)
    at_start, at_end = starts[learn][first].tolist(), ends[learn][first].tolist()
    _STEMS.learn(new.tolist(), [data[a:e].decode() for a, e in zip(at_start, at_end, strict=True)])
    hashes, known = _STEMS.get(raw)
    return hashes


def ranks(groups: np.ndarray, n: int) -> np.ndarray:
    """Each element's place among the elements of its group (sorted group numbers, all below `n`)."""
    placed: np.ndarray = np.arange(len(groups)) - np.searchsorted(groups, np.arange(n))[groups]
    return placed


def _distinct(values: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, owner) sorted by owner then value, without repeats of a value within an owner."""
    order = np.argsort(values)  # then stably by owner: 5x faster than np.lexsort (a radix sort when it can)
    by_owner = owner[order]
    if len(by_owner) and by_owner.max() < 1 << 16:
        by_owner = by_owner.astype(np.uint16)
    order = order[np.argsort(by_owner, kind="stable")]
    values, owner = values[order], owner[order]
    fresh = np.ones(len(values), dtype=bool)
    fresh[1:] = (values[1:] != values[:-1]) | (owner[1:] != owner[:-1])
    return values[fresh], owner[fresh]


@functools.lru_cache(maxsize=8)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`np.triu_indices(n, 1)`: the (i, j) of every pair i < j of n (made once: ~0.3 µs a story per chunk)."""
    i, j = np.triu_indices(n, 1)
    i.flags.writeable = j.flags.writeable = False  # shared by every call
    return i, j


def signatures(texts: list[tuple[str, str]], title_words: int = 7, sample: int = 3, lead_span: int = 40) -> Signatures:
    """Keys of normalized (headline, lead) pairs: every pair of the headline's `title_words` content words with
    the smallest hashes (the word itself when there is one), and the bigrams of content words among the lead's
    first `lead_span` words, sampled 1 in `sample` by value (so every copy samples the same ones); no repeats."""
    n = len(texts)
    if n > _BATCH:  # in parts: the hashing's memory grows with the bytes of a batch
        parts = [signatures(texts[i : i + _BATCH], title_words, sample, lead_span) for i in range(0, n, _BATCH)]
        return Signatures(np.concatenate([p.keys for p in parts]),
                          np.concatenate([p.owner + i * _BATCH for i, p in enumerate(parts)]),
                          np.concatenate([p.title for p in parts]))
    raw, word_owner, in_title, data, starts, ends = _word_spans(texts, lead_span)
    hashes = _stem_hashes(raw, data, starts, ends)
    if (kernels := native.KERNELS) is not None:
        keys, owner, title = kernels.keys_of(hashes, word_owner, in_title, n, title_words, sample)
        return Signatures(_view(keys, _U), _view(owner, np.intp), _view(title, np.bool_))
    stories = np.arange(n)

    words, owner = hashes[in_title], word_owner[in_title]
    words, owner = _distinct(words[words != 0], owner[words != 0])
    rank = ranks(owner, n)  # place among the story's distinct words
    chosen = rank < title_words
    matrix = np.zeros((n, title_words), dtype=_U)
    matrix[owner[chosen], rank[chosen]] = words[chosen]
    size = np.bincount(owner[chosen], minlength=n).reshape(n, 1)
    i, j = _pairs(title_words)
    pairs = _mix(matrix[:, i], matrix[:, j], 2)
    single = _mix(matrix[:, 0], np.zeros(n, dtype=_U), 1)[:, None]
    t_keys = np.concatenate([single, pairs], axis=1)[np.concatenate([size == 1, j[None, :] < size], axis=1)]
    t_owner = np.repeat(stories, np.where(size[:, 0] == 1, 1, size[:, 0] * (size[:, 0] - 1) // 2))

    words, w_owner = hashes[~in_title], word_owner[~in_title]
    words, w_owner = words[words != 0], w_owner[words != 0]
    grams = _mix(words[:-1], words[1:], 3)
    ok = (w_owner[:-1] == w_owner[1:]) & (grams % _U(sample) == 0)
    l_keys, l_owner = _distinct(grams[ok], w_owner[:-1][ok])

    owner = np.concatenate([t_owner, l_owner])
    order = np.argsort(owner, kind="stable")  # each story's headline keys, then its lead keys
    title = np.concatenate([np.ones(len(t_keys), dtype=bool), np.zeros(len(l_keys), dtype=bool)])
    return Signatures(np.concatenate([t_keys, l_keys])[order], owner[order], title[order])


def title_keys(title_n: str, title_words: int = 7) -> list[int]:
    """Headline keys of one normalized headline (see `signatures`)."""
    return signatures([(title_n, "")], title_words).keys.tolist()  # type: ignore[no-any-return]


def lead_keys(lead_n: str, sample: int = 3) -> list[int]:
    """Lead keys of one normalized lead (see `signatures`)."""
    return signatures([("", lead_n)], sample=sample).keys.tolist()  # type: ignore[no-any-return]


class Headlines:
    """The content words of normalized headlines (`normalize.content_words`) as the hashes of their stems, and which
    of those are numbers, for comparing headlines (`core.title_match`): made for many headlines at once with the
    word hashes and stem table the keys are made with. Comparing headlines by their words' strings cost ~0.4 µs a
    word at a million stories, nearly all of it cache misses in the dict of stems.

    `headlines[title]` is (stem hashes, those of numbers) of a headline, one given or not (computed then)."""

    def __init__(self, titles: list[str]) -> None:
        self._place = {title: i for i, title in enumerate(titles)}
        raw, owner, _, data, starts, ends = _word_spans([(title, "") for title in titles], 0)
        with _LOCK:  # numbers asked in the same hold as learned: the table may be emptied after
            hashes = _learned(raw, data, starts, ends)
            number = _STEMS.are_numbers(hashes)
        content = hashes != 0
        self._hashes: list[int] = hashes[content].tolist()
        self._bounds: list[int] = np.searchsorted(owner[content], np.arange(len(titles) + 1)).tolist()
        numbers: dict[int, list[int]] = {}
        for h, i in zip(hashes[content & number].tolist(), owner[content & number].tolist(), strict=True):
            numbers.setdefault(i, []).append(h)
        self._numbers = {i: frozenset(found) for i, found in numbers.items()}

    def __getitem__(self, title: str) -> tuple[set[int], frozenset[int]]:
        i = self._place.get(title)
        if i is None:
            return Headlines([title])[title]
        return set(self._hashes[self._bounds[i] : self._bounds[i + 1]]), self._numbers.get(i, _NONE)


_NONE: frozenset[int] = frozenset()


class KeyTable:
    """Fixed-size key -> cluster reference table (see module doc). `capacity` is the number of clusters it
    remembers well (about 32 keys each); memory is 8 bytes x 32 x capacity slots (256 bytes a cluster).

    A key's bucket is the top of its low 32 bits scaled to the number of buckets (`_split`), so that number
    need not be a power of two: rounded up to one, as before 2026-12-04, a table for a million clusters took
    256 MiB instead of 244, and one for 600,000 took 256 instead of 146."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        buckets = max(1024, 32 * capacity) // WAYS
        self._use(np.zeros((buckets, WAYS), dtype=_U), np.zeros(buckets, dtype=np.uint8))

    def _use(self, table: np.ndarray, nxt: np.ndarray) -> None:
        """Take these slots (buckets x WAYS) and each bucket's next way to overwrite."""
        self.buckets = len(table)
        self._table, self._next = np.ascontiguousarray(table), nxt
        self._slots = self._table.reshape(-1)  # the same memory, one slot after another (bucket x WAYS + way)

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes + self._next.nbytes)

    def save(self, path: Path, meta: dict[str, object]) -> None:
        """Write the table to `path` with `meta` (atomically: a crash leaves the old file or none)."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, table=self._table, next=self._next, meta=np.array(json.dumps(meta, sort_keys=True)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> tuple[KeyTable, dict[str, object]] | None:
        """The table saved at `path` and the meta it was saved with; None when there is none or it cannot be
        read (the caller decides whether the meta fits)."""
        try:
            with np.load(path) as saved:
                meta, table, nxt = json.loads(str(saved["meta"])), saved["table"], saved["next"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # none, or cut short by a full disk
            return None
        out = cls.__new__(cls)
        out._use(table, nxt)
        return out, meta

    def _split(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's bucket (its low 32 bits times the number of buckets, over 2**32: a multiplication, not a
        division) and its 16-bit check (its top bits, which the bucket does not depend on)."""
        bucket = ((keys & _U(0xFFFFFFFF)) * _U(self.buckets)) >> _U(32)
        return bucket.astype(np.intp), (keys >> _U(_REF_BITS)).astype(np.uint16)

    def add(self, ref: int, keys: list[int] | np.ndarray) -> None:
        """Remember that cluster `ref` (< 2**48) has these keys, overwriting each bucket's oldest slot."""
        k = np.asarray(keys, dtype=_U)
        self.add_many(np.full(len(k), ref, dtype=_U), k)

    def add_many(self, refs: np.ndarray, keys: np.ndarray) -> None:
        """`add` for many (ref, key) pairs at once; keys falling into one bucket take its next ways in turn."""
        if not len(keys):
            return
        if (kernels := native.KERNELS) is not None:
            kernels.table_add(self._slots, self._next, np.ascontiguousarray(refs, dtype=_U),
                             np.ascontiguousarray(keys, dtype=_U))
            return
        bucket, check = self._split(keys)
        order = np.argsort(bucket * len(bucket) + np.arange(len(bucket)))  # stable, as a fast unstable sort
        bucket, check, refs = bucket[order], check[order], refs[order]
        first = np.ones(len(bucket), dtype=bool)
        first[1:] = bucket[1:] != bucket[:-1]
        start = np.flatnonzero(first)
        count = np.diff(np.append(start, len(bucket)))
        rank = np.arange(len(bucket)) - np.repeat(start, count)  # place among the batch's keys of its bucket
        way = (self._next[bucket].astype(np.intp) + rank) & (WAYS - 1)
        self._slots[bucket * WAYS + way] = (check.astype(_U) << _U(_REF_BITS)) | (refs & _U(_REF_MASK))
        self._next[bucket[start]] = (self._next[bucket[start]].astype(np.intp) + count) & (WAYS - 1)

    def lookup_many(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into `keys`, cluster reference) of every stored entry under one of `keys`."""
        if (kernels := native.KERNELS) is not None:
            at, refs = kernels.table_lookup(self._slots, np.ascontiguousarray(keys, dtype=_U))
            return _view(at, np.intp), _view(refs, _U)
        bucket, check = self._split(keys)
        rows = np.take(self._table, bucket, axis=0)  # each key's bucket, one cache line: read once, for both
        key_of_hit, way = np.nonzero((rows >> _U(_REF_BITS)) == check.astype(_U)[:, None])
        refs = rows.reshape(-1)[key_of_hit * WAYS + way] & _U(_REF_MASK)
        stored = refs != 0  # an empty slot matches a key whose check is 0
        return key_of_hit[stored], refs[stored]

    def lookup(self, keys: list[int]) -> Counter[int]:
        """Cluster references stored under any of these keys -> how many of the keys hit them."""
        _, refs = self.lookup_many(np.asarray(keys, dtype=_U))
        return Counter(refs.tolist())
