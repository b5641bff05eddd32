"""Pure dedup decision plus the `Deduper` that applies it against the state store.

Layers, cheapest first: the same story seen before (by id), the same canonical URL or GUID in any feed, then a
near-duplicate test on the headline and on the lead text. Every decision carries a reason and a score. Candidate
clusters come from a fixed-size table of signature keys (`pipeline.dedup.index`), not from a scan of the window;
the clusters themselves stay in the state store, so memory does not grow with the window.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz

from pipeline.dedup import native
from pipeline.dedup.index import DEFAULT_CAPACITY, WAYS, Headlines, KeyTable, Signatures, ranks, signatures
from pipeline.dedup.normalize import compile_extra, content_words, fold, lead, norm_title, words
from pipeline.model import ClusteredStory, Story
from pipeline.sources.parse import item_url
from pipeline.state.identities import answers, identities
from pipeline.state.store import Assignment, ClusterRecord, Identity, Seen, Store

DEFAULT_WINDOW = 72 * 3600.0
DEFAULT_SEEN_RETENTION = 30 * 86400.0
# Where a chunk's time goes: texts normalized; identities looked up in the store; signature keys computed and
# looked up; candidates read back (in one query for the chunk) and each story decided; the chunk's writes.
PHASES = ("normalize", "store reads", "keys+lookup", "decide", "writes")
MAX_CHUNK = 1 << 16  # stories a chunk (a story's number in its chunk shares a 64-bit word with a cluster reference)
FEW_KEYS = 3  # a headline or lead with at most this many keys: one shared key makes a candidate
SHARED_CAP = 16  # earlier stories of its chunk a key pairs with, at most (`_Shared`)


class Reason(str, Enum):
    """Why a story landed in its cluster."""

    NEW = "new-cluster"
    REPLAY = "replay"  # assigned in a cycle that did not finish; re-emitted so no alert is lost
    # the same feed's item again (its GUID, or its text under a new GUID, link or id), not yet alerted
    SAME_ITEM = "same-item"
    SAME_LINK = "same-link"
    SIMILAR_TITLE = "similar-title"
    SIMILAR_LEAD = "similar-lead"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Near-duplicate thresholds and the minimum text needed to trust them.

    Headlines match when they share at least `title_shared` content words (stemmed, no stopwords; two of them
    not bare numbers) and those are at least `title_jaccard` of the words of both (`title_jaccard_more` when
    they share `title_shared_more`), or when rapidfuzz's token_sort_ratio reaches `title`
    on headlines of `min_title_words` or more. Leads match on rapidfuzz's partial_ratio >= `lead`. Short or
    generic headlines are not evidence of sameness, hence the minimum counts. Tuned on STS-B headlines and
    the UCI sample (tests/benchmarks/eval_dedup.py).
    """

    title: float = 88.0
    title_shared: int = 3
    title_jaccard: float = 0.45
    title_shared_more: int = 4  # ... or this many shared with a lower Jaccard
    title_jaccard_more: float = 0.40
    lead: float = 90.0
    min_title_words: int = 5
    min_lead_words: int = 15
    lead_chars: int = 160
    title_words: int = 7  # headline keys: pairs of up to this many content words
    lead_span: int = 40  # lead keys: sampled bigrams of the content words among this many first words
    lead_sample: int = 3
    max_candidates: int = 50


class Decision(NamedTuple):
    """The near-duplicate verdict: the cluster to join (None: found a new one), why, and the score."""

    cluster_id: str | None
    reason: Reason
    score: float


Hashed = tuple[set[int], frozenset[int]]  # a headline's content words as stem hashes, and which are numbers


def title_match(title_n: str, other_n: str, th: Thresholds, words: set[str] | None = None,
                hashed: tuple[Hashed, Hashed] | None = None) -> float:
    """Headline similarity 0-100 when the two headlines count as the same story, else 0 (`words`: the content
    words of `title_n`, when known; `hashed`: both headlines' content words as `index.Headlines` gives them, which
    gives the same score without the words' strings, unless rapidfuzz needs them)."""
    if hashed is None:
        a, b = set(content_words(title_n)) if words is None else words, set(content_words(other_n))
        both = a & b
        return _title_score(title_n, other_n, th, len(a), len(b), len(both), sum(map(str.isdigit, both)), (a, b))
    (a_hashed, numbers), (b_hashed, _) = hashed
    shared = a_hashed & b_hashed
    return _title_score(title_n, other_n, th, len(a_hashed), len(b_hashed), len(shared), len(numbers & shared))


