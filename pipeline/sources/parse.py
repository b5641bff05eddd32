"""Pure feed parsing: bytes + headers -> `Story` records or counted reasons. The only module importing feedparser."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import feedparser

from pipeline.model import FeedSpec, Story

TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|yclid|mc_cid|mc_eid|ocid|cmpid|ref|ref_src|src|source|"
    r"at_medium|at_campaign|ito|smid|guccounter|amp|outputtype|__twitter_impression)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Stories parsed from one feed body, why items were skipped, and a feed-level `error` if it is not a feed."""

    stories: tuple[Story, ...] = ()
    skipped: Counter[str] = field(default_factory=Counter)
    error: str = ""
    ttl: float | None = None  # the feed's <ttl>, in seconds


def parse_feed(body: bytes, headers: dict[str, str], feed: FeedSpec, fetched: float) -> ParseResult:
    """Parse one feed document. Never raises on bad input: problems become `error` or `skipped` reasons."""
    parsed = feedparser.parse(body, response_headers=headers or {"content-location": feed.url})
    entries = parsed.get("entries") or []
    if not entries:
        if not parsed.get("version"):
            ctype = headers.get("content-type", "")
            if "html" in ctype or body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                return ParseResult(error="got an HTML page, not an RSS/Atom feed; check the feed URL")
            why = parsed.get("bozo_exception") or "no <rss>, <feed> or <rdf:RDF> root element"
            return ParseResult(error=f"not a feed: {why}")
        return ParseResult()
    stories: list[Story] = []
    skipped: Counter[str] = Counter()
    source = feed.name or clean_text(parsed.get("feed", {}).get("title", "")) or _host(feed.url)
    aggregator = "aggregator" in feed.tags
    for entry in entries:
        story = _story(entry, source, feed.url, fetched, aggregator)
        if isinstance(story, str):
            skipped[story] += 1
        else:
            stories.append(story)
    return ParseResult(tuple(stories), skipped, ttl=_ttl(parsed.get("feed", {}).get("ttl", "")))


def _ttl(raw: str) -> float | None:
    """RSS <ttl> is minutes; nonsense is ignored."""
    raw = str(raw).strip()
    return float(raw) * 60 if raw.isdigit() and 0 < int(raw) < 100_000 else None


_ITEM_BLOCK = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?(?:item|entry))[\s>].*?</\1\s*>", re.DOTALL)
_CDATA = re.compile(rb"<!\[CDATA\[.*?\]\]>", re.DOTALL)
_ITEM_TAG = re.compile(rb"</?(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")


@dataclass(frozen=True, slots=True)
class ItemBlocks:
    """A feed document cut into its item/entry elements, byte for byte: head + blocks (with the text between
    them) + tail. `keys` identify each block's bytes."""

    head: bytes
    blocks: tuple[bytes, ...]
    tail: bytes

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(hashlib.sha1(b, usedforsecurity=False).hexdigest()[:16] for b in self.blocks)

    def only(self, wanted: set[int]) -> bytes:
        """The document with just the blocks at these positions (the head carries the namespaces,
        encoding, xml:base and feed-level elements, so each kept item parses as it would in full)."""
        return self.head + b"".join(b for i, b in enumerate(self.blocks) if i in wanted) + self.tail


def split_items(body: bytes) -> ItemBlocks | None:
    """Cut a feed into item blocks with a fast scan, or None when that is not safe (nothing found, or item tags
    inside CDATA where a regex cannot tell them from real ones): then the caller parses the whole document."""
    if any(_ITEM_TAG.search(m.group(0)) for m in _CDATA.finditer(body)):
        return None
    spans = [m.span() for m in _ITEM_BLOCK.finditer(body)]
    if not spans:
        return None
    blocks = []
    for i, (start, end) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else end
        blocks.append(body[start:stop])  # the block plus the whitespace or comments after it
    head, tail = body[: spans[0][0]], body[spans[-1][1] :]
    if _ITEM_TAG.search(head) or _ITEM_TAG.search(tail):
        return None  # unbalanced or nested items: not a shape we cut safely
    return ItemBlocks(head, tuple(blocks), tail)


