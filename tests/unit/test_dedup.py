"""Dedup: syndicated copies join one cluster, different stories never do; state survives a restart."""

from __future__ import annotations

import dataclasses
import gc
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz

from pipeline.dedup.core import (
    Deduper,
    Reason,
    Thresholds,
    _Hits,
    _Shared,
    candidates_of,
    collector_paused,
    decide,
    outlet_name,
    republishes,
    title_match,
)
from pipeline.dedup.index import WAYS, KeyTable, Signatures, lead_keys, title_keys
from pipeline.dedup.normalize import content_words, lead, norm_title, words
from pipeline.demo import FEEDS_DIR, LATER_DIR
from pipeline.model import ClusteredStory, FeedSpec, Story
from pipeline.sources.parse import parse_feed
from pipeline.state.sqlite import EVICT_CLUSTERS, EVICT_STORIES, SqliteStore, forget_indexes
from pipeline.state.store import ClusterRecord, Identity
from pipeline.testing import make_story


def demo_stories(fetched: float = 1000.0, later: bool = False) -> list[Story]:
    """All stories of the bundled demo feeds."""
    out: list[Story] = []
    for f in sorted(FEEDS_DIR.glob("*.xml")):
        path = LATER_DIR / f.name if later and (LATER_DIR / f.name).exists() else f
        out.extend(parse_feed(path.read_bytes(), {}, FeedSpec(f"http://x/{f.name}", ""), fetched).stories)
    return out


def test_demo_kherson_copies_form_one_cluster(store: SqliteStore) -> None:
    """The four syndicated Kherson copies (different headlines and links) land in one cluster; traps do not."""
    d = Deduper(store)
    out = [d.add(s) for s in demo_stories()]
    by_cluster: dict[str, list[str]] = {}
    for o in out:
        assert o is not None
        by_cluster.setdefault(o.cluster.id, []).append(o.story.title)
    kherson = [ts for ts in by_cluster.values() if any("Hundreds of civilians flee Kherson" in t for t in ts)]
    assert len(kherson) == 1
    assert len(kherson[0]) == 4
    assert not any("Fleet" in t or "Texas" in t or "hospital" in t for t in kherson[0])
    assert len(by_cluster) == 9


def test_same_link_across_feeds_joins(store: SqliteStore) -> None:
    """The same canonical URL in another feed is the same story, even with another headline."""
    d = Deduper(store)
    a = d.add(make_story("Alpha story headline here", source="A", link="https://x.org/a?utm_source=1"))
    b = d.add(make_story("Totally other words", source="B", link="https://www.x.org/a"))
    assert a and b and a.cluster.id == b.cluster.id and b.reason == Reason.SAME_LINK.value
    assert b.cluster.sources == ("A", "B")


FLOOD = ("Flooding closes schools across the valley",
         "Heavy rain overnight flooded roads and closed twelve schools across the valley, officials said.")
TEXAS = ("Texas activist flees the state after threats",
         "A prominent activist has left Texas after receiving threats, her lawyer said on Monday.")


def test_an_item_without_guid_whose_headline_is_edited_stays_in_its_cluster(store: SqliteStore) -> None:
    """Without a GUID an item's id is its link and headline (items sharing a section link are told apart): an
    edited headline is a new id, and the near-duplicate test puts it in the first one's cluster (its outlet is
    there already, so no alert fires for it)."""
    def item(title: str) -> bytes:
        return (b"<rss version='2.0'><channel><title>Valley Times</title><item><title>" + title.encode() +
                b"</title><link>https://valley.example/news/flood</link><description>" + FLOOD[1].encode() +
                b"</description></item></channel></rss>")

    spec = FeedSpec("http://valley.example/feed", "Valley Times")
    first, edited = (parse_feed(item(t), {}, spec, 1000.0).stories[0] for t in (FLOOD[0], FLOOD[0] + " for a week"))
    assert first.id != edited.id
    d = Deduper(store)
    a, b = d.add(first), d.add(edited)
    assert a and b and b.cluster.id == a.cluster.id and b.cluster.sources == ("Valley Times",)


def test_a_bare_guid_in_two_feeds_is_two_stories_a_url_guid_one(store: SqliteStore) -> None:
    """GUIDs such as "1234" are only unique within their feed: two outlets' stories 1234 are different stories
    (merged, the second's alert would be hidden). A GUID that is a URL names one item in every feed."""
    d = Deduper(store)
    a = d.add(make_story(*FLOOD, source="Valley Times", guid="1234"))
    b = d.add(make_story(*TEXAS, source="Austin Daily", guid="1234"))
    assert a and b and b.reason == Reason.NEW.value and b.cluster.id != a.cluster.id
    c = d.add(make_story("Council approves new bridge over the river", source="Valley Times",
                         guid="https://valley.example/p/1"))
    e = d.add(make_story("Other words entirely", source="Wire Mirror", guid="https://valley.example/p/1"))
    assert c and e and e.cluster.id == c.cluster.id and e.reason == Reason.SAME_LINK.value