def _title_score(title_n: str, other_n: str, th: Thresholds, n_a: int, n_b: int, shared: int, numbers: int,
                 words: tuple[set[str], set[str]] | None = None) -> float:
    """`title_match` from the counts of the two headlines' content words, of those they share and of the shared
    numbers; `words`: the content words, when known."""
    jaccard = shared / max(1, n_a + n_b - shared)
    words_shared = shared - numbers  # a date (3/10/14) is not a story
    if (shared >= th.title_shared and words_shared >= 2
            and (jaccard >= th.title_jaccard or (shared >= th.title_shared_more and jaccard >= th.title_jaccard_more))):
        if shared in (n_a, n_b):  # one headline's words all in the other's (a copy's often are): what
            return 100.0  # token_set_ratio gives then, without joining and splitting them again
        a, b = words or (set(content_words(title_n)), set(content_words(other_n)))
        return float(fuzz.token_set_ratio(" ".join(sorted(a)), " ".join(sorted(b))))
    if min(n_words(title_n), n_words(other_n)) >= th.min_title_words:
        score = float(fuzz.token_sort_ratio(title_n, other_n, score_cutoff=th.title))
        if score >= th.title:
            return score
    return 0.0


_NEW = Decision(None, Reason.NEW, 0.0)


def n_words(normalized: str) -> int:
    """The number of words of a normalized text (words separated by single spaces), without splitting it."""
    return normalized.count(" ") + 1 if normalized else 0


def decide(title_n: str, lead_n: str, candidates: list[ClusterRecord], th: Thresholds,
           headlines: Headlines | None = None) -> Decision:
    """Best-scoring candidate cluster that matches on headline or lead, else a new cluster (`headlines`: the
    content words of the headlines, hashed, when made for a chunk; the same decision)."""
    best = _NEW
    if not candidates:
        return best
    words = set(content_words(title_n)) if headlines is None else None
    mine = headlines[title_n] if headlines is not None else None
    lead_ok: bool | None = None  # (known once needed: most copies match on their headline first)
    opening = ""
    for c in candidates:
        hashed = None if headlines is None or mine is None else (mine, headlines[c.norm_title])
        score = title_match(title_n, c.norm_title, th, words, hashed)
        if score and score > best.score:
            best = Decision(c.id, Reason.SIMILAR_TITLE, score)
            if score == 100:  # nothing scores higher, and a tie keeps the first: done
                return best
        if lead_ok is None:
            lead_ok, opening = n_words(lead_n) >= th.min_lead_words, lead_n[: th.lead_chars]
        if lead_ok and n_words(c.lead) >= th.min_lead_words:
            # The opening of either text inside the other: survives datelines, captions and truncation. Scores
            # under the threshold count as 0, so rapidfuzz may stop early; the second is skipped after a 100,
            # and both when the shorter text is inside the other (a 100: the copy of a copy, cheaply).
            inside = opening in c.lead if len(opening) <= len(c.lead) else c.lead in opening
            score = 100.0 if inside else fuzz.partial_ratio(opening, c.lead, score_cutoff=th.lead)
            if score < 100:
                score = max(score, fuzz.partial_ratio(c.lead[: th.lead_chars], lead_n,
                                                      score_cutoff=max(th.lead, score)))
            if score >= th.lead and score > best.score:
                best = Decision(c.id, Reason.SIMILAR_LEAD, score)
    return best


def fingerprint(title_n: str, lead_n: str, min_words: int = 8) -> str:
    """Content fingerprint of a story (normalized headline and lead); '' when there is too little text to
    tell two items apart (a bare "Live updates" headline is not an identity)."""
    if n_words(title_n) + n_words(lead_n) < min_words:
        return ""
    return hashlib.sha1(f"{title_n}\n{lead_n}".encode(), usedforsecurity=False).hexdigest()[:20]


