"""Conformance: every test feed of feedparser 6.0.14 (2,248) and the W3C feed validator (1,692), served over
loopback HTTP with the headers their `Header:` comments name, through the production polling path.

Zero exceptions may escape; every file yields stories or a recorded reason. For feedparser's well-formed
cases, the first entry's title, link and date (as the file's own `Expect:` line states them) must survive into
`Story`. The tallies are printed. Reads ../shared/data/feeds; skipped with the reason when it is absent.
"""

from __future__ import annotations

import ast
import calendar
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.demo.server import FeedServer, Request, Response, Route
from pipeline.model import FeedSpec
from pipeline.sources.fetch import Fetcher, FetchPolicy
from pipeline.sources.parse import clean_text
from pipeline.sources.poll import PollResult, poll_feed
from pipeline.sources.schedule import FeedState, SchedulePolicy

SHARED_FEEDS = Path(__file__).resolve().parents[3] / "shared" / "data" / "feeds"
CORPORA = {
    "feedparser": SHARED_FEEDS / "feedparser-6.0.14" / "tests",
    "w3c": SHARED_FEEDS / "w3c-feedvalidator" / "testcases",
}
HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
EXPECT = re.compile(r"entries\[0\]\['(title|link|published_parsed|updated_parsed)'\]\s*==\s*")

pytestmark = pytest.mark.skipif(
    not all(p.is_dir() for p in CORPORA.values()),
    reason=f"feed corpora not found under {SHARED_FEEDS} (they live in ../shared/data/feeds beside the repo)",
)


ENTRY_OPEN = re.compile(rb"<(item|entry|atom:entry)(\s[^>]*)?>")


def with_probe_title(body: bytes) -> bytes:
    """The document with a title added to its first entry, so an entry that only has a link or a date (as
    feedparser's minimal test cases do) becomes a Story whose link and date can be checked."""
    return ENTRY_OPEN.sub(lambda m: m.group(0) + b"<title>conformance probe</title>", body, count=1)


def route_for(path: Path, root: Path, probe: bool = False) -> Route:
    """Serve a test file as its `Header:` comments say (status, redirects, content type, encoding)."""
    body = with_probe_title(path.read_bytes()) if probe else path.read_bytes()
    headers: dict[str, str] = {}
    status = 200
    for name, value in HEADER.findall(body[:2000]):
        key, val = name.decode().strip(), value.decode("latin-1").strip()
        if key.lower() == "status":
            status = int(val)
        elif key.lower() == "location":
            val = re.sub(r"^https?://localhost:\d+/tests/", "/feedparser/", val)
            headers["Location"] = re.sub(r"^https?://localhost:\d+/", "/", val)
        else:
            headers[key] = val
    if path.suffix == ".gz":
        headers["Content-Encoding"] = "gzip"
    elif path.suffix == ".z":
        headers["Content-Encoding"] = "deflate"
    headers.setdefault("Content-Type", "application/xml")

    def route(_: Request) -> Response:
        return Response(status, headers, b"" if status in (304,) else body)

    return route


@dataclass
class Case:
    """One served file and what polling it produced."""

    corpus: str
    path: Path
    url: str
    result: PollResult | None = None
    exception: str = ""
    probe: bool = False


@pytest.fixture(name="cases", scope="module")
def _cases() -> Iterator[list[Case]]:
    """Poll every corpus file once through `poll_feed` (8 threads)."""
    routes: dict[str, Route] = {"/-/return-304.xml": lambda _: Response(304)}  # as feedparser's test server
    cases: list[Case] = []
    for corpus, root in CORPORA.items():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = f"/{corpus}/{path.relative_to(root).as_posix()}"
            routes[rel] = route_for(path, root)
            cases.append(Case(corpus, path, rel))
            if corpus == "feedparser" and "/wellformed/" in rel and set(expectations(path)) - {"title"}:
                routes["/probe" + rel] = route_for(path, root, probe=True)
                cases.append(Case(corpus, path, "/probe" + rel, probe=True))
    fetcher = Fetcher(FetchPolicy(read_timeout=10, total_timeout=20))
    policy = SchedulePolicy()
    with FeedServer(routes) as server:

        def run(case: Case) -> Case:
            url = server.base_url + case.url
            try:
                case.result = poll_feed(FeedSpec(url, ""), FeedState(url), fetcher, 1e9, policy, 0.5, max_age=None)
            except Exception as e:  # noqa: BLE001 (the point of the test is to find any that escape)
                case.exception = f"{type(e).__name__}: {e}"
            return case

        with ThreadPoolExecutor(8) as pool:
            done = list(pool.map(run, cases))
    fetcher.close()
    yield done


