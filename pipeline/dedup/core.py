"""Pure dedup decision plus the `Deduper` that applies it against the state store.

Layers, cheapest first: the same story seen before (by id), the same canonical URL or GUID in any feed, then a
near-duplicate test on the headline and on the lead text. Every decision carries a reason and a score. Candidate
clusters come from a fixed-size table of signature keys (`pipeline.dedup.index`), not from a scan of the window;
the clusters themselves stay in the state store, so memory does not grow with the window.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, replace
from enum import Enum

from rapidfuzz import fuzz

from pipeline.dedup.index import DEFAULT_CAPACITY, KeyTable, lead_keys, title_keys
from pipeline.dedup.normalize import compile_extra, content_words, fold, lead, norm_title, words
from pipeline.model import ClusteredStory, ClusterRecord, Story
from pipeline.sources.parse import canonical_url
from pipeline.state.store import Store

DEFAULT_WINDOW = 72 * 3600.0
DEFAULT_SEEN_RETENTION = 30 * 86400.0


class Reason(str, Enum):
    """Why a story landed in its cluster."""

    NEW = "new-cluster"
    REPLAY = "replay"  # assigned in a cycle that did not finish; re-emitted so no alert is lost
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


@dataclass(frozen=True, slots=True)
class Decision:
    """The near-duplicate verdict: the cluster to join (None: found a new one), why, and the score."""

    cluster_id: str | None
    reason: Reason
    score: float


def title_match(title_n: str, other_n: str, th: Thresholds) -> float:
    """Headline similarity 0-100 when the two headlines count as the same story, else 0."""
    a, b = set(content_words(title_n)), set(content_words(other_n))
    both = a & b
    shared, jaccard = len(both), len(both) / max(1, len(a | b))
    words_shared = sum(1 for w in both if not w.isdigit())  # a date (3/10/14) is not a story
    if (shared >= th.title_shared and words_shared >= 2
            and (jaccard >= th.title_jaccard or (shared >= th.title_shared_more and jaccard >= th.title_jaccard_more))):
        return float(fuzz.token_set_ratio(" ".join(sorted(a)), " ".join(sorted(b))))
    if min(len(title_n.split()), len(other_n.split())) >= th.min_title_words:
        score = float(fuzz.token_sort_ratio(title_n, other_n))
        if score >= th.title:
            return score
    return 0.0


def decide(title_n: str, lead_n: str, candidates: list[ClusterRecord], th: Thresholds) -> Decision:
    """Best-scoring candidate cluster that matches on headline or lead, else a new cluster."""
    best = Decision(None, Reason.NEW, 0.0)
    lead_ok = len(lead_n.split()) >= th.min_lead_words
    for c in candidates:
        score = title_match(title_n, c.norm_title, th)
        if score and score > best.score:
            best = Decision(c.id, Reason.SIMILAR_TITLE, score)
        if lead_ok and len(c.lead.split()) >= th.min_lead_words:
            # The opening of either text inside the other: survives datelines, captions and truncation.
            n = th.lead_chars
            score = max(fuzz.partial_ratio(lead_n[:n], c.lead), fuzz.partial_ratio(c.lead[:n], lead_n))
            if score >= th.lead and score > best.score:
                best = Decision(c.id, Reason.SIMILAR_LEAD, score)
    return best


def fingerprint(title_n: str, lead_n: str, min_words: int = 8) -> str:
    """Content fingerprint of a story (normalized headline and lead); '' when there is too little text to
    tell two items apart (a bare "Live updates" headline is not an identity)."""
    if len(title_n.split()) + len(lead_n.split()) < min_words:
        return ""
    return hashlib.sha1(f"{title_n}\n{lead_n}".encode(), usedforsecurity=False).hexdigest()[:20]


def outlet_name(source: str) -> str:
    """The outlet part of a feed title: 'Daily Mirror - World News' -> 'daily mirror' (folded)."""
    return fold(re.split(r"\s+[-|:–—]\s+", source, maxsplit=1)[0]).strip()


def republishes(story: Story, sources: tuple[str, ...]) -> bool:
    """Is this copy a republication rather than an independent outlet? Yes when its feed is tagged
    `aggregator`, or when its headline or opening (aggregator chrome included) credits an outlet already in
    the cluster by name ("Start reading Daily Mirror ...", "... - Mirror")."""
    if story.aggregator:
        return True
    head = " " + " ".join(words(f"{story.title}\n{story.summary[:400]}")) + " "
    names = {outlet_name(s) for s in sources if s != story.source}
    return any(len(n) >= 4 and f" {' '.join(words(n))} " in head for n in names)


def cluster_ref(cluster_id: str) -> int:
    """The 48-bit number behind a cluster id (`c` + 12 hex digits), for the key table."""
    return int(cluster_id[1:13], 16)


class Deduper:
    """Assigns stories, in arrival order, to clusters kept in `store` for `window` seconds.

    `index` is the candidate key table; pass the same one to successive Dedupers over one store (the worker
    does, cycle after cycle) to skip rebuilding it from the store; without it, a table for `capacity` clusters
    is built from the store's open clusters. It is only a hint: every candidate is read back from the store and
    verified, so a table holding keys of rolled-back or evicted clusters is harmless.
    """

    def __init__(self, store: Store, window: float = DEFAULT_WINDOW, th: Thresholds | None = None,
                 boilerplate: tuple[str, ...] = (), index: KeyTable | None = None,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self.store = store
        self._extra = compile_extra(boilerplate)
        self.window = window
        self.th = th or Thresholds()
        self.index = index if index is not None else KeyTable(capacity)
        self._warm = index is not None

    def keys(self, title_n: str, lead_n: str) -> tuple[list[int], list[int]]:
        """Signature keys of a normalized headline and of its lead (see `pipeline.dedup.index`)."""
        th = self.th
        opening = " ".join(lead_n.split()[: th.lead_span])
        return (title_keys(content_words(title_n), th.title_words),
                lead_keys(content_words(opening), th.lead_sample))

    def all_keys(self, title_n: str, lead_n: str) -> list[int]:
        tkeys, lkeys = self.keys(title_n, lead_n)
        return tkeys + lkeys

    def _load(self, now: float) -> None:
        """Index the open clusters of the store once (a cold start)."""
        if not self._warm:
            for c in self.store.recent_clusters(now - self.window):
                self.index.add(cluster_ref(c.id), self.all_keys(c.norm_title, c.lead))
            self._warm = True

    def candidates(self, title_n: str, lead_n: str, now: float,
                   keys: tuple[list[int], list[int]] | None = None) -> list[ClusterRecord]:
        """Open clusters sharing two headline word pairs (one for a headline of up to 3 content words) or a lead
        bigram, most shared first (bounded, no scan). One shared pair is weak evidence: in a big window many
        unrelated headlines share one ("prime minister"), and each would cost a verification."""
        self._load(now)
        tkeys, lkeys = self.keys(title_n, lead_n) if keys is None else keys
        by_title, by_lead = self.index.lookup_split(tkeys + lkeys, len(tkeys))
        need = 1 if len(tkeys) <= 3 else 2  # up to 3 content words: one shared pair can be a rewrite
        hits = Counter({r: n for r, n in by_title.items() if n >= need})
        hits.update(by_lead)
        best = [r for r, _ in hits.most_common(self.th.max_candidates)]
        found = self.store.get_clusters([f"c{r:012x}" for r in best])
        return [c for c in found if c.last_seen >= now - self.window]

    def add(self, story: Story) -> ClusteredStory | None:
        """Cluster one story; None if it was fully processed in an earlier cycle."""
        now = story.fetched
        self._load(now)
        url = canonical_url(story.link)
        title_n, lead_n = norm_title(story.title), lead(story.summary, extra=self._extra)
        fp = fingerprint(title_n, lead_n)
        seen = self.store.seen(story.id, story.feed_url, story.guid, url, fp)
        if seen.twin is not None and seen.known is None:  # the same item with a new GUID or link form: record it
            self.store.assign(story.id, seen.twin[0], url, story.guid, now, story.feed_url, fp, seen.twin[1])
        if (earlier := seen.known or seen.twin) is not None:  # seen before: replayed only if not yet processed
            cid, processed = earlier
            cluster = None if processed else self.store.get_cluster(cid)
            return None if cluster is None else ClusteredStory(story, cluster.info(), Reason.REPLAY.value, 100.0)
        keys = self.keys(title_n, lead_n)
        cluster = self.store.get_cluster(seen.same_link) if seen.same_link else None
        if cluster is not None:
            decision = Decision(cluster.id, Reason.SAME_LINK, 100.0)
        else:
            candidates = self.candidates(title_n, lead_n, now, keys)
            decision = decide(title_n, lead_n, candidates, self.th)
            cluster = next((c for c in candidates if c.id == decision.cluster_id), None)
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
            short = len(cluster.lead.split()) < self.th.min_lead_words
            best_lead = lead_n if short and len(lead_n) > len(cluster.lead) else cluster.lead
            if best_lead is not cluster.lead:  # index the lead copies will be compared with
                self.index.add(cluster_ref(cluster.id), self.all_keys(cluster.norm_title, best_lead))
            cluster = replace(cluster, sources=sources, last_seen=max(cluster.last_seen, now), size=cluster.size + 1,
                              lead=best_lead, independent=independent)
        self.store.save_cluster(cluster)
        self.store.assign(story.id, cluster.id, url, story.guid, now, story.feed_url, fp)
        if founded:
            self.index.add(cluster_ref(cluster.id), keys[0] + keys[1])
        return ClusteredStory(story, cluster.info(), decision.reason.value, decision.score)
