"""The compiled kernels (`pipeline/dedup/_native.c`) against the code they replace, which stays the reference:
each kernel must give exactly the arrays, lists and strings of the numpy / Python code, on real headlines and
texts (the UCI sample and STS-B headlines in ../shared/data/news, when present) and on random ones, and the
whole dedup stage must put every story into the same cluster for the same reason with them and without."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from pipeline.dedup import index, native, normalize
from pipeline.dedup.core import Deduper, Thresholds, _Shared, title_match
from pipeline.dedup.normalize import joined_words, lead, norm_title, words
from pipeline.state.identities import IdentityIndex, _merged, _Newest
from pipeline.state.sqlite import SqliteStore
from pipeline.testing import make_story

KERNELS = native.KERNELS
NEWS = Path(__file__).resolve().parents[3] / "shared" / "data" / "news"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "kherson-syndicated-article.txt"

pytestmark = pytest.mark.skipif(KERNELS is None, reason="the compiled kernels are not built (no C compiler at "
                                "install, or NEWSWATCH_PURE_PYTHON is set): the numpy / Python code runs alone")


def both(compute):  # type: ignore[no-untyped-def]
    """(with the kernels, without them) of `compute()`; the stem table and stem cache are shared, as in a process
    whose kernels were switched off: the kernels read and fill the same tables."""
    with_kernels = compute()
    native.KERNELS = None
    try:
        without = compute()
    finally:
        native.KERNELS = KERNELS
    return with_kernels, without


def real_texts() -> list[tuple[str, str]]:
    """(headline, text) pairs of real news: UCI headlines, STS-B headline pairs as headline and "text", the seed
    article; skipped when ../shared is absent."""
    if not NEWS.is_dir():
        pytest.skip(f"{NEWS} not found (../shared/data/news beside the repository)")
    out: list[tuple[str, str]] = []
    with (NEWS / "uci-news-aggregator-2014-03-10.csv").open(encoding="utf-8", newline="") as f:
        out += [(r["TITLE"], f"{r['PUBLISHER']} - {r['TITLE']} ({r['HOSTNAME']})") for r in csv.DictReader(f)]
    with (NEWS / "sts-train.headlines.tsv").open(encoding="utf-8") as f:
        out += [(r[5], r[6]) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) > 6]
    if SEED.exists():
        seed = SEED.read_text(encoding="utf-8")
        out += [(seed.splitlines()[0], seed), (seed[:200], seed[5000:])]
    return out


def random_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """Random headlines and texts over a small vocabulary (so stories share words and keys), with stopwords,
    punctuation, digits, upper case, odd spacing, and now and then Cyrillic, accents, tabs and line breaks."""
    rng = random.Random(seed)
    vocab = ["kherson", "Херсон", "evacuation", "the", "of", "shelling", "civilians", "flee", "U.S.", "Kyïv", "2026",
             "mayor", "said", "city", "region", "ukraine's", "forces", "a", "in", "water", "power", "rescue", "x",
             "on", "café", "O'Neil", "—", "(AFP)", "\t", "\n", "  ", "Read more", "e-mail", "__init__", "ÉCOLE"]
    vocab += [f"w{i}" for i in range(60)]

    def text(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(0, k)))

    return [(text(12), text(80)) for _ in range(n)]


@pytest.mark.parametrize("source", ["real", "random"])
def test_signature_keys_are_the_same(source: str) -> None:
    texts = random_texts(2000, 1) if source == "random" else real_texts()[:6000]
    normalized = [(norm_title(t), lead(s)) for t, s in texts]
    for title_words, sample, span in ((7, 3, 40), (3, 1, 5), (1, 2, 200)):
        got, want = both(lambda tw=title_words, sm=sample, sp=span: index.signatures(normalized, tw, sm, sp))
        for name in ("keys", "owner", "title"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (name, title_words, sample, span)
    assert len(got.keys) > len(normalized)  # (not trivially equal: keys were made)


def test_signatures_of_raw_unnormalized_texts_are_the_same() -> None:
    """Text the stage never passes (line breaks, tabs, runs of spaces) still gives the same keys."""
    texts = random_texts(500, 2)
    got, want = both(lambda: index.signatures(texts))
    assert np.array_equal(got.keys, want.keys) and np.array_equal(got.owner, want.owner)


def test_word_spans_and_stem_lookup_are_the_same() -> None:
    texts = [(norm_title(t), lead(s)) for t, s in random_texts(300, 3)]
    index.signatures(texts)  # every word learned
    got, want = both(lambda: index._word_spans(texts, 40))
    for a, b in zip(got[:3] + got[4:], want[:3] + want[4:], strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert got[3] == want[3]
    raw = got[0]
    (h1, k1), (h2, k2) = both(lambda: index._STEMS.get(raw))
    assert np.array_equal(h1, h2) and np.array_equal(k1, k2) and k1.all()
    unknown = np.array([12345, 67890], dtype=np.uint64)
    (h1, k1), (h2, k2) = both(lambda: index._STEMS.get(unknown))
    assert not k1.any() and not k2.any() and np.array_equal(h1, h2)


def test_key_table_adds_and_finds_the_same() -> None:
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 2**64, size=40_000, dtype=np.uint64)
    keys[::9] = keys[5]  # many keys in one bucket: its ways wrap within one batch
    refs = rng.integers(1, 2**48, size=len(keys), dtype=np.uint64)
    tables = []

    def fill() -> tuple[np.ndarray, np.ndarray]:
        table = index.KeyTable(1000)
        for part in range(0, len(keys), 7000):
            table.add_many(refs[part : part + 7000], keys[part : part + 7000])
        tables.append(table)
        return table.lookup_many(np.concatenate([keys[:5000], rng.integers(0, 2**64, 100, dtype=np.uint64)]))

    (at1, refs1), (at2, refs2) = both(fill)
    assert np.array_equal(tables[0]._table, tables[1]._table) and np.array_equal(tables[0]._next, tables[1]._next)
    assert at1.dtype == at2.dtype and refs1.dtype == refs2.dtype
    assert np.array_equal(at1, at2) and np.array_equal(refs1, refs2) and len(at1) > 5000


@pytest.mark.parametrize("wide", [False, True])
def test_identity_index_finds_the_same(wide: bool) -> None:
    """`IdentityIndex.find` (the big arrays' shards, the middle array, the filter) and its filter's making, with the
    kernels and without, over several merges and a fold, keys asked once more with newer rows (the middle array's
    row wins over a shard's), rows of 4 bytes and of 8 (past 2**32), evicted rows dropped."""
    rng = np.random.default_rng(7)
    base = 2**33 if wide else 0
    keys = rng.integers(1, 2**64, size=30_000, dtype=np.uint64)
    keys[::5] >>= np.uint64(40)  # some bunched up near 0: the search must not rely on keys being spread
    keys[20_000:22_000] = keys[:2000]  # the same identities again, in newer rows

    def build_and_find() -> tuple[list[int], bytes, list[int]]:
        ids = IdentityIndex(merge_at=3000, fold_at=12_000, min_filter=1 << 10)
        for start in range(0, len(keys), 1000):
            part = keys[start : start + 1000].tolist()
            ids.add_rows(list(range(base + start + 1, base + start + 1001)), part, [1] * len(part))
            if ids.due():
                ids.merge(oldest_row=base + 2500)
        asked = np.concatenate([keys, rng.integers(1, 2**64, size=20_000, dtype=np.uint64), keys[::7] + np.uint64(1)])
        found = ids.find(asked.tolist())
        ids.recent = {}  # the arrays alone
        return found, ids._filter.tobytes(), ids.find(asked.tolist())

    (got, got_filter, got_arrays), (want, want_filter, want_arrays) = both(build_and_find)
    assert got == want and got_filter == want_filter and got_arrays == want_arrays
    assert sum(map(bool, got_arrays)) > 15_000 and max(got_arrays) > base  # hits in the arrays, of newer rows too
    assert got_arrays[:2000] == got_arrays[20_000:22_000] and min(got_arrays[:2000]) > base + 20_000  # the newer
    assert not any(got_arrays[2000:2499])  # evicted (rows before 2,500)


@pytest.mark.parametrize("source", ["real", "random"])
def test_headlines_compared_by_hashes_score_the_same(source: str) -> None:
    """`title_match` on the headlines' hashed content words (`index.Headlines`, as the stage uses it with the
    kernels) gives the score of comparing their words' strings, numbers included ("one" is "1", and shared numbers
    are no evidence), over pairs that share many words and pairs that share few."""
    if source == "real":
        texts = real_texts()
        titles = [norm_title(t) for t, _ in texts[:3000]] + [norm_title(s) for _, s in texts[-3000:]]
    else:
        rng = random.Random(9)
        vocab = ["kherson", "flee", "flees", "fleeing", "one", "1", "two", "2014", "3", "10", "ten", "the", "of",
                 "shelling", "civilians", "russian", "russia", "city", "mayor", "votes", "voted", "w1", "w2", "w3"]
        titles = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(4000)]
    pairs = list(zip(titles[::2], titles[1::2], strict=False)) + list(zip(titles[::3], titles[3::3], strict=False))
    headlines = index.Headlines(titles[: len(titles) // 2])  # the rest computed when asked, one by one
    th = Thresholds()
    hashed = [title_match(a, b, th, hashed=(headlines[a], headlines[b])) for a, b in pairs]
    strings = [title_match(a, b, th) for a, b in pairs]
    assert hashed == strings
    assert sum(score > 0 for score in strings) > 30


def test_the_newest_entries_table_holds_what_a_dict_holds() -> None:
    """`identities._Newest` (the identity index's newest entries, in C) against a dict: keys put again (the later
    row wins, also within one batch), key 0, growing from a tiny table, lookups of keys held and not."""
    rng = np.random.default_rng(11)
    table, reference = _Newest(KERNELS, bits=1), {}  # type: ignore[arg-type]
    for part in range(30):
        keys = rng.integers(0, 2**64, size=int(rng.integers(1, 400)), dtype=np.uint64)
        keys[::7] = rng.integers(0, 50, size=len(keys[::7]), dtype=np.uint64)  # repeats (and 0) across and within
        rows = np.arange(part * 1000 + 1, part * 1000 + 1 + len(keys), dtype=np.uint64)
        table.put(keys, rows)
        reference.update(zip(keys.tolist(), rows.tolist(), strict=True))
        assert len(table) == len(reference) and table == reference
    asked = np.concatenate([np.array(list(reference), dtype=np.uint64),
                            rng.integers(0, 2**64, size=1000, dtype=np.uint64)])
    got = table.over(asked, np.full(len(asked), 7, dtype=np.uint64)).tolist()
    assert got == [reference.get(k, 7) for k in asked.tolist()] and 0 in reference
    assert table[0] == reference[0] and len(table.keys) < 4 * len(table) * 2
    table.clear()
    assert not table and table.over(asked, np.zeros(len(asked), dtype=np.uint64)).tolist() == [0] * len(asked)


def test_anchors_found_in_one_pass_are_the_ones_held() -> None:
    """`anchors_in` (one pass over the text, by the anchors' first two bytes) against `in`, for anchor tuples other
    than the boilerplate's (made again when the tuple changes): one-byte and empty anchors, anchors at a text's
    very end, prefixes of each other, 64 of them."""
    rng = random.Random(12)
    alphabet = "ab (r"
    texts = ["", "a", "(", "ab", "ba", "read", "readi", "rrrr"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))) for _ in range(3000)]
    tuples = [("", "(", "a", "ab"), ("read", "rea", "re", "r"), ("b(", "a (", "bb", "ab r"),
              tuple("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4))) for _ in range(64))]
    for anchors in [*tuples, normalize.ANCHORS, tuples[0]]:
        for text in texts:
            got = KERNELS.anchors_in(text, anchors)  # type: ignore[union-attr]
            assert got == tuple(a for a in anchors if a in text), (anchors, text)


@pytest.mark.parametrize(("narrow", "oldest"), [((True, True), 0), ((True, False), 500), ((False, True), 500)])
def test_sorted_arrays_merge_the_same(narrow: tuple[bool, bool], oldest: int) -> None:
    """`identities._merged` (an index level and newer entries; rows of 4 bytes or 8, mixed as when rows pass
    2**32), with the kernel and without: keys in order, a key's newer row winning, old rows dropped."""
    rng = np.random.default_rng(8)
    keys = np.unique(rng.integers(0, 2**64, size=5000, dtype=np.uint64))
    add = np.unique(np.concatenate([keys[::3], rng.integers(0, 2**64, size=2000, dtype=np.uint64)]))
    rows = rng.integers(1, 1000, size=len(keys)).astype(np.uint32 if narrow[0] else np.uint64)
    add_rows = rng.integers(1000, 2000, size=len(add)).astype(np.uint32 if narrow[1] else np.uint64)
    (k1, r1), (k2, r2) = both(lambda: _merged(keys, rows.copy(), add, add_rows, oldest))
    assert k1.dtype == k2.dtype and r1.dtype == r2.dtype and np.array_equal(k1, k2) and np.array_equal(r1, r2)
    assert np.all(np.diff(k1.astype(np.float64)) >= 0) and len(k1) > len(add) and (r1 >= oldest).all()


def test_a_damaged_saved_table_is_written_as_numpy_writes_it() -> None:
    """A saved key table's `next` (each bucket's next way, 0-7) read back with larger values (a damaged file): the
    kernel masks them as the numpy code does, instead of writing past the bucket."""
    keys = np.random.default_rng(5).integers(0, 2**64, size=3000, dtype=np.uint64)
    refs = np.arange(1, 3001, dtype=np.uint64)
    tables = []

    def fill() -> None:
        table = index.KeyTable(1000)
        table._next[:] = 250  # (as if loaded from a damaged file)
        table.add_many(refs, keys)
        tables.append(table)

    both(fill)
    assert np.array_equal(tables[0]._table, tables[1]._table) and np.array_equal(tables[0]._next, tables[1]._next)


@pytest.mark.parametrize("cap", [16, 3, 1, 0])
def test_shared_keys_in_a_chunk_are_the_same(cap: int) -> None:
    texts = [(norm_title(t), lead(s)) for t, s in random_texts(400, 5)]
    burst = [texts[7]] * 120 + texts[:50] + [texts[7]] * 30  # one story again and again (a wire story breaking)
    for chunk in (texts, burst):
        sig = index.signatures(chunk)
        got, want = both(lambda c=chunk, s=sig: _Shared(s, len(c), cap))
        for name in ("earlier", "title", "count", "bounds"):
            assert getattr(got, name) == getattr(want, name), name
    assert cap == 0 or len(got.earlier) > 0


@pytest.mark.parametrize("source", ["real", "random"])
def test_joined_words_are_the_same(source: str) -> None:
    texts = [t for pair in (random_texts(1000, 6) if source == "random" else real_texts()[:5000]) for t in pair]
    rng = random.Random(7)
    texts += ["", " ", "___", "a", "A b", "  x  ", "don't STOP", "tab\there", "ascii_only 123abc", "end."]
    texts += ["".join(chr(rng.randrange(128)) for _ in range(rng.randrange(60))) for _ in range(2000)]
    for n in (-1, 0, 1, 3, 60):
        got, want = both(lambda n=n: [joined_words(t, n) for t in texts])
        assert got == want
        assert want == [" ".join(words(t) if n < 0 else words(t)[:n]) for t in texts]


@pytest.mark.parametrize("source", ["real", "random"])
def test_boilerplate_scan_and_spacing_are_the_same(source: str) -> None:
    """The anchors a text holds, the text single-spaced, and the whole of `strip_boilerplate` and `lead`."""
    texts = [t for pair in (random_texts(1000, 9) if source == "random" else real_texts()[:5000]) for t in pair]
    rng = random.Random(10)
    chrome = ["Get all your news in one place.", "(AFP via Getty Images)", "Read more »",
              "Sign up to read this article", "The post x appeared first on Y.", "KYIV (Reuters) -", "\x1c", "\x0b",
              "\r\n", "Start reading", "(", "titles"]
    texts += [" ".join(rng.choice(chrome + t.split()[:5]) for _ in range(rng.randrange(1, 15))) for t in texts[:3000]]
    texts += ["", " ", "\t\n", "a\x1fb\x1c c  d \x0c", "(", "read more", "x" * 3000]
    lows = [t.lower() for t in texts]
    held = [KERNELS.anchors_in(low, normalize.ANCHORS) for low in lows]  # type: ignore[union-attr]
    assert held == [tuple(a for a in normalize.ANCHORS if a in low) if low.isascii() else None for low in lows]
    got, want = both(lambda: [[m.span() for m in normalize._boilerplate_in(low)] for low in lows])
    assert got == want and sum(map(bool, got)) > 1000
    got, want = both(lambda: [normalize.collapsed(t) for t in texts])
    assert got == want == [" ".join(t.split()) for t in texts]
    got, want = both(lambda: [normalize.single_spaced(t) for t in texts])
    assert got == want == [" ".join(t.split()) for t in texts]
    spaced = [" ".join(t.split()) for t in texts if t.isascii()]  # already so: the kernel gives the text back
    assert all(KERNELS.single_spaced(t) is t for t in spaced)  # type: ignore[union-attr]
    assert KERNELS.single_spaced("a\tb") == "a b"  # type: ignore[union-attr]  (the same length, not the same text)
    for odd in [f"a{c}b" for c in "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"] + ["a  b", " a", "a ", " "]:
        assert KERNELS.single_spaced(odd) == " ".join(odd.split()), odd  # type: ignore[union-attr]
    got, want = both(lambda: [(normalize.strip_boilerplate(t), lead(t)) for t in texts])
    assert got == want


def test_ascii_words_leaves_other_text_to_python() -> None:
    assert KERNELS.ascii_words("Kyïv", -1) is None  # type: ignore[union-attr]
    assert joined_words("Kyïv — Херсон, 2026") == "kyiv херсон 2026"
    assert KERNELS.anchors_in("(херсон)", ("(",)) is None  # type: ignore[union-attr]
    assert KERNELS.single_spaced("Херсон  x") is None  # type: ignore[union-attr]
    assert normalize.collapsed(" Херсон \u2003 x ") == "Херсон x"  # (str.split's Unicode white space)


def test_item_urls_are_the_same() -> None:
    """The kernel's `item_url` of a plain link against `sources.parse.item_url`, the reference: on real links (the
    UCI sample's) and on links made odd at random (case, "www."/"amp."/"m.", AMP paths, trailing slashes,
    fragments, queries, ports, user names, white space, non-ASCII, other schemes); None (Python decides) for
    anything but a plain link."""
    from pipeline.sources.parse import _PLAIN_URL, item_url

    links = ["https://www.Example.com/World/Story-1.html", "http://m.example.com/a/", "https://amp.example.com/x//",
             "https://example.com", "https://example.com/", "https://example.com#top", "https://www./x",
             "http://www.", "https://m.", "https://www", "HTTPS://example.com/a", "https://example.com/amp/",
             "https://example.com/a.amp.html", "https://example.com/campaign", "https://example.com:443/a",
             "https://user@example.com/a", "https://example.com/a?utm_source=x", "https://example.com/a#b?c#d",
             "https://example.com/a b", "https://example.com/a\tb", " https://example.com/a", "https://example.com/ä",
             "ftp://example.com/a", "https://exa_mple.com/a", "https:///a", "https://", "", "https://example.com/a\x7f",
             "https://example.com/a#\x01", "https://example.com//", "https://Www.EXAMPLE.com/Path/"]
    if NEWS.is_dir():
        with (NEWS / "uci-news-aggregator-2014-03-10.csv").open(encoding="utf-8", newline="") as f:
            links += [r["URL"] for r in csv.DictReader(f)]
    rng = random.Random(5)
    pieces = ["www.", "amp.", "m.", "WWW.", "/", "//", "amp", "#f", "#", "?q=1", ":80", "user@", " ", "\t", "\n", "é",
              "A", "-"]
    for link in links[:3000]:
        for _ in range(3):
            at = rng.randrange(len(link) + 1)
            links.append(link[:at] + rng.choice(pieces) + link[at:])
    plain = 0
    for link in links:
        got = KERNELS.item_url(link)  # type: ignore[union-attr]
        if got is not None:
            plain += 1
            assert got == item_url(link), link
        else:  # left to Python: not a plain ASCII link, or one with an AMP path
            m = _PLAIN_URL.fullmatch(link)
            assert m is None or not link.isascii() or "amp" in (m[2] or ""), link
    assert plain > len(links) // 3


def cluster(stories: list[object], tmp: Path) -> list[tuple[str, str, float]]:
    store = SqliteStore(tmp / "state.db")
    try:
        d = Deduper(store, window=10**9, capacity=20_000)
        return [(o.cluster.id, o.reason, o.score) for o in d.add_all(stories) if o is not None]  # type: ignore[arg-type]
    finally:
        store.close()


def test_the_dedup_stage_decides_the_same(tmp_path: Path) -> None:
    """Real headlines and their syndicated copies (boilerplate, datelines, reworded headlines) through the whole
    stage, with the kernels and without: the same cluster, reason and score for every story."""
    rng = random.Random(8)
    texts = real_texts()[:3000]
    stories = []
    for i, (title, text) in enumerate(texts):
        stories.append(make_story(title, text, f"outlet{i % 40}", sid=f"s{i}"))
        if i % 4 == 0:
            words_ = title.split()
            rng.shuffle(words_)
            copy = f"Get all your news in one place. KYIV (Reuters) - {text} Sign up to read this article"
            stories.append(make_story(" ".join(words_), copy, f"copier{i % 7}", sid=f"c{i}"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    got, want = both(lambda: cluster(stories, tmp_path / ("a" if native.KERNELS else "b")))
    assert got == want
    assert sum(reason != "new-cluster" for _, reason, _ in got) > len(texts) // 5  # copies were found


def test_kernels_refuse_arrays_that_do_not_fit() -> None:
    """Wrong input is a ValueError naming what is wrong, never a read past an array's end."""
    keys, owner, title = np.arange(4, dtype=np.uint64), np.array([0, 0, 1, 1]), np.ones(4, dtype=bool)
    kernels = KERNELS
    assert kernels is not None
    with pytest.raises(ValueError, match="one length"):
        kernels.shared_pairs(keys, owner[:3], title, 2, 16)
    with pytest.raises(ValueError, match="sorted and below n"):
        kernels.shared_pairs(keys, owner[::-1].copy(), title, 2, 16)
    with pytest.raises(ValueError, match="sorted and below n"):
        kernels.keys_of(keys, owner, title, 1, 7, 3)
    with pytest.raises(ValueError, match="whole number"):
        kernels.table_lookup(np.zeros(16, dtype=np.uint64), b"\x00" * 7)
    with pytest.raises(ValueError, match="WAYS times"):
        kernels.table_add(np.zeros(16, dtype=np.uint64), np.zeros(3, dtype=np.uint8), keys, keys)
    with pytest.raises(ValueError, match="mask"):
        kernels.stem_lookup(keys, np.zeros(8, dtype=np.uint64), np.zeros(8, dtype=np.uint64), 15)
    parts = [keys[:0]] * 17
    with pytest.raises(ValueError, match="one array per shard"):
        kernels.index_find(keys, b"\xff", parts[:16], parts[:16], 60)
    with pytest.raises(ValueError, match="one for each key"):
        kernels.index_find(keys, b"\xff", [keys, *parts[1:]], [b"\x00" * 12, *parts[1:]], 60)
    with pytest.raises(ValueError, match="filter is empty"):
        kernels.bloom_add(bytearray(), keys)


def test_the_switch_turns_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """NEWSWATCH_PURE_PYTHON=1 runs the reference code (the benchmarks' baseline, a fallback if a kernel is ever
    in doubt)."""
    monkeypatch.setenv("NEWSWATCH_PURE_PYTHON", "1")
    assert native.load() is None
    monkeypatch.setenv("NEWSWATCH_PURE_PYTHON", "0")
    assert native.load() is KERNELS
    assert normalize.native is native and index.native is native