def test_no_exception_escapes_and_every_file_is_accounted_for(cases: list[Case],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Each of the ~3,940 files yields stories or a reason; none raises. Prints the tallies."""
    escaped = [f"{c.path}: {c.exception}" for c in cases if c.exception]
    assert escaped == []
    tallies: dict[str, Counter[str]] = {name: Counter() for name in CORPORA}
    for c in cases:
        if c.probe:
            continue
        t, r = tallies[c.corpus], c.result
        assert r is not None
        t["files"] += 1
        t["stories"] += len(r.stories)
        if r.stories:
            t["files with stories"] += 1
        elif not r.outcome.ok:
            t[f"error: {r.outcome.error_kind}"] += 1
        else:
            t["valid feed, no items"] += 1
        for reason, n in r.skipped.items():
            t[f"items skipped: {reason}"] += n
        assert r.stories or r.outcome.error or r.outcome.ok, c.path  # never silent
    errors = Counter(f"{c.corpus}/{c.path.name}: {c.result.outcome.error}" for c in cases
                     if c.result and not c.result.outcome.ok and not c.probe)
    with capsys.disabled():
        print("\nfeed conformance: files that gave an error instead of stories")
        for line in sorted(errors):
            print(f"  {line}")
        print("feed conformance tallies")
        for name, t in tallies.items():
            print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(t.items(), key=lambda kv: kv[0])))
    assert tallies["feedparser"]["files"] == 2248 and tallies["w3c"]["files"] == 1692


def test_no_markup_reaches_stories(cases: list[Case]) -> None:
    """No title or summary of any story carries an HTML tag (sanitize tests included)."""
    tag = re.compile(r"<(script|img|a|div|p|span|iframe|b|i|em|strong)\b[^>]*>", re.IGNORECASE)
    bad = [(c.path.name, s.title) for c in cases if c.result for s in c.result.stories
           if tag.search(s.title) or tag.search(s.summary)]
    assert bad == []


FEEDPARSER_TEST_SERVER = re.compile(r"^http://(127\.0\.0\.1|localhost):8097")


def server_base(url: str) -> str:
    """scheme://host:port of a URL (our loopback server stands in for feedparser's test server)."""
    m = re.match(r"^https?://[^/]+", url)
    return m.group(0) if m else ""


def expectations(path: Path) -> dict[str, object]:
    """The entries[0] title/link/date values a feedparser test file's Expect line states."""
    text = path.read_bytes()[:3000].decode("utf-8", "replace")
    m = re.search(r"^Expect:\s*(.*)$", text, re.MULTILINE)
    out: dict[str, object] = {}
    if not m:
        return out
    line = m.group(1)
    for em in EXPECT.finditer(line):
        try:
            node = ast.parse(line[em.end():].split(" and entries", 1)[0].split(" and feed", 1)[0].strip(),
                             mode="eval")
            out[em.group(1)] = ast.literal_eval(node.body)
        except (SyntaxError, ValueError):
            continue
    return out


def test_wellformed_titles_links_dates_survive(cases: list[Case]) -> None:
    """For feedparser's well-formed cases, entry 0's title, link and date reach the Story as stated."""
    checked: Counter[str] = Counter()
    wrong: list[str] = []
    for c in cases:
        if c.corpus != "feedparser" or "/wellformed/" not in c.path.as_posix() or not c.result:
            continue
        exp = expectations(c.path)
        if not exp or not c.result.stories:
            continue
        s = c.result.stories[0]
        body = c.path.read_bytes()
        if not c.probe and "title" in exp and isinstance(exp["title"], str) and clean_text(exp["title"]):
            checked["title"] += 1
            if s.title != clean_text(exp["title"]):
                wrong.append(f"{c.path.name}: title {s.title!r} != {clean_text(exp['title'])!r}")
        if not c.probe:
            continue  # links and dates are checked on the probe variant, whose entry 0 is never skipped
        if "link" in exp:
            checked["link"] += 1
            expected = FEEDPARSER_TEST_SERVER.sub(server_base(s.link), str(exp["link"]))
            if s.link != expected:
                wrong.append(f"{c.path.name}: link {s.link!r} != {exp['link']!r}")
        for key in ("published_parsed", "updated_parsed"):
            value = exp.get(key)
            other_date = re.search(rb"<(pubDate|published|issued|dc:date|dcterms:issued)", body)
            if isinstance(value, tuple) and (key == "published_parsed" or not other_date):
                checked["date"] += 1
                if s.published != calendar.timegm(value):
                    wrong.append(f"{c.path.name}: date {s.published} != {calendar.timegm(value)}")
    assert wrong == []
    assert checked["title"] >= 40 and checked["link"] >= 5 and checked["date"] >= 5, checked


def test_item_cut_parses_like_the_whole_document() -> None:
    """On every corpus file that the fast item scan can cut, each item parsed alone (head + that block +
    tail, as incremental polling does) gives the same Story as in the full parse; otherwise the scan must
    say so (None, or a count mismatch that makes polling fall back to the whole document)."""
    from pipeline.sources.parse import parse_feed, split_items

    feed = FeedSpec("http://127.0.0.1/x.xml", "")
    cut_files = compared = 0
    wrong: list[str] = []
    for root in CORPORA.values():
        for path in sorted(root.rglob("*.xml")):
            body = path.read_bytes()
            cut = split_items(body)
            if cut is None:
                continue
            cut_files += 1
            assert cut.head + b"".join(cut.blocks) + cut.tail == body, path
            full = parse_feed(body, {}, feed, 1.0)
            if full.error or full.skipped or len(full.stories) != len(cut.blocks):
                continue  # polling keeps no item keys for such a feed and parses it whole
            for i, story in enumerate(full.stories):
                compared += 1
                alone = parse_feed(cut.only({i}), {}, feed, 1.0).stories
                if alone != (story,):
                    wrong.append(f"{path.name} item {i}")
    assert wrong == []
    assert cut_files > 1000 and compared > 1000, (cut_files, compared)
    print(f"\nitem cut: {cut_files} files cut, {compared} items compared alone vs whole")