@pytest.mark.parametrize("one_chunk", [True, False])
def test_items_of_one_feed_sharing_a_section_link_are_different_stories(store: SqliteStore, one_chunk: bool) -> None:
    """Feeds that link every item to one page (a section, the home page) are not rare: the link is then no
    identity, within the feed or across feeds (the second story was dropped as the first again, or merged)."""
    d = Deduper(store)
    stories = [make_story(*FLOOD, "Valley Times", guid="https://valley.example/?p=1", link="https://valley.example/news"),
               make_story(*TEXAS, "Valley Times", guid="https://valley.example/?p=2", link="https://valley.example/news")]
    out = list(d.add_all(stories)) if one_chunk else [d.add(s) for s in stories]
    assert [o and o.reason for o in out] == [Reason.NEW.value, Reason.NEW.value]
    home = [make_story("Council approves the new bridge budget", "", "Other Paper", link="https://valley.example/"),
            make_story("Harvest festival draws record crowds", "", "Third Paper", link="http://www.valley.example")]
    assert [o and o.reason for o in d.add_all(home)] == [Reason.NEW.value, Reason.NEW.value]  # a site's root
    copy = d.add(make_story("Other words entirely", "", "Wire Mirror", link="https://valley.example/news"))
    assert copy and copy.reason == Reason.SAME_LINK.value  # the same (non-root) link in another feed still is


def test_the_same_link_after_its_cluster_closed_starts_a_new_one(store: SqliteStore) -> None:
    """A cluster lives for the window: past it, the same link is a new story (as it is once eviction has removed
    the cluster; eviction runs once a cycle and keeps the table's newest row)."""
    d = Deduper(store, window=3600.0)
    a = d.add(make_story("Alpha story headline here", source="A", link="https://x.org/a", fetched=1000.0))
    b = d.add(make_story("Totally other words", source="B", link="https://x.org/a", fetched=1000.0 + 3601.0))
    assert a and b and b.reason == Reason.NEW.value and b.cluster.id != a.cluster.id


def test_generic_short_titles_do_not_merge(store: SqliteStore) -> None:
    """Short generic headlines are not evidence of sameness."""
    d = Deduper(store)
    a = d.add(make_story("Sector Update: Consumer", source="A"))
    b = d.add(make_story("Sector Update: Consumer", source="B"))
    assert a and b and a.cluster.id != b.cluster.id


def test_decision_carries_reason_and_score() -> None:
    """A near-duplicate decision says why and how sure, not just yes/no."""
    c = ClusterRecord("c1", "t", "", "hundreds of civilians flee kherson as russians bombard city", "", ("A",), 0, 0, 1)
    d = decide("hundreds of civilians flee kherson as russians bombard the city", "", [c], Thresholds())
    assert d.cluster_id == "c1" and d.reason is Reason.SIMILAR_TITLE and 88 <= d.score <= 100


def test_processed_story_is_not_emitted_again_after_restart(tmp_path: Path) -> None:
    """A story processed before a restart is dropped; an unprocessed one is replayed into the same cluster."""
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    first = Deduper(store).add(make_story("Ten word headline about a flood in the river valley", source="A"))
    assert first is not None
    store.close()
    store = SqliteStore(path)
    replay = Deduper(store).add(make_story("Ten word headline about a flood in the river valley", source="A"))
    assert replay is not None and replay.reason == Reason.REPLAY.value and replay.cluster.id == first.cluster.id
    store.commit_cycle()
    assert Deduper(store).add(make_story("Ten word headline about a flood in the river valley", source="A")) is None
    store.close()


def test_later_outlet_joins_existing_cluster(store: SqliteStore) -> None:
    """A copy arriving in a later cycle joins the cluster from the earlier cycle, adding its outlet."""
    d = Deduper(store)
    for s in demo_stories(fetched=1000.0):
        d.add(s)
    store.commit_cycle()
    d2 = Deduper(store)
    new = [o for s in demo_stories(fetched=2000.0, later=True) if (o := d2.add(s))]
    assert len(new) == 1
    assert new[0].cluster.size == 5 and new[0].cluster.sources[-1] == "World News Digest"


def test_clusters_expire_after_window(store: SqliteStore) -> None:
    """After the window a copy founds a new cluster and gc removes the old one (state is bounded)."""
    s1 = make_story("Dam breach floods three villages in the south of the region", source="A", fetched=0.0)
    s2 = make_story("Dam breach floods three villages in the south of the region", source="B", fetched=10_000.0)
    a = Deduper(store, window=3600).add(s1)
    b = Deduper(store, window=3600).add(s2)
    assert a and b and a.cluster.id != b.cluster.id
    assert store.gc(now=10_000.0, cluster_window=3600, seen_retention=10**9) == 1


def test_regenerated_guid_or_new_link_form_is_not_a_new_story(store: SqliteStore) -> None:
    """The same item with a new GUID, or its link moved to https with tracking added, is not new again."""
    text = "Floodwaters reached the town centre overnight and hundreds of residents were moved to shelters."
    first = make_story("Flood reaches town centre as residents moved out", text, "A", guid="g1",
                       link="http://news.example/flood", sid="s1")
    assert Deduper(store).add(first) is not None
    store.commit_cycle()
    new_guid = make_story(first.title, text, "A", guid="g2-regenerated", link="http://news.example/flood", sid="s2")
    new_link = make_story(first.title, text, "A", guid="g1", link="https://www.news.example/flood/?utm_source=x",
                          sid="s3")
    rewritten = make_story(first.title, text, "A", guid="g3", link="https://news.example/flood.amp.html", sid="s4")
    d = Deduper(store)
    assert [d.add(s) for s in (new_guid, new_link, rewritten)] == [None, None, None]


