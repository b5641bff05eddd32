"""Candidate lookup for near-duplicates in time and memory independent of the window size.

Signatures: a story is described by a few dozen integer keys that a copy of it shares and an unrelated story
almost never does —

- every *pair* of its headline's content words (at most the `title_words` with the smallest hash, a consistent
  choice): a rewritten headline that keeps three content words keeps three pairs, while two stories that merely
  share a topic word share no pair;
- a consistent sample (1 in `lead_sample`, chosen by hash) of the *bigrams* of content words in the opening of
  its text: a copy carries the same run of text, so it carries the same sampled bigrams wherever its own opening
  starts (captions, datelines and chrome in front only add bigrams).

`KeyTable` maps keys to cluster references in one fixed-size numpy array: buckets of `WAYS` slots, each slot a
64-bit word holding a 16-bit key check and a 48-bit cluster reference, overwritten oldest-first. Memory is fixed
at creation (8 bytes x slots, no per-entry Python objects); a lookup is a handful of vectorized operations on the
story's own keys; old entries fade out when the table wraps, which bounds the state by construction. A stale or
colliding hit only costs a verification: the caller checks every candidate against the state store.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter

import numpy as np

WAYS = 8
DEFAULT_CAPACITY = 250_000  # clusters; 64 MiB of table
_REF_BITS = 48
_REF_MASK = (1 << _REF_BITS) - 1


_M64 = (1 << 64) - 1
_HASHES: dict[str, int] = {}


def word_hash(word: str) -> int:
    """A stable 64-bit hash of a word (the same in every process and run, unlike `hash()`), cached."""
    h = _HASHES.get(word)
    if h is None:
        if len(_HASHES) > 500_000:
            _HASHES.clear()
        h = _HASHES[word] = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    return h


def _pair(a: int, b: int, salt: int) -> int:
    """An order-sensitive 64-bit mix of two word hashes."""
    x = (a * 0x9E3779B97F4A7C15 + b * 0xC2B2AE3D27D4EB4F + salt) & _M64
    x ^= x >> 29
    return (x * 0xBF58476D1CE4E5B9) & _M64


def title_keys(content: list[str], title_words: int = 7) -> list[int]:
    """Keys of a headline's content words: all pairs (a single word when there is only one)."""
    hs = sorted({word_hash(w) for w in content})[:title_words]  # the same words in every copy that has them
    if len(hs) == 1:
        return [_pair(hs[0], 0, 1)]
    return [_pair(a, b, 2) for i, a in enumerate(hs) for b in hs[i + 1:]]


def lead_keys(content: list[str], sample: int = 3) -> list[int]:
    """Keys of a lead's content words: bigrams, sampled 1 in `sample` by hash (the same ones in every copy)."""
    keys = {_pair(word_hash(a), word_hash(b), 3) for a, b in itertools.pairwise(content)}
    return [k for k in keys if k % sample == 0]


class KeyTable:
    """Fixed-size key -> cluster reference table (see module doc). `capacity` is the number of clusters it
    remembers well (about 32 keys each); memory is 8 bytes x the power of two >= 32 x capacity slots."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        slots = 1 << max(10, (32 * capacity - 1).bit_length())
        self.buckets = slots // WAYS
        self._table = np.zeros((self.buckets, WAYS), dtype=np.uint64)
        self._next = np.zeros(self.buckets, dtype=np.uint8)

    @property
    def nbytes(self) -> int:
        return int(self._table.nbytes + self._next.nbytes)

    def _split(self, keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
        k = np.array(keys, dtype=np.uint64)
        return (k % np.uint64(self.buckets)).astype(np.intp), (k >> np.uint64(_REF_BITS)) << np.uint64(_REF_BITS)

    def add(self, ref: int, keys: list[int]) -> None:
        """Remember that cluster `ref` (< 2**48) has these keys, overwriting each bucket's oldest slot."""
        if not keys:
            return
        bucket, check = self._split(keys)
        way = self._next[bucket]
        self._table[bucket, way] = check | np.uint64(ref & _REF_MASK)
        self._next[bucket] = (way + 1) % WAYS

    def lookup(self, keys: list[int]) -> dict[int, int]:
        """Cluster references stored under any of these keys -> how many of the keys hit them."""
        return self.lookup_split(keys, len(keys))[0]

    def lookup_split(self, keys: list[int], split: int) -> tuple[Counter[int], Counter[int]]:
        """Like `lookup`, counting hits of `keys[:split]` and of `keys[split:]` apart (headline, lead)."""
        if not keys:
            return Counter(), Counter()
        bucket, check = self._split(keys)
        rows = self._table[bucket]
        mask = ((rows >> np.uint64(_REF_BITS)) << np.uint64(_REF_BITS) == check[:, None]) & (rows != 0)
        key_of_hit = np.nonzero(mask)[0].tolist()
        refs = (rows[mask] & np.uint64(_REF_MASK)).tolist()
        first = Counter(r for k, r in zip(key_of_hit, refs, strict=True) if k < split)
        return first, Counter(r for k, r in zip(key_of_hit, refs, strict=True) if k >= split)
