"""A bounded inverted index from content words to recent clusters: candidate lookup that does not scan the
window. Each word keeps only its `per_word` most recent clusters, so a lookup costs at most
words x per_word no matter how many clusters are open; a very common word loses its oldest clusters, which
are still found through their rarer words.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable


class ClusterIndex:
    """word -> ids of the most recent clusters whose headline or lead contains it."""

    def __init__(self, per_word: int = 64) -> None:
        self.per_word = per_word
        self._postings: dict[str, deque[str]] = {}

    def add(self, cluster_id: str, words: Iterable[str]) -> None:
        for w in set(words):
            posting = self._postings.get(w)
            if posting is None:
                posting = self._postings[w] = deque(maxlen=self.per_word)
            if cluster_id not in posting:
                posting.append(cluster_id)

    def candidates(self, words: Iterable[str], min_shared: int, rare_only: bool = False) -> list[str]:
        """Clusters sharing at least `min_shared` of these words, most shared first.

        With `rare_only`, words whose posting is full (common words: they no longer tell stories apart) are
        not counted, unless fewer than `min_shared` rarer words remain.
        """
        postings = [p for w in set(words) if (p := self._postings.get(w))]
        if rare_only:
            rare = [p for p in postings if len(p) < self.per_word]
            postings = rare if len(rare) >= min_shared else postings
        counts = Counter(itertools.chain.from_iterable(postings))  # one C-level pass
        hits = [(n, cid) for cid, n in counts.items() if n >= min_shared]
        hits.sort(key=lambda h: -h[0])  # stable: ties keep posting order
        return [cid for _, cid in hits]

    def rarest(self, words: list[str], k: int) -> list[str]:
        """The `k` words with the shortest postings (rarest so far; unseen words first), in a stable order.

        A story and its copies share most of their rare words (names, places, numbers), so indexing and
        looking up only those keeps candidate counting small without losing the copies."""
        postings = self._postings
        return sorted(words, key=lambda w: (len(postings[w]) if w in postings else 0, w))[:k]

    def __len__(self) -> int:
        return len(self._postings)