def test_the_same_item_again_before_its_alerts_is_same_item_not_a_replay(store: SqliteStore) -> None:
    """Within a cycle (its first copy not yet through the alert stages) the same item under a new GUID goes to
    the first's cluster as `same-item`; `replay` is for a story itself seen in a cycle that did not finish."""
    text = "Floodwaters reached the town centre overnight and hundreds of residents were moved to shelters."
    d = Deduper(store)
    first = d.add(make_story("Flood reaches town centre as residents moved out", text, "A", guid="g1", sid="s1"))
    again = d.add(make_story(first.story.title if first else "", text, "A", guid="g2-regenerated", sid="s2"))
    assert first is not None and again is not None and again.cluster.id == first.cluster.id
    assert (again.reason, again.score) == (Reason.SAME_ITEM.value, 100.0)
    replayed = Deduper(store).add(first.story)  # the cycle did not finish: the story itself comes again
    assert replayed is not None and replayed.reason == Reason.REPLAY.value


def test_generic_short_items_are_not_twins(store: SqliteStore) -> None:
    """Two different 'Live updates' items without text are not the same item by fingerprint."""
    d = Deduper(store)
    a = d.add(make_story("Live updates", "", "A", sid="a1"))
    store.commit_cycle()
    b = d.add(make_story("Live updates", "", "A", sid="a2"))
    assert a is not None and b is not None


def test_cluster_keeps_the_longest_lead(store: SqliteStore) -> None:
    """A cluster founded by a copy with an empty summary learns the lead of a fuller copy (same link), so a
    rewritten-headline copy that shares only the lead still joins it."""
    lead_text = ("Hundreds of civilians have had to flee key Ukrainian city Kherson just weeks after Kyiv's troops "
                 "drove Russian forces out, as shelling of the city increased tenfold.")
    bare = make_story("Hundreds of civilians flee Kherson", "", "Cut", link="https://m.example/k", sid="1")
    full = make_story("Hundreds of civilians flee Kherson", lead_text, "Mirror", link="https://m.example/k", sid="2")
    rewrite = make_story("Russia pounds Kherson tenfold after retreat", "Get all your news in one place. " + lead_text,
                         "inkl", link="https://inkl.example/x", sid="3")
    d = Deduper(store)
    a, b, c = d.add(bare), d.add(full), d.add(rewrite)
    assert a and b and c and a.cluster.id == b.cluster.id == c.cluster.id and c.reason == Reason.SIMILAR_LEAD.value


class TestTitleMatch:
    th = Thresholds()

    @pytest.mark.parametrize(("a", "b"), [
        ("SC dismisses govt's review plea in Vodafone tax case",
         "SC dismisses govt's review petition on Vodafone tax verdict"),
        ("Hundreds of civilians flee Kherson as Russians bombard city",
         "Russians bombard Kherson city as hundreds of civilians flee"),
    ])
    def test_rewrites_of_one_headline_match(self, a: str, b: str) -> None:
        """Headlines sharing most of their content words are the same story."""
        assert title_match(norm_title(a), norm_title(b), self.th) > 0

    @pytest.mark.parametrize(("a", "b"), [
        ("Explosion hits oil pipeline in Syria's Homs", "Explosion hits pipeline as Assad attacks cities"),
        ("Sector Update: Consumer", "Sector Update: Consumer Stocks"),
        ("Texas activist flees the state", "Civilians flee Kherson as Russians bombard the city"),
    ])
    def test_same_topic_or_generic_headlines_do_not(self, a: str, b: str) -> None:
        """Sharing a topic word or two, or a generic headline, is not enough."""
        assert title_match(norm_title(a), norm_title(b), self.th) == 0

    def test_headlines_sharing_enough_words_score_token_set_ratio(self) -> None:
        """The score of headlines that share enough content words is rapidfuzz's token_set_ratio of those words
        (100 without calling it when one's words are all in the other's), whatever their order."""
        rng = random.Random(4)
        vocab = ["kherson", "civil", "flee", "shell", "city", "bomb", "army", "port", "2022", "aid", "dam", "river"]
        scored = 0
        for _ in range(3000):
            a, b = rng.sample(vocab, rng.randint(3, 8)), rng.sample(vocab, rng.randint(3, 8))
            words_a, words_b = set(content_words(" ".join(a))), set(content_words(" ".join(b)))
            got, both = title_match(" ".join(a), " ".join(b), self.th), words_a & words_b
            if (len(both) >= self.th.title_shared and len(both - {"2022"}) >= 2
                    and len(both) / len(words_a | words_b) >= self.th.title_jaccard):  # matched on shared words
                scored += 1
                assert got == fuzz.token_set_ratio(" ".join(sorted(words_a)), " ".join(sorted(words_b))), (a, b)
        assert scored > 300


