"""A bounded inverted index from content words to recent clusters: candidate lookup that does not scan the
window. Each word keeps only its `per_word` most recent clusters, so a lookup costs at most
words x per_word no matter how many clusters are open; a very common word loses its oldest clusters, which
are still found through their rarer words.
"""

from __future__ import annotations

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

    def candidates(self, words: Iterable[str], min_shared: int) -> list[str]:
        """Clusters sharing at least `min_shared` of these words, most shared first."""
        counts: Counter[str] = Counter()
        for w in set(words):
            posting = self._postings.get(w)
            if posting:
                counts.update(posting)
        return [cid for cid, n in counts.most_common() if n >= min_shared]

    def __len__(self) -> int:
        return len(self._postings)