def _item_url(link: str) -> str:
    """`item_url`: by the kernel for a plain link (most are; 1.2 -> 0.2 µs), else by `sources.parse`."""
    if (kernels := native.KERNELS) is not None and (url := kernels.item_url(link)) is not None:
        return url  # type: ignore[no-any-return]
    return item_url(link)


def outlet_name(source: str) -> str:
    """The outlet part of a feed title: 'Daily Mirror - World News' -> 'daily mirror' (folded)."""
    return fold(re.split(r"\s+[-|:–—]\s+", source, maxsplit=1)[0]).strip()


def republishes(story: Story, sources: tuple[str, ...]) -> bool:
    """Is this copy a republication rather than an independent outlet? Yes when its feed is tagged
    `aggregator`, or when its headline or opening (aggregator chrome included) credits an outlet already in
    the cluster by name ("Start reading Daily Mirror ...", "... - Mirror")."""
    if story.aggregator:
        return True
    text = f"{story.title}\n{story.summary[:400]}"
    if len(sources) <= 16 and text.isascii():  # a word of ASCII text is in its lower case: a few searches in C
        low = text.lower()  # rule most copies out before their words are made (~5 µs)
        if not any(first and first in low for first in map(_FIRST_WORDS.__getitem__, sources)):
            return False
    said = words(text)
    present = set(said)
    # Only an outlet whose first word is a word of the text can be credited: one pass in C over the cluster's
    # outlets (a wire story can have hundreds; a Python loop over them cost ~1 ms a copy at 2,000).
    if present.isdisjoint(map(_FIRST_WORDS.__getitem__, sources)):
        return False
    head = f" {' '.join(said)} "
    return any(n[0] in head for s in sources if s != story.source and (n := _outlet_words(s)) and n[1] in present)


class _FirstWords(dict[str, str]):
    """Outlet (feed title) -> the first word of its name; '' (in no text's words) when the name is too short
    to tell. A dict, as its lookups are the loop in C above; feed titles are few, it is emptied past 4,096."""

    def __missing__(self, source: str) -> str:
        if len(self) >= 4096:
            self.clear()
        found = _outlet_words(source)
        self[source] = first = found[1] if found else ""
        return first


_FIRST_WORDS = _FirstWords()


@functools.lru_cache(maxsize=4096)
def _outlet_words(source: str) -> tuple[str, str] | None:
    """The outlet's name as words (' daily mirror ') and its first word; None when too short to tell."""
    name = outlet_name(source)
    if len(name) < 4:
        return None
    found = words(name)
    return f" {' '.join(found)} ", (found[0] if found else "")


def cluster_ref(cluster_id: str) -> int:
    """The 48-bit number behind a cluster id (`c` + 12 hex digits), for the key table."""
    return int(cluster_id[1:13], 16)


@dataclass(slots=True)
class _Pending:
    """A chunk's writes, held until its end (then written with one statement each), and what the chunk's later
    stories must see of them: the identities it recorded, its clusters, its new signature keys. Also the
    clusters the chunk read from the store (most in one query before its first story)."""

    clusters: dict[str, ClusterRecord] = field(default_factory=dict)
    stored: dict[str, ClusterRecord | None] = field(default_factory=dict)  # read from the store (None: gone)
    rows: list[Assignment] = field(default_factory=list)
    found: dict[tuple[str, str, str], tuple[str, bool]] = field(default_factory=dict)
    feed_of: dict[tuple[str, str, str], str] = field(default_factory=dict)  # the feed of the row in `found`
    keys: dict[int, list[int]] = field(default_factory=dict)
    refs: list[int] = field(default_factory=list)
    ref_keys: list[np.ndarray] = field(default_factory=list)

    def record(self, row: Assignment, kinds: list[tuple[str, str, str]]) -> None:
        """Keep `row` for the chunk's end; `kinds`: its `identities`, for the chunk's later stories."""
        self.rows.append(row)
        hit = (row.cluster_id, row.processed)
        for k in kinds:
            self.found[k] = hit  # the newest row carrying an identity answers for it, as in the store
            self.feed_of[k] = row.feed_url

    def seen(self, kinds: list[tuple[str, str, str]], feed: str) -> dict[str, tuple[str, bool]]:
        """As `Store.seen_many`, of the chunk's own rows (`feed`: the asking story's)."""
        found = self.found
        if found.keys().isdisjoint(kinds):  # (one pass in C: most stories' are new)
            return {}
        return {k[0]: hit for k in kinds if (hit := found.get(k)) and answers(k[0], self.feed_of[k], feed)}

    def index(self, ref: int, keys: np.ndarray) -> None:
        self.refs.append(ref)
        self.ref_keys.append(keys)
        for k in keys.tolist():
            self.keys.setdefault(k, []).append(ref)