def test_key_table_finds_by_key_and_forgets_oldest_first() -> None:
    """Each bucket keeps its WAYS most recent entries; a lookup counts how many keys hit each cluster, and a
    key landing in the same bucket with a different check does not hit."""
    table = KeyTable(capacity=1)  # the minimum: 1,024 slots

    def key(bucket: int, tag: int) -> int:  # a key of this bucket (see `KeyTable._split`) and check
        return (tag << 48) + -(-(bucket << 32) // table.buckets)

    table.add(7, [key(1, 1), key(2, 1), key(3, 1)])
    table.add(8, [key(2, 1)])
    assert table.lookup([key(1, 1), key(2, 1), key(3, 1), key(4, 1)]) == {7: 3, 8: 1}
    assert table.lookup([key(1, 2)]) == {}  # same bucket, other key
    for tag in range(2, WAYS + 2):  # WAYS newer keys in bucket 2
        table.add(100 + tag, [key(2, tag)])
    assert table.lookup([key(2, 1)]) == {}
    assert table.lookup([key(1, 1), key(2, WAYS + 1)]) == {7: 1, 101 + WAYS: 1}
    # several keys of one bucket in one batch take successive ways instead of overwriting each other
    keys = np.array([key(5, 1), key(5, 2), key(6, 1)], dtype=np.uint64)
    table.add_many(np.array([20, 21, 22], dtype=np.uint64), keys)
    assert table.lookup([key(5, 1), key(5, 2), key(6, 1)]) == {20: 1, 21: 1, 22: 1}
    assert table.nbytes < 20_000


def test_key_table_takes_256_bytes_a_cluster_and_spreads_keys_over_every_bucket() -> None:
    """The number of buckets need not be a power of two (a million clusters: 244 MiB, not 256); random keys
    fill the buckets evenly, the last one included, and each is found under its own reference."""
    table = KeyTable(capacity=3_000)  # 12,000 buckets
    assert table.buckets == 12_000 and table.nbytes == 3_000 * 256 + table.buckets
    keys = np.random.default_rng(5).integers(1, 2**63, size=48_000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    bucket, _ = table._split(keys)
    per_bucket = np.bincount(bucket, minlength=table.buckets)
    assert len(per_bucket) == table.buckets and per_bucket.max() <= 16  # ~Poisson(4): e**-4 = 1.8 % empty
    assert 0.01 < np.mean(per_bucket == 0) < 0.03 and 3.5 < per_bucket[-300:].mean() < 4.5  # the last too
    refs = np.arange(1, len(keys) + 1, dtype=np.uint64)
    table.add_many(refs[:1000], keys[:1000])
    at, found = table.lookup_many(keys[:1000])
    assert set(zip(at.tolist(), found.tolist(), strict=True)) >= {(i, i + 1) for i in range(1000)}
    assert KeyTable(capacity=1_000_000).nbytes == 1_000_000 * 256 + 4_000_000  # the table and each bucket's next way


def test_signature_keys_survive_rewrites_not_topics() -> None:
    """A reordered headline keeps its word pairs; a copy's lead with a caption in front keeps its sampled
    bigrams; two stories sharing only a topic word share no key."""
    a = norm_title("Hundreds of civilians flee Kherson as Russians bombard city")
    b = norm_title("Russians bombard Kherson city as hundreds of civilians flee")
    c = norm_title("Texas activist flees the state")
    assert set(title_keys(a)) == set(title_keys(b))
    assert not set(title_keys(a)) & set(title_keys(c))
    text = lead("Hundreds of civilians have had to flee key Ukrainian city Kherson just weeks after Kyiv's troops "
                "drove Russian forces out, as shelling increased tenfold in the city.")
    copy = lead("Smoke rises over the river (AFP via Getty Images) KYIV (Reuters) - Hundreds of civilians have had "
                "to flee key Ukrainian city Kherson just weeks after Kyiv's troops")
    text_keys, copy_keys = lead_keys(text, 1), lead_keys(copy, 1)
    assert len(set(text_keys) & set(copy_keys)) >= 8


class TestIndependentSources:
    def test_aggregator_crediting_the_original_is_not_independent(self, store: SqliteStore) -> None:
        """inkl's copy names the Daily Mirror in its chrome: 2 outlets, 1 independent."""
        text = ("Hundreds of civilians have had to flee key Ukrainian city Kherson just weeks after Kyiv's troops "
                "drove Russian forces out, as shelling increased tenfold.")
        d = Deduper(store)
        d.add(make_story("Hundreds of civilians flee Kherson", text, "Daily Mirror - World News", sid="m"))
        out = d.add(make_story("Russia pounds Kherson tenfold", "Start reading Daily Mirror World " + text, "inkl",
                               sid="i"))
        assert out is not None and out.cluster.sources == ("Daily Mirror - World News", "inkl")
        assert out.cluster.independent == ("Daily Mirror - World News",)

    def test_tagged_aggregator_and_independent_outlet(self, store: SqliteStore) -> None:
        """A feed tagged aggregator never adds an independent source; another newsroom does."""
        from dataclasses import replace

        text = "Floodwaters reached the town centre overnight and hundreds of residents were moved to shelters today."
        d = Deduper(store)
        d.add(make_story("Flood reaches town centre", text, "Local Paper", sid="a"))
        agg = d.add(replace(make_story("Flood hits town", "Via wire: " + text, "Aggregator", sid="b"), aggregator=True))
        own = d.add(make_story("Town centre flooded", "Our reporter saw: " + text, "Other Paper", sid="c"))
        assert agg is not None and agg.cluster.independent == ("Local Paper",)
        assert own is not None and own.cluster.independent == ("Local Paper", "Other Paper")


SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "kherson-syndicated-article.txt"


@pytest.mark.skipif(not SEED.is_file(), reason=f"seed article not found at {SEED} (../shared/seed)")
def test_seed_story_variants_form_one_cluster(store: SqliteStore) -> None:
    """The seed article as the Mirror, inkl (with its chrome), a truncated copy, a copy with dateline and
    caption, and a rewritten headline: one cluster. The drone story further down the same page and the Texas
    trap are other stories."""
    raw = SEED.read_text(encoding="utf-8")
    paras = [p.strip() for p in raw.split("\n\n") if p.strip()]
    body_start = next(i for i, p in enumerate(paras) if p.startswith("Hundreds of civilians have had to flee"))
    article = "\n\n".join(paras[body_start:])
    title = "Hundreds of civilians flee Kherson as Russians bombard city in revenge for loss"
    variants = [
        make_story(title, article, "Daily Mirror", link="https://mirror.example/k", sid="mirror"),
        make_story(title + " | inkl", raw, "inkl", link="https://inkl.example/k", sid="inkl"),
        make_story("Kherson shelling: hundreds flee", " ".join(article.split()[:45]) + "...", "Wire", sid="wire"),
        make_story("Russia bombards Kherson in revenge", "KYIV (Reuters) - Houses destroyed in Posad-Pokrovs'ke "
                   "village, in the Kherson region (AFP via Getty Images) " + article, "Reuters copy", sid="rt"),
        make_story("Civilians forced out of Kherson as Russian shelling rises tenfold", article, "Digest", sid="dg"),
    ]
    drones = next(p for p in paras if p.startswith("It has bought 1,400 unmanned planes"))
    others = [
        make_story("Ukraine expands military drone fleet with 1,400 planes", drones, "Kyiv Post", sid="drone"),
        make_story("Texas activist flees the state after months of threats", "An organiser left Texas.", "Yahoo",
                   sid="texas"),
    ]
    d = Deduper(store)
    clusters = [out.cluster.id for s in variants + others if (out := d.add(s))]
    assert len(set(clusters[:5])) == 1, clusters
    assert clusters[5] != clusters[0] and clusters[6] != clusters[0] and clusters[5] != clusters[6]


def _tricky_stream() -> list[Story]:
    """Stories whose decisions depend on earlier stories of the same chunk: copies, the same link in another
    feed, the same item under a new GUID or id, a bare founder whose lead a fuller copy supplies, repeats."""
    lead_text = ("Hundreds of civilians have had to flee key Ukrainian city Kherson just weeks after Kyiv's troops "
                 "drove Russian forces out, as shelling of the city increased tenfold.")
    out = list(demo_stories())
    out += [
        make_story("Hundreds of civilians flee Kherson", "", "Cut", link="https://m.example/k", sid="b1"),
        make_story("Hundreds of civilians flee Kherson", lead_text, "Mirror", link="https://m.example/k", sid="b2"),
        make_story("Russia pounds Kherson tenfold after retreat", "Get all your news in one place. " + lead_text,
                   "inkl", link="https://inkl.example/x", sid="b3"),
        make_story("Flood reaches town centre as residents moved out", "Floodwaters reached the town centre "
                   "overnight and hundreds of residents were moved to shelters.", "A", guid="g1",
                   link="http://news.example/flood", sid="s1"),
        make_story("Flood reaches town centre as residents moved out", "Floodwaters reached the town centre "
                   "overnight and hundreds of residents were moved to shelters.", "A", guid="g2",
                   link="http://news.example/flood", sid="s2"),
        make_story("Residents moved out as flood reaches the town centre", "", "B",
                   link="https://www.news.example/flood/?utm_source=x", sid="s3"),
        make_story("Live updates", "", "A", sid="l1"),
        make_story("Live updates", "", "A", sid="l2"),
    ]
    out += out[-4:-2]  # the same stories again within the cycle
    return out


@pytest.mark.parametrize("chunk", [1, 3, 7, 500])
def test_chunks_decide_as_one_by_one(tmp_path: Path, chunk: int) -> None:
    """Adding a cycle's stories in chunks (reads and writes batched) gives exactly the clusters, reasons and
    scores of adding them one at a time, and leaves the same rows in the store."""
    stream = _tricky_stream()
    one = SqliteStore(tmp_path / "one.db")
    expected = [Deduper(one).add(s) for s in stream]  # a fresh Deduper per story: nothing kept in memory
    many = SqliteStore(tmp_path / "many.db")
    with many.batch():
        got = list(Deduper(many, chunk=chunk).add_all(stream))

    def summary(out: list[ClusteredStory | None]) -> list[tuple[str, str, str, float] | None]:
        return [None if o is None else (o.story.id, o.cluster.id, o.reason, round(o.score, 3)) for o in out]

    assert summary(got) == summary(expected)
    assert len({o.cluster.id for o in expected if o}) >= 8  # the stream does form several clusters
    assert any(o and o.reason == Reason.SIMILAR_LEAD.value for o in expected)
    assert any(o and o.reason == Reason.SAME_LINK.value for o in expected)
    assert any(o and o.reason == Reason.REPLAY.value for o in expected)
    for story in stream:
        assert many.story_cluster(story.id) == one.story_cluster(story.id)
    clusters = {o.cluster.id for o in expected if o}
    assert many.get_clusters(sorted(clusters)) == one.get_clusters(sorted(clusters))


def test_checkpoint_moves_the_log_into_the_state_file(tmp_path: Path) -> None:
    """A cycle's writes wait in the write-ahead log (the automatic checkpoint is only a large backstop, so it does
    not run inside a cycle's commit); `checkpoint` copies them into the state file."""
    store = SqliteStore(tmp_path / "s.db")
    other = SqliteStore(tmp_path / "s.db")  # the worker's stages hold their own connections open
    before = (tmp_path / "s.db").stat().st_size
    with store.batch():
        list(Deduper(store).add_all(make_story(f"Alpha{i} beta{i} gamma{i} delta{i}", f"w{i} " * 60, "A", sid=f"s{i}")
                                    for i in range(8000)))  # over 1,000 pages: SQLite's default would checkpoint
    assert (tmp_path / "s.db").stat().st_size == before  # committed, still in the log
    assert (tmp_path / "s.db-wal").stat().st_size > 4_096_000
    store.checkpoint()
    assert (tmp_path / "s.db").stat().st_size > before + 4_096_000
    assert other.story_cluster("s7999") is not None
    store.close()
    other.close()


def test_gc_reads_only_what_it_deletes(store: SqliteStore) -> None:
    """Eviction runs every cycle: it finds expired clusters and story ids through indexes, not by reading
    the whole state (a scan costs 50 ms a cycle at a million stories, more with 30 days of them)."""
    for sql in (EVICT_STORIES, EVICT_CLUSTERS):
        plan = " ".join(str(row[-1]) for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}", (1.0,)))
        assert "USING INDEX" in plan and "SCAN" not in plan, plan
    d = Deduper(store)
    old, new = make_story("Old story about the harbour", source="A", fetched=100.0), make_story("New one", source="A")
    d.add(old)
    d.add(new)
    store.commit_cycle()
    assert store.gc(now=new.fetched, cluster_window=10**10, seen_retention=new.fetched - 200.0) == 1
    assert store.story_cluster(old.id) is None and store.story_cluster(new.id) is not None


def test_a_saved_key_table_is_loaded_and_caught_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graceful stop saves the key table with the last cluster state it covers; the next start loads it and
    computes keys only for clusters written since (here: after the save, before a crash). A table saved for
    another state file is not used."""
    saved = tmp_path / "s.db.keytable.npz"
    store = SqliteStore(tmp_path / "s.db")
    first = Deduper(store, saved=saved)
    flood = "Dam breach floods three villages in the south of the region as rescuers search for missing"
    fire = "Forest fire forces thousands to leave mountain towns overnight as winds push flames east"
    assert first.add(make_story(flood, source="A", sid="flood")) is not None
    first.save_index()
    assert first.add(make_story(fire, source="A", sid="fire")) is not None  # after the save: a crash loses it
    store.close()
    forget_indexes()

    computed: list[int] = []
    real = Deduper.signatures
    monkeypatch.setattr(Deduper, "signatures", lambda self, texts: computed.append(len(texts)) or real(self, texts))
    again = Deduper(SqliteStore(tmp_path / "s.db"), saved=saved)
    copies = [again.add(make_story(title + " - Wire", source="Wire", sid=f"copy-{i}"))
              for i, title in enumerate((flood, fire))]
    assert computed[0] == 1  # at the start: the keys of the one cluster written after the save
    assert [c.reason for c in copies if c] == [Reason.SIMILAR_TITLE.value] * 2

    other = SqliteStore(tmp_path / "other.db")  # another state file (another state id): the saved table is not its
    computed.clear()
    now = make_story("x").fetched
    other.save_clusters([ClusterRecord("c000000000001", "T", "", "alpha beta gamma", "", ("A",), now, now, 1, ())])
    Deduper(other, saved=saved).add(make_story("Nothing alike here at all today", source="B", sid="x"))
    assert computed[0] == 1 and sum(computed) == 2  # rebuilt from its own one cluster, then the story itself

    saved.write_bytes(saved.read_bytes()[:1000])  # cut short: rebuilt, not an error
    forget_indexes()
    computed.clear()
    assert Deduper(SqliteStore(tmp_path / "s.db"), saved=saved).add(make_story("Quiet day", sid="q")) is not None
    assert computed[0] > 1  # the keys of every open cluster


def one_story_candidates(hits: list[tuple[int, bool, int]], title_keys: int, lead_keys: int,
                         limit: int) -> list[str]:
    """The candidate rule, written out for one story (hits: cluster, are headline keys, how many keys): clusters
    sharing two keys, or one key of a headline or lead of at most 3 keys; most shared first, ties by first hit."""
    counts: Counter[int] = Counter()
    for r, _, n in hits:
        counts[r] += n
    one = {r for r, title, _ in hits if (title_keys if title else lead_keys) <= 3}
    return [f"c{r:012x}" for r, n in counts.most_common() if n >= 2 or r in one][:limit]


def test_candidates_of_a_chunk_are_those_of_each_story() -> None:
    """The chunk's candidate clusters, chosen on arrays, are exactly those the per-story rule picks, in the same
    order (ties in shared keys broken by the first hit): the order decides between equal scores."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        size = int(rng.integers(0, 40))
        owner = np.sort(rng.integers(0, n, size))
        refs = rng.integers(1, 7, size).astype(np.uint64)  # few clusters: many repeats and ties
        title = rng.random(size) < 0.5
        title_keys, lead_keys = rng.integers(0, 6, n), rng.integers(0, 6, n)
        hits = _Hits(owner, refs, title, n)
        expected = [one_story_candidates(hits.of(i), int(title_keys[i]), int(lead_keys[i]), 4) for i in range(n)]
        assert hits.candidates(title_keys, lead_keys, 4) == expected
        for i in range(n):
            assert candidates_of(hits.of(i), int(title_keys[i]), int(lead_keys[i]), 4) == expected[i]
            # the same hits counted together (as `_Shared` gives them): the same candidates
            together: dict[tuple[int, bool], int] = {}
            for r, t, _ in hits.of(i):
                together[(r, t)] = together.get((r, t), 0) + 1
            counted = [(r, t, k) for (r, t), k in together.items()]
            assert candidates_of(counted, int(title_keys[i]), int(lead_keys[i]), 4) == expected[i]
        assert [len(hits.of(i)) for i in range(n)] == np.bincount(owner, minlength=n).tolist()


def shared_keys(keys: list[int], owner: list[int], title: list[bool],
                cap: int) -> dict[int, list[tuple[int, bool, int]]]:
    """Story -> (earlier story, the keys are this story's headline keys, how many) of the keys it shares with
    one of the key's first `cap` holders in the chunk, in the order of their first such key (by key, then by
    the earlier story's place): written out, one key at a time."""
    pairs: dict[int, list[tuple[int, bool]]] = {}
    for key in sorted(set(keys)):
        members = [(o, t) for k, o, t in zip(keys, owner, title, strict=True) if k == key]
        for a, (o, t) in enumerate(members):
            pairs.setdefault(o, []).extend((other, t) for other, _ in members[:min(a, cap)] if other != o)
    return {o: [(e, t, c) for (e, t), c in Counter(found).items()] for o, found in pairs.items() if found}


def test_keys_shared_inside_a_chunk_are_found_on_arrays_as_one_key_at_a_time() -> None:
    """`_Shared` pairs each story with the earlier stories of its chunk sharing a key (of a key's first `cap`
    holders), in the same order as the rule written out (the order breaks ties between candidates): a story's
    own repeated key is no pair."""
    rng = np.random.default_rng(5)
    for case in range(600):
        n = int(rng.integers(1, 8))
        owner = np.sort(rng.integers(0, n, int(rng.integers(0, 40))))
        # few keys: long runs, repeats in a story; or many: most keys held once, beside a few runs
        keys = rng.integers(1, 9 if case % 2 else 80, len(owner)).astype(np.uint64)
        title = rng.random(len(owner)) < 0.5
        for cap in (3, 40):  # runs longer than the cap, and not
            shared = _Shared(Signatures(keys, owner, title), n, cap)
            expected = shared_keys(keys.tolist(), owner.tolist(), title.tolist(), cap)
            assert [shared.of(i) for i in range(n)] == [expected.get(i, []) for i in range(n)]


def test_words_are_hashed_on_the_bytes_as_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys' word hashes, computed for a batch on its bytes, are each word's stem hash (0 for a stopword),
    with only a lead's first `lead_span` words, for any text (empty, non-ASCII, a stray line break) — also when
    the word table grows, or is full and emptied in the middle of a batch."""
    from pipeline.dedup import index
    from pipeline.dedup.normalize import STOPWORDS, stem

    texts = [(norm_title("Hundreds of civilians flee Kherson under shelling"), lead("Residents of Kherson " * 30)),
             ("", ""), ("kyïv евакуація", "the of a"), ("line\nbreak", "één twee"), ("fled", "")]
    for bits, max_bits in ((16, 20), (5, 20), (5, 5)):  # 32 slots: grown, or emptied, for the second batch
        stems = index._Stems(bits)
        stems.MAX_BITS = max_bits
        monkeypatch.setattr(index, "_STEMS", stems)
        first = [("alpha beta gamma delta epsilon zeta", "")]
        first_raw = index._word_spans(first, 40)[0]
        for batch, span in ((first, 40), (texts, 40), (texts + first, 3)):
            raw, owner, title, data, starts, ends = index._word_spans(batch, span)
            before = stems.keys
            got = index._stem_hashes(raw, data, starts, ends)
            if bits == 5 and batch is texts:
                assert stems.keys is not before  # grown (the first batch's words kept) or emptied
                assert stems.get(first_raw)[1].all() == (max_bits > 5)
            expected = [(i, True, w) for i, (t, _) in enumerate(batch) for w in t.split()]
            expected += [(i, False, w) for i, (_, ld) in enumerate(batch) for w in ld.split()[:span]]
            expected.sort(key=lambda e: (e[0], not e[1]))  # by story, headline first, in order
            assert list(zip(owner.tolist(), title.tolist(), strict=True)) == [(i, t) for i, t, _ in expected]
            assert got.tolist() == [0 if w in STOPWORDS else index.word_hash(stem(w)) for _, _, w in expected]


def test_words_are_stemmed_once_for_keys_and_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stems of new words, made for their keys, are kept for comparing headlines (`content_words` finds
    them: a headline's words are mostly words of earlier leads); the memory is bounded (emptied when full)."""
    from pipeline.dedup import index, normalize

    monkeypatch.setattr(index, "_STEMS", index._Stems())
    monkeypatch.setattr(normalize, "_STEMS", {})
    index.signatures([("residents flee shelled villages", "evacuations continued overnight in coastal towns")])
    assert set(normalize._STEMS) == {"residents", "flee", "shelled", "villages", "evacuations", "continued",
                                     "overnight", "coastal", "towns"}  # (not the stopword)
    assert normalize._STEMS["villages"] == normalize.stem("villages") == "villag"
    calls: list[str] = []
    monkeypatch.setattr(normalize, "stem", lambda w: calls.append(w) or w)
    assert content_words("residents flee the coastal villages") == ["resident", "fle", "coastal", "villag"]
    assert content_words("more towns besieged") == ["town", "besieged"] and calls == ["besieged"]
    monkeypatch.setattr(normalize, "_MAX_STEMS", 3)
    assert content_words("alpha beta gamma") == ["alpha", "beta", "gamma"]  # emptied at the first, then 3 kept
    assert set(normalize._STEMS) == {"alpha", "beta", "gamma"}


def test_signatures_of_many_texts_are_computed_in_parts_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big batch (a cold start's page of clusters) is hashed in parts, which changes nothing."""
    from pipeline.dedup import index

    texts = [(norm_title(s.title), lead(s.summary)) for s in demo_stories()] + [("", "")]
    whole = index.signatures(texts)
    monkeypatch.setattr(index, "_BATCH", 4)
    parts = index.signatures(texts)
    assert len(whole.keys) > 100 and max(whole.owner) == len(texts) - 2  # the empty text has no keys
    for a, b in ((whole.keys, parts.keys), (whole.owner, parts.owner), (whole.title, parts.title)):
        assert a.tolist() == b.tolist()


def test_the_collector_is_held_off_inside_a_chunk_only(tmp_path: Path) -> None:
    """Python's cyclic collector is off while a chunk is clustered (the store is asked with it off) and on again
    after it; a caller that turned it off itself finds it still off; an error inside leaves it as it was."""

    asked: list[bool] = []

    class Watched(SqliteStore):
        def seen_many(self, items: list[Identity]) -> list[dict[str, tuple[str, bool]]]:
            asked.append(gc.isenabled())
            return super().seen_many(items)

    store = Watched(tmp_path / "s.db")
    stories = [make_story(f"Story number {i} about something else entirely", "", f"Outlet {i}") for i in range(5)]
    assert gc.isenabled()
    with store.batch():
        assert len(list(Deduper(store, chunk=2).add_all(stories))) == 5
    assert asked == [False, False, False] and gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("inside")
    assert gc.isenabled()
    store.close()


def test_chunk_size_is_bounded(store: SqliteStore) -> None:
    """A chunk's story numbers share a 64-bit word with cluster references: at most 65,536 stories a chunk."""
    with pytest.raises(ValueError, match="chunk"):
        Deduper(store, chunk=70_000)


def test_a_copy_republishes_an_outlet_its_text_names_by_all_its_words() -> None:
    """`republishes` against the rule written out: the copy's headline or opening names an outlet of the
    cluster (other than its own feed), all the name's words in a row; among many outlets, as a wire story has."""
    outlets = [f"{a} {b} - World" for a in ("Daily", "Evening", "Kyiv", "Sky") for b in ("Mirror", "Post", "Star")]
    outlets += ["BBC", "AP", "Київ Пост", "Le Monde Éco", "inkl", *(f"Outlet {i} News" for i in range(300))]

    def credits(text: str, own: str, sources: tuple[str, ...]) -> bool:
        said = f" {' '.join(words(text))} "
        return any(len(outlet_name(s)) >= 4 and f" {' '.join(words(outlet_name(s)))} " in said
                   for s in sources if s != own)

    texts = ["Start reading Daily Mirror World: Kherson shelled", "Kherson shelled - Kyiv Post", "Daily news: Kherson",
             "Sky: Kherson Star shelled", "Kherson (BBC) shelled", "Outlet 17 News reports Kherson shelled",
             "Outlet 1 reports", "Evening Star: Kherson", "Київ Пост: Херсон", "Le Monde éco: Kherson",
             "Le Monde Eco: Kherson", "Kherson - Le monde eco"]
    seen = set()
    for n in (1, 3, 12, 15, 16, 17, 317):  # up to 16 outlets ASCII text is searched for first words first
        sources = tuple(outlets[-n:] if n == 3 else outlets[:n])
        for text in texts:
            for own in ("inkl", sources[0]):
                story = make_story(text, "Residents fled on Monday.", own, sid="x")
                expected = credits(story.title + "\n" + story.summary[:400], own, sources)
                assert republishes(story, sources) == expected, (text, own, n)
                seen.add(expected)
    assert seen == {True, False}
    tagged = dataclasses.replace(make_story("Kherson shelled", "Residents fled.", "Agg", sid="a"), aggregator=True)
    assert republishes(tagged, ())  # a feed tagged aggregator, whatever its text


def test_records_with_a_slot_init_are_made_as_dataclass_makes_them() -> None:
    """`ClusterInfo` and `ClusteredStory` (made per story clustered) fill their slots directly (`slot_init`): the same
    parameters and defaults, equal to the dataclass's own records, frozen, picklable (Beam pickles them), and
    `dataclasses.replace` works."""
    import dataclasses
    import inspect
    import pickle

    from pipeline.model import ClusteredStory, ClusterInfo, slot_init

    # ClusterInfo's fields in a dataclass with the dataclass's own __init__, the reference
    Plain = dataclasses.make_dataclass(
        "Plain", [(f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(ClusterInfo)],
        frozen=True, slots=True)

    def params(cls: type) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert params(ClusterInfo) == params(Plain)
    info = ClusterInfo("c1", "t", "l", ("a",), 1.0, 2.0, 3)
    assert info.independent == () and dataclasses.astuple(info) == dataclasses.astuple(Plain("c1", "t", "l", ("a",),
                                                                                            1.0, 2.0, 3))
    assert ClusterInfo(id="c1", title="t", link="l", sources=("a",), first_seen=1.0, last_seen=2.0, size=3) == info
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.size = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing"):
        ClusterInfo("c1")  # type: ignore[call-arg]
    out = ClusteredStory(make_story("Kherson", "text", "Mirror"), info, "new-cluster", 0.0)
    assert pickle.loads(pickle.dumps(out)) == out
    assert dataclasses.replace(info, size=9) == ClusterInfo("c1", "t", "l", ("a",), 1.0, 2.0, 9)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[str] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="needs the dataclass's own __init__"):
        slot_init(WithFactory)
