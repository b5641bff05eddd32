"""Feed parsing: bytes and headers in, clean Story records or reasons out."""

import pytest

from pipeline.demo import FEEDS_DIR
from pipeline.model import FeedSpec
from pipeline.sources.parse import _canonical_split, canonical_url, clean_text, item_url, parse_feed, split_items

FEED = FeedSpec("http://127.0.0.1/x.xml", "")


def test_rss_items_become_stories() -> None:
    """Every RSS item becomes a story with clean text, link, guid and a parsed date."""
    res = parse_feed((FEEDS_DIR / "daily-mirror.xml").read_bytes(), {}, FEED, fetched=1.0)
    assert not res.error
    assert len(res.stories) == 3
    s = res.stories[0]
    assert s.title.startswith("Hundreds of civilians flee Kherson")
    assert s.source == "Daily Mirror - World News"
    assert "<p>" not in s.summary and s.summary.startswith("Hundreds of civilians have had to flee")
    assert s.guid == "mirror-28835234"
    assert s.published == 1672236300.0 and not s.published_is_fallback


def test_atom_html_title_is_plain_text() -> None:
    """HTML in an Atom title is turned into text (no markup reaches rules or Slack)."""
    res = parse_feed((FEEDS_DIR / "yahoo-news.xml").read_bytes(), {}, FEED, fetched=1.0)
    assert res.stories[0].title == "Tearful goodbyes at Kherson station as Russia steps up bombardment – Mirror"


def test_html_page_is_an_error_not_a_feed() -> None:
    """An HTML error page is a feed error with a reason, not junk stories."""
    res = parse_feed(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
                     {"content-type": "text/html"}, FEED, 1.0)
    assert res.stories == () and "HTML page" in res.error


def test_garbage_is_an_error() -> None:
    """Bytes that are not a feed give a reason."""
    assert parse_feed(b"\x00\x01 hello", {}, FEED, 1.0).error.startswith("not a feed")


def test_missing_date_falls_back_to_fetch_time() -> None:
    """An item without a date gets the fetch time, marked as a fallback."""
    body = b"<rss version='2.0'><channel><title>T</title><item><title>Hi there</title></item></channel></rss>"
    s = parse_feed(body, {}, FEED, fetched=123.0).stories[0]
    assert s.published == 123.0 and s.published_is_fallback


def test_empty_item_is_skipped_with_reason() -> None:
    """An item with neither title nor text is counted as skipped, with the reason."""
    body = b"<rss version='2.0'><channel><title>T</title><item><link>http://a/</link></item></channel></rss>"
    res = parse_feed(body, {}, FEED, 1.0)
    assert res.stories == () and res.skipped == {"no title and no text": 1}


def test_items_without_guid_sharing_a_link_keep_apart() -> None:
    """An item's id comes from its GUID, else its link and headline, else its text; a site's root names no item.
    Items that all link to one page (a section, the home page) were all one story: each new one dropped."""
    body = (b"<rss version='2.0'><channel><title>T</title>"
            b"<item><title>Flood closes schools</title><link>https://www.valley.example/</link></item>"
            b"<item><title>Bridge budget approved</title><link>https://valley.example</link></item>"
            b"<item><title>Fair opens</title><link>https://valley.example/news</link></item>"
            b"<item><title>Council meets</title><link>https://valley.example/news</link></item>"
            b"<item><title>Fair opens</title><link>https://valley.example/news?utm_source=x</link></item>"
            b"</channel></rss>")
    ids = [s.id for s in parse_feed(body, {}, FEED, 1.0).stories]
    assert len(ids) == 5 and len(set(ids[:4])) == 4 and ids[4] == ids[2]  # the same link and headline: one item
    assert [item_url(u) for u in ("https://www.x.org/", "http://x.org", "http://x.org/?p=1", "https://x.org/a")] == [
        "", "", "x.org/?p=1", "x.org/a"]


def test_canonical_url_drops_tracking_and_fragment() -> None:
    """utm_* parameters, fragments, www and case of the host do not make a different URL."""
    a = canonical_url("https://WWW.Mirror.co.uk/news/a-1/?utm_source=rss&id=2#top")
    assert a == canonical_url("http://mirror.co.uk/news/a-1?id=2") == "mirror.co.uk/news/a-1?id=2"


def test_clean_text_keeps_paragraph_breaks() -> None:
    """Tags become line breaks, entities are decoded, scripts dropped."""
    assert clean_text("<p>A &amp; B</p><script>x()</script><p>C</p>") == "A & B\nC"


def test_canonical_url_folds_amp_and_mobile_variants() -> None:
    """AMP and mobile variants of a link canonicalize to the article URL."""
    base = canonical_url("https://news.example/world/story-1")
    for variant in ("https://amp.news.example/world/story-1", "https://news.example/world/story-1/amp/",
                    "http://m.news.example/world/story-1?amp=1", "https://news.example/world/story-1.amp",
                    "https://news.example:443/world/story-1?outputType=amp#comments"):
        assert canonical_url(variant) == base, variant
    assert canonical_url("https://news.example/a.amp.html") == "news.example/a.html"



@pytest.mark.parametrize("url", [
    "https://www.x.example/a/", "http://m.x.example", "https://amp.x.example/a.amp.html", "https://x.example/a/amp/",
    "https://a.example/x#frag", "https://a.example//", "http://www.", "https://a.example/\tb", "//a.example/x",
    "HTTPS://A.example/x", "https://user@a.example/x", "https://a.example:8080/x", "https://a.example/x y",
    "https://a.example/x\n", " https://a.example/x", "https://[::1]/x", "https://a.example/%7Ex/ü", "ftp://a.example/x",
    "https://WWW.Mirror.co.uk/news/a-1/?utm_source=rss&id=2#top", "https://a.example/x#f#g", "https://a..example/x",
])
def test_canonical_url_shortcut_agrees_with_urlsplit(url: str) -> None:
    """Plain links skip urlsplit; every link canonicalizes as it would through urlsplit."""
    assert canonical_url(url) == _canonical_split(url)

class TestSplitItems:
    def test_blocks_reassemble_the_document(self) -> None:
        """head + blocks + tail is the document byte for byte, one block per item."""
        body = (FEEDS_DIR / "daily-mirror.xml").read_bytes()
        cut = split_items(body)
        assert cut is not None and len(cut.blocks) == 3
        assert cut.head + b"".join(cut.blocks) + cut.tail == body

    def test_one_block_parses_like_in_the_whole(self) -> None:
        """A document with only block i yields the same story as item i of the full parse (Atom too)."""
        for name in ("daily-mirror.xml", "inkl.xml", "yahoo-news.xml"):
            body = (FEEDS_DIR / name).read_bytes()
            full = parse_feed(body, {}, FEED, 1.0).stories
            cut = split_items(body)
            assert cut is not None
            for i, story in enumerate(full):
                assert parse_feed(cut.only({i}), {}, FEED, 1.0).stories == (story,), (name, i)

    def test_item_tags_inside_cdata_are_not_cut(self) -> None:
        """An </item> inside CDATA makes the cut unsafe: None, and the caller parses the whole."""
        body = b"<rss><channel><item><title>a</title><description><![CDATA[x </item> y]]></description></item>" \
               b"</channel></rss>"
        assert split_items(body) is None

    def test_no_items(self) -> None:
        """A feed without items has nothing to cut."""
        assert split_items(b"<rss><channel><title>t</title></channel></rss>") is None
