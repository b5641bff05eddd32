"""Pure dedup decision plus the `Deduper` that applies it against the state store.

Layers, cheapest first: the same story seen before (by id), the same canonical URL or GUID in any feed, then a
near-duplicate test on the headline and on the lead text. Every decision carries a reason and a score. Candidate
clusters come from a bounded inverted index of content words (`pipeline.dedup.index`), not from a scan of the
window.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from enum import Enum

from rapidfuzz import fuzz

from pipeline.dedup.index import ClusterIndex
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

    Headlines match when they share at least `title_shared` content words (stemmed, no stopwords) and those
    are at least `title_jaccard` of the words of both, or when rapidfuzz's token_sort_ratio reaches `title`
    on headlines of `min_title_words` or more. Leads match on rapidfuzz's partial_ratio >= `lead`. Short or
    generic headlines are not evidence of sameness, hence the minimum counts. Tuned on STS-B headlines and
    the UCI sample (tests/benchmarks/eval_dedup.py).
    """

    title: float = 88.0
    title_shared: int = 3
    title_jaccard: float = 0.45
    lead: float = 90.0
    min_title_words: int = 5
    min_lead_words: int = 15
    lead_chars: int = 160
    lead_index_words: int = 12  # a cluster is indexed under this many of its rarest lead words ...
    lead_index_span: int = 40  # ... taken from the first words of its lead (a copy's caption may push the rest out)
    lead_shared: int = 4
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
    shared = len(a & b)
    if shared >= th.title_shared and shared / len(a | b) >= th.title_jaccard:
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


class Deduper:
    """Assigns stories, in arrival order, to clusters kept in `store` for `window` seconds."""

    def __init__(self, store: Store, window: float = DEFAULT_WINDOW, th: Thresholds | None = None,
                 boilerplate: tuple[str, ...] = ()) -> None:
        self.store = store
        self._extra = compile_extra(boilerplate)
        self.window = window
        self.th = th or Thresholds()
        self._recent: dict[str, ClusterRecord] | None = None
        self._index = ClusterIndex()

    def _keys(self, title_n: str, lead_n: str) -> tuple[list[str], list[str]]:
        """Index keys: every headline word, every lead word (the caller indexes only the rarest of these)."""
        return ["t:" + w for w in content_words(title_n)], ["l:" + w for w in dict.fromkeys(content_words(lead_n))]

    def _load(self, now: float) -> dict[str, ClusterRecord]:
        if self._recent is None:
            self._recent = {}
            for c in self.store.recent_clusters(now - self.window):
                self._remember(c)
        return self._recent

    def _remember(self, c: ClusterRecord) -> None:
        assert self._recent is not None
        self._recent[c.id] = c
        title_keys, _ = self._keys(c.norm_title, "")
        # A cluster is indexed under its rarest lead words only: postings stay short, and a copy (whose lead
        # contains those words) still finds it when it looks up all of its own lead words.
        span = ["l:" + w for w in dict.fromkeys(content_words(" ".join(c.lead.split()[: self.th.lead_index_span])))]
        self._index.add(c.id, title_keys + self._index.rarest(span, self.th.lead_index_words))

    def candidates(self, title_n: str, lead_n: str, now: float) -> list[ClusterRecord]:
        """Open clusters sharing enough headline or lead words to be worth verifying (bounded, no scan)."""
        recent = self._load(now)
        title_keys, lead_keys = self._keys(title_n, lead_n)
        th = self.th
        ids = dict.fromkeys(self._index.candidates(title_keys, th.title_shared)[: th.max_candidates])
        by_lead = self._index.candidates(lead_keys, th.lead_shared)
        ids.update(dict.fromkeys(by_lead[: th.max_candidates]))
        if min(len(title_keys), th.title_shared) < th.title_shared:  # short headline: few shared words
            ids.update(dict.fromkeys(self._index.candidates(title_keys, 1)[: th.max_candidates]))
        out = [recent[i] for i in ids if i in recent]
        return [c for c in out if c.last_seen >= now - self.window]

    def add(self, story: Story) -> ClusteredStory | None:
        """Cluster one story; None if it was fully processed in an earlier cycle."""
        now = story.fetched
        recent = self._load(now)
        known = self.store.story_cluster(story.id)
        if known is not None:
            cid, processed = known
            cluster = None if processed else self.store.get_cluster(cid)
            return None if cluster is None else ClusteredStory(story, cluster.info(), Reason.REPLAY.value, 100.0)
        url = canonical_url(story.link)
        title_n, lead_n = norm_title(story.title), lead(story.summary, extra=self._extra)
        fp = fingerprint(title_n, lead_n)
        twin = self.store.twin(story.feed_url, story.guid, url, fp)
        if twin is not None:  # the same item again with a regenerated GUID, a new link form, or both
            cid, processed = twin
            self.store.assign(story.id, cid, url, story.guid, now, story.feed_url, fp, processed)
            cluster = None if processed else self.store.get_cluster(cid)
            return None if cluster is None else ClusteredStory(story, cluster.info(), Reason.REPLAY.value, 100.0)
        same = self.store.cluster_for_identity(url, story.guid)
        cluster = self.store.get_cluster(same) if same else None
        if cluster is not None:
            decision = Decision(cluster.id, Reason.SAME_LINK, 100.0)
        else:
            decision = decide(title_n, lead_n, self.candidates(title_n, lead_n, now), self.th)
            cluster = recent.get(decision.cluster_id) if decision.cluster_id else None
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
            cluster = replace(cluster, sources=sources, last_seen=max(cluster.last_seen, now), size=cluster.size + 1,
                              lead=best_lead, independent=independent)
        self.store.save_cluster(cluster)
        self.store.assign(story.id, cluster.id, url, story.guid, now, story.feed_url, fp)
        self._remember(cluster)
        return ClusteredStory(story, cluster.info(), decision.reason.value, decision.score)