class _Shared:
    """For each story of a chunk, the earlier stories of the chunk it shares keys with: story `i`'s are
    `earlier[bounds[i]:bounds[i + 1]]`, each with `title` (the shared keys are story `i`'s headline keys) and
    `count` (how many keys), in the order of the shared keys' first (by key, then by place in the chunk).
    Computed on the arrays: a loop over the shared keys cost ~40 µs a story when copies arrive in the cycle of
    their original (and most copies of a wire story do), and a copy shares dozens of keys with its original.

    A key pairs with its first `cap` earlier holders only, as the key table keeps a few clusters a key: a burst
    of m copies of one story in one chunk would otherwise make m²/2 pairs a key (500 copies: 4 s, +300 MiB).
    The first holders are the ones that matter: only a story that founds a cluster is a hit, and it comes first."""

    def __init__(self, sig: Signatures, n: int, cap: int = SHARED_CAP) -> None:
        self.earlier: list[int]
        self.title: list[bool]
        self.count: list[int]
        self.bounds: list[int]
        if (kernels := native.KERNELS) is not None:
            e, t, c, b = kernels.shared_pairs(sig.keys, sig.owner, sig.title, n, cap)
            self.earlier, self.count = np.frombuffer(e, np.intp).tolist(), np.frombuffer(c, np.intp).tolist()
            self.title, self.bounds = np.frombuffer(t, np.bool_).tolist(), np.frombuffer(b, np.intp).tolist()
        else:
            self.earlier, self.title, self.count, self.bounds = _shared(sig, n, cap)

    def sharing(self) -> set[int]:
        """The stories sharing keys with another of the chunk."""
        bounds = self.bounds
        return {i for i in range(len(bounds) - 1) if bounds[i] < bounds[i + 1]} | set(self.earlier)

    def of(self, i: int) -> list[tuple[int, bool, int]]:
        a, b = self.bounds[i], self.bounds[i + 1]
        return list(zip(self.earlier[a:b], self.title[a:b], self.count[a:b], strict=True)) if a < b else []


def _shared(sig: Signatures, n: int, cap: int) -> tuple[list[int], list[bool], list[int], list[int]]:
    """`_Shared`'s lists computed with numpy (the reference of the kernel `shared_pairs`)."""
    order = np.argsort(sig.keys, kind="stable")  # equal keys in chunk order
    keys = sig.keys[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # where each run of one key starts
    run = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(keys)]))
    # each key's place in its run: how many earlier holders it pairs with (at most `cap`)
    before = np.minimum(np.arange(len(keys)) - start[run], cap)
    later = np.repeat(np.arange(len(keys)), before)
    first = np.cumsum(before) - before  # where each key's pairs start
    earlier = start[run[later]] + np.arange(len(later)) - np.repeat(first, before)
    owner, other = sig.owner[order[later]], sig.owner[order[earlier]]
    keep = owner != other
    by_story = np.argsort(owner[keep], kind="stable")
    owner, other = owner[keep][by_story], other[keep][by_story]
    title = sig.title[order[later]][keep][by_story]
    # one entry per (story, earlier story, headline or not), where its first pair was (stories < 2**16)
    pair = (owner.astype(np.int64) << 17) | (other.astype(np.int64) << 1) | title
    _, first, count = np.unique(pair, return_index=True, return_counts=True)
    at = np.argsort(first)
    first = first[at]
    return (other[first].tolist(), title[first].tolist(), count[at].tolist(),
            np.searchsorted(owner[first], np.arange(n + 1)).tolist())