def drop_old(result: ParseResult, oldest: float) -> ParseResult:
    """Skip stories published before `oldest` (a dateless story's fallback date is its fetch time: kept)."""
    keep = tuple(s for s in result.stories if s.published >= oldest)
    if len(keep) == len(result.stories):
        return result
    skipped = result.skipped.copy()
    skipped["published before max_item_age_hours"] += len(result.stories) - len(keep)
    return ParseResult(keep, skipped, result.error, result.ttl)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _story(entry: Any, source: str, feed_url: str, fetched: float, aggregator: bool) -> Story | str:
    title = clean_text(entry.get("title", ""))
    summary = ""
    if entry.get("summary"):
        summary = clean_text(entry["summary"])
    elif entry.get("content"):
        summary = clean_text(entry["content"][0].get("value", ""))
    if not title and not summary:
        return "no title and no text"
    link = str(entry.get("link", "") or "")
    guid = str(entry.get("id", "") or "")
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    published = float(calendar.timegm(stamp)) if stamp else fetched
    # Without a GUID, the link and headline: feeds linking every item to one section page are not rare, and by its
    # link alone each new item was taken for the first (an edited headline makes a new id: the near-duplicate test
    # puts it in its cluster, with no alert, as its outlet is already there).
    url = item_url(link)
    identity = guid or (f"{url}\n{title}" if url else f"{title}\n{summary[:200]}")
    sid = hashlib.sha1(f"{feed_url}\n{identity}".encode(), usedforsecurity=False).hexdigest()[:16]
    return Story(
        id=sid, feed_url=feed_url, source=source, title=title or summary[:120], summary=summary,
        link=link, guid=guid, published=published, fetched=fetched, published_is_fallback=stamp is None,
        aggregator=aggregator,
    )


def canonical_url(url: str) -> str:
    """One story, one URL: no scheme (http == https), lower-case host without `www.`/`amp.`/`m.`, no fragment,
    no tracking parameters, no AMP variant (`/amp`, `.amp.html`), no trailing slash."""
    if not url:
        return ""
    if plain := _PLAIN_URL.fullmatch(url):  # the common case, without urlsplit: the same parts, 3x faster
        return _canonical(plain[1], plain[2] or "", "")
    return _canonical_split(url)


def item_url(link: str) -> str:
    """`canonical_url` of an item's link, or '' when it is a site's root (`example.com/`), which names no item:
    feeds that link every item to their home page are not rare, and taking the link for the item's identity
    made all their items one story (each new one dropped as the first again)."""
    url = canonical_url(link)
    return "" if url.find("/") == len(url) - 1 else url


def _canonical_split(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    return _canonical(parts.netloc, parts.path, parts.query) if parts.netloc else ""


def _canonical(netloc: str, path: str, query: str) -> str:
    host = netloc.lower().removesuffix(":80").removesuffix(":443")
    if host.startswith(("www.", "amp.", "m.")):
        host = host.split(".", 1)[1]
    if "amp" in path:
        path = _AMP_PATH.sub("", _AMP_SUFFIX.sub(r"\1", path))
    path = path.rstrip("/") or "/"
    if not query:
        return f"{host}{path}"
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    q = urllib.parse.urlencode(sorted(kept))
    return f"{host}{path}" + (f"?{q}" if q else "")


# scheme://host/path#fragment with nothing urlsplit would treat specially: no user, port, query or white space
_PLAIN_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(/[^?#\x00-\x20\x7f]*)?(?:#[^\x00-\x20\x7f]*)?")
_AMP_SUFFIX = re.compile(r"\.amp(\.html?)?$")
_AMP_PATH = re.compile(r"/amp/?$")


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr", "figcaption", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_MARKUP = re.compile(r"<[a-zA-Z/!][^>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def clean_text(raw: str) -> str:
    """HTML or plain text -> plain text: tags dropped, entities decoded, blank runs collapsed, lines kept.

    Double-escaped HTML (`&lt;b&gt;` in a plain-text title, a common publisher bug) gets a second pass.
    """
    if not raw:
        return ""
    text = raw
    for _ in range(2):
        if not _MARKUP.search(text):
            break
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        text = html.unescape("".join(parser.parts))
    lines = (re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