def candidates_of(hits: list[tuple[int, bool, int]], title_keys: int, lead_keys: int, limit: int) -> list[str]:
    """`_Hits.candidates` for a single story's hits (cluster reference, are headline keys, how many keys): a
    story with hits inside its own chunk, decided alone. A plain loop: the array version's fixed cost (~40 µs)
    is for chunks."""
    count: dict[int, int] = {}
    one: set[int] = set()
    for ref, title, keys in hits:
        count[ref] = count.get(ref, 0) + keys
        if (title_keys if title else lead_keys) <= FEW_KEYS:
            one.add(ref)
    ranked = sorted((r for r, c in count.items() if c >= 2 or r in one), key=lambda r: -count[r])  # stable:
    return [f"c{ref:012x}" for ref in ranked[:limit]]  # ties stay in order of first hit


class _Hits:
    """The key table's hits of a chunk's stories: (story, cluster reference, is a headline key) of each key found,
    by story (in key order within a story)."""

    def __init__(self, owner: np.ndarray, refs: np.ndarray, title: np.ndarray, n: int) -> None:
        self.owner, self.refs, self.title = owner, refs, title
        self.bounds = np.searchsorted(owner, np.arange(n + 1)).tolist()

    def of(self, i: int) -> list[tuple[int, bool, int]]:
        """Story `i`'s hits, in order, as `candidates_of` takes them (each one key)."""
        a, b = self.bounds[i], self.bounds[i + 1]
        return list(zip(self.refs[a:b].tolist(), self.title[a:b].tolist(), repeat(1), strict=False))

    def candidates(self, title_keys: np.ndarray, lead_keys: np.ndarray, limit: int) -> list[list[str]]:
        """Each story's candidate clusters (given how many headline and lead keys it has): open clusters sharing
        two of its keys (headline word pairs or lead bigrams), most shared first, ties by first hit, at most
        `limit` (bounded, no scan); one is enough when the headline, or the lead, has at most `FEW_KEYS` keys.
        One shared key is weak evidence: in a big window many unrelated stories share a pair or a bigram ("prime
        minister"), and each would cost a read and a verification. Computed on the arrays for the whole chunk:
        a loop over hits was ~7 µs a story."""
        n = len(self.bounds) - 1
        out: list[list[str]] = [[] for _ in range(n)]
        if not len(self.refs):
            return out
        pair = (self.owner.astype(np.uint64) << np.uint64(48)) | self.refs  # story < 2**16 (MAX_CHUNK)
        pairs, first, inverse, count = np.unique(pair, return_index=True, return_inverse=True, return_counts=True)
        short = np.where(self.title, title_keys[self.owner] <= FEW_KEYS, lead_keys[self.owner] <= FEW_KEYS)
        one = np.zeros(len(pairs), dtype=bool)
        one[inverse[short]] = True
        owner = (pairs >> np.uint64(48)).astype(np.intp)
        order = np.lexsort((first, -count, owner))  # by story; most shared first, ties by first hit
        order = order[((count >= 2) | one)[order]]
        owner = owner[order]
        rank = ranks(owner, n)
        order, owner = order[rank < limit], owner[rank < limit]
        for story, ref in zip(owner.tolist(), (pairs[order] & np.uint64((1 << 48) - 1)).tolist(), strict=True):
            out[story].append(f"c{ref:012x}")
        return out


_UNSEEN = Seen(None, None, None)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off for the enclosed code, and on again after it (if it was on).

    A chunk makes and drops tens of thousands of small tuples and lists, none in a reference cycle (freed by
    their counts), yet each 700 more made than freed start a collection that walks the young objects (the
    chunk's big lists among them), each tenth a bigger one, and now and then a full one over every object of
    the process: in a worker with Beam loaded (~100,000 objects) that is ~75 ms, ~25 µs a story of the cycle it
    falls in. Held off for a chunk (~50 ms), the chunk's leftovers are collected once after it instead."""
    if not gc.isenabled():  # off already (by the caller, or another thread inside its chunk): leave it so
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Deduper:
    """Assigns stories, in arrival order, to clusters kept in `store` for `window` seconds.

    Stories are taken in chunks of `chunk`: the chunk's identities are looked up in the store in a few queries,
    its signature keys computed and looked up together, then each story decided in turn (seeing the chunk's
    earlier stories through an in-memory overlay), and the chunk's writes made together at its end. The results
    are those of adding the stories one by one.

    `index` is the candidate key table; pass the same one to successive Dedupers over one store (the worker
    does, cycle after cycle) to skip rebuilding it from the store; without it, a table for `capacity` clusters
    is built from the store's open clusters. It is only a hint: every candidate is read back from the store and
    verified, so a table holding keys of rolled-back or evicted clusters is harmless. `saved` is where the table
    is kept between runs: `save_index` writes it (the worker does at a graceful stop) with the number of the last
    cluster state it covers, and a cold start loads it and indexes only the clusters written since, instead of
    computing the keys of every open cluster again (~20 s at a million).
    """

    def __init__(self, store: Store, window: float = DEFAULT_WINDOW, th: Thresholds | None = None,
                 boilerplate: tuple[str, ...] = (), index: KeyTable | None = None,
                 capacity: int = DEFAULT_CAPACITY, chunk: int = 500, saved: Path | None = None) -> None:
        self.store = store
        self._extra = compile_extra(boilerplate)
        self.window = window
        self.th = th or Thresholds()
        self.capacity = capacity
        self.index = index if index is not None else KeyTable(capacity)
        self._warm = index is not None
        if not 1 <= chunk <= MAX_CHUNK:
            raise ValueError(f"chunk must be 1..{MAX_CHUNK}, not {chunk}")
        self.chunk = chunk
        self.saved = saved
        self.timings = dict.fromkeys(PHASES, 0.0)  # seconds spent per phase, for benchmarks

    def _meta(self) -> dict[str, object]:
        """What a saved key table must have been made with to be used again (format 2: keys placed in buckets by
        multiplication, `KeyTable._split`; a table saved before is not used, but rebuilt from the store)."""
        th = self.th
        return {"format": 2, "state_id": self.store.state_id, "capacity": self.capacity, "ways": WAYS,
                "title_words": th.title_words, "lead_sample": th.lead_sample, "lead_span": th.lead_span}

    def save_index(self) -> None:
        """Write the key table to `saved`, covering every cluster state written so far (call between cycles)."""
        if self.saved is not None:
            self.index.save(self.saved, {**self._meta(), "seq": self.store.last_cluster_seq()})

    def signatures(self, texts: list[tuple[str, str]]) -> Signatures:
        """Signature keys of normalized (headline, lead) pairs (see `pipeline.dedup.index`)."""
        return signatures(texts, self.th.title_words, self.th.lead_sample, self.th.lead_span)

    def _load(self, now: float) -> None:
        """Index the open clusters of the store once (a cold start)."""
        if self._warm:
            return
        self._warm = True
        after = 0
        if self.saved is not None and (loaded := KeyTable.load(self.saved)) is not None:
            table, meta = loaded
            seq = meta.pop("seq", None)
            if meta == self._meta() and isinstance(seq, int):
                self.index, after = table, seq
        for part in self.store.cluster_texts(now - self.window, after=after):
            sig = self.signatures([(title, text) for _, title, text in part])
            refs = np.array([cluster_ref(cid) for cid, _, _ in part], dtype=np.uint64)
            self.index.add_many(refs[sig.owner], sig.keys)

    def _clusters(self, ids: list[str], pending: _Pending) -> list[ClusterRecord]:
        """These clusters as they stand, the chunk's own changes included, in the order given."""
        mine, stored = pending.clusters, pending.stored
        if missing := [i for i in ids if i not in mine and i not in stored]:
            stored.update(dict.fromkeys(missing))
            stored.update((c.id, c) for c in self.store.get_clusters(missing))
        return [c for i in ids if (c := mine.get(i) or stored.get(i)) is not None]

    def _open(self, ids: list[str], pending: _Pending, now: float) -> list[ClusterRecord]:
        """`_clusters` still open at `now`: seen within the window. A closed one may still be stored (eviction runs
        once a cycle, and keeps each table's newest row); a story does not join it."""
        return [c for c in self._clusters(ids, pending) if c.last_seen >= now - self.window]

    def add(self, story: Story) -> ClusteredStory | None:
        """Cluster one story; None if it was fully processed in an earlier cycle."""
        return self._add_chunk([story])[0]

    def add_all(self, stories: Iterable[Story]) -> Iterator[ClusteredStory | None]:
        """`add` of each story in turn, a chunk at a time; a chunk's results come once its writes are made."""
        part: list[Story] = []
        for story in stories:
            part.append(story)
            if len(part) == self.chunk:
                yield from self._add_chunk(part)
                part = []
        if part:
            yield from self._add_chunk(part)

    def _add_chunk(self, stories: list[Story]) -> list[ClusteredStory | None]:
        with collector_paused():
            return self._cluster_chunk(stories)

    def _cluster_chunk(self, stories: list[Story]) -> list[ClusteredStory | None]:
        self._load(stories[0].fetched)
        clock = time.perf_counter
        t0 = clock()
        texts = [(norm_title(s.title), lead(s.summary, extra=self._extra)) for s in stories]
        idents = [Identity(s.id, s.feed_url, s.guid, _item_url(s.link), fingerprint(t, ld))
                  for s, (t, ld) in zip(stories, texts, strict=True)]
        t1 = clock()
        stored = self.store.seen_many(idents)
        t2 = clock()
        sig = self.signatures(texts)
        n = len(stories)
        bounds = np.searchsorted(sig.owner, np.arange(n + 1))
        title_arr = np.bincount(sig.owner[sig.title], minlength=n)
        key_of_hit, refs = self.index.lookup_many(sig.keys)
        hits = _Hits(sig.owner[key_of_hit], refs, sig.title[key_of_hit], n)
        candidates = hits.candidates(title_arr, np.diff(bounds) - title_arr, self.th.max_candidates)
        earlier = _Shared(sig, n)
        t3 = clock()
        pending = _Pending()
        bounds, title_counts = bounds.tolist(), title_arr.tolist()
        # Read ahead, in one query: the clusters the chunk's stories may join (candidates, same links, replays).
        wanted = {cid for ids in candidates for cid in ids} | {hit[0] for found in stored for hit in found.values()}
        self._clusters(sorted(wanted), pending)
        # Headlines' content words hashed, in one batch in C, for the stories that may be compared (those with
        # candidates, and those sharing keys with another of the chunk) and the clusters read (without the
        # kernels, strings compared word by word: the same decisions).
        headlines = None
        if native.KERNELS is not None:
            compared = {i for i in range(n) if candidates[i]} | earlier.sharing()
            headlines = Headlines([texts[i][0] for i in sorted(compared)]
                                  + [c.norm_title for c in pending.stored.values() if c is not None])
        founded = [0] * n  # cluster reference of each story that founds one
        out: list[ClusteredStory | None] = []
        for i, story in enumerate(stories):
            # Clusters founded earlier in this chunk are not in the table yet: hits through shared keys.
            mine = [(founded[j], title, shared) for j, title, shared in earlier.of(i) if founded[j]]
            if pending.keys:  # leads re-indexed in this chunk
                nt, keys = title_counts[i], sig.keys[bounds[i] : bounds[i + 1]].tolist()
                mine += [(r, j < nt, 1) for j, k in enumerate(keys) for r in pending.keys.get(k, ())]
            kinds = identities(*idents[i])
            here = pending.seen(kinds, story.feed_url)
            found = {**stored[i], **here} if here else stored[i]
            if mine:
                candidates[i] = candidates_of(hits.of(i) + mine, title_counts[i],
                                              bounds[i + 1] - bounds[i] - title_counts[i], self.th.max_candidates)
            result, founded[i] = self._decide(story, texts[i], idents[i], kinds, found, candidates[i], pending,
                                              headlines)
            out.append(result)
        t4 = clock()
        self.store.save_clusters(list(pending.clusters.values()))
        self.store.assign_many(pending.rows)
        of_founder = np.array(founded, dtype=np.uint64)[sig.owner]
        self.index.add_many(of_founder[of_founder != 0], sig.keys[of_founder != 0])
        if pending.refs:
            refs_arr = np.repeat(np.array(pending.refs, dtype=np.uint64), [len(k) for k in pending.ref_keys])
            self.index.add_many(refs_arr, np.concatenate(pending.ref_keys))
        t5 = clock()
        for phase, took in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            self.timings[phase] += took
        return out

    def _decide(self, story: Story, text: tuple[str, str], ident: Identity, kinds: list[tuple[str, str, str]],
                found: dict[str, tuple[str, bool]], candidate_ids: list[str], pending: _Pending,
                headlines: Headlines | None = None) -> tuple[ClusteredStory | None, int]:
        """One story against the store and the chunk so far; its writes go to `pending`. Returns the result
        and the reference of the cluster it founded (0: none)."""
        now = story.fetched
        title_n, lead_n = text
        seen = Seen.of(found) if found else _UNSEEN
        if seen.twin is not None and seen.known is None:  # the same item with a new GUID or link form: record it
            pending.record(Assignment(story.id, seen.twin[0], ident.canonical_url, story.guid, now, seen.twin[1],
                                      story.feed_url, ident.fingerprint), kinds)
        if (earlier := seen.known or seen.twin) is not None:  # seen before: replayed only if not yet processed
            cid, processed = earlier
            cluster = None if processed else next(iter(self._clusters([cid], pending)), None)
            reason = Reason.REPLAY if seen.known is not None else Reason.SAME_ITEM
            replay = None if cluster is None else ClusteredStory(story, cluster.info(), reason.value, 100.0)
            return replay, 0
        cluster = next(iter(self._open([seen.same_link], pending, now)), None) if seen.same_link else None
        if cluster is not None:
            decision = Decision(cluster.id, Reason.SAME_LINK, 100.0)
        elif candidate_ids:
            candidates = self._open(candidate_ids, pending, now)
            decision = decide(title_n, lead_n, candidates, self.th, headlines)
            cluster = next((c for c in candidates if c.id == decision.cluster_id), None)
        else:
            decision = _NEW
        founded = cluster is None
        if cluster is None:
            cid = "c" + hashlib.sha1(story.id.encode(), usedforsecurity=False).hexdigest()[:12]
            cluster = ClusterRecord(cid, story.title, story.link, title_n, lead_n, (story.source,), now, now, 1,
                                    (story.source,))
        else:
            sources = cluster.sources if story.source in cluster.sources else (*cluster.sources, story.source)
            independent = cluster.independent
            if story.source not in cluster.sources and not republishes(story, cluster.sources):
                independent = (*independent, story.source)
            # A founder with an empty or truncated summary hands its place as the cluster's lead to the first
            # copy with a usable one, so later copies are not compared with nothing. A usable founder lead is
            # kept: a longer copy is often just one with more chrome in front.
            longer = len(lead_n) > len(cluster.lead)  # (words counted only then: most copies' are not)
            best_lead = lead_n if longer and n_words(cluster.lead) < self.th.min_lead_words else cluster.lead
            if best_lead is not cluster.lead:  # index the lead copies will be compared with
                pending.index(cluster_ref(cluster.id), self.signatures([(cluster.norm_title, best_lead)]).keys)
            # (fields in order, by position: by name took 1.4 µs, this 0.85; a cluster changes per story)
            cluster = ClusterRecord(cluster.id, cluster.title, cluster.link, cluster.norm_title, best_lead, sources,
                                    cluster.first_seen, max(cluster.last_seen, now), cluster.size + 1, independent)
        pending.clusters[cluster.id] = cluster
        pending.record(Assignment(story.id, cluster.id, ident.canonical_url, story.guid, now, False, story.feed_url,
                                  ident.fingerprint), kinds)
        result = ClusteredStory(story, cluster.info(), decision.reason.value, decision.score)
        return result, cluster_ref(cluster.id) if founded else 0
