"""Pure text normalization for comparing syndicated copies: folding, boilerplate removal, leads.

`BOILERPLATE` is data: aggregator chrome and photo credits that differ between copies of one story and would
otherwise make two copies look different (or two different stories look alike).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from pipeline.dedup import native

BOILERPLATE: tuple[str, ...] = (
    r"get all your news in one place\.?",
    r"100[’']?s of premium titles\.?",
    r"one app\.?( one membership\.?)?",
    r"start reading",
    r"sign up to read this article",
    r"read news from 100[’']?s of titles, curated specifically for you\.?",
    r"already a member\?( sign in here)?",
    r"related stories",
    r"top stories on \w+ right now",
    r"one subscription that gives you access to news from hundreds of sites",
    r"our picks",
    r"fourteen days free",
    r"download the app",
    r"100\+ trusted global sources\.?",
    r"read more\W*",
    r"continue reading\W*",
    r"click here to read more\W*",
    r"the post .{0,200} appeared first on .{0,80}",
    r"\((?:photo|image|picture)s?:? [^)]{0,80}\)",
    r"\([^)]{0,60}(?:via getty images|/getty images|/ap|/reuters|/afp|/shutterstock)\)",
    r"\((?:afp|ap|reuters|getty images|epa)\)",
)
# Run on lower-cased text (6x faster than ignoring case), and never from inside a word: "phone app" is not the
# chrome "one app", "spread more" not "read more".
_BOILERPLATE_RE = re.compile("(?<![a-z0-9])(?:" + "|".join(f"(?:{p})" for p in BOILERPLATE) + ")")
_BOILERPLATE_ANYCASE = re.compile(_BOILERPLATE_RE.pattern, re.IGNORECASE)

# Each pattern's anchor: text that every match of the pattern contains (a test proves it on the parsed patterns).
# A text is scanned only for the patterns whose anchors it holds, most texts for none.
ANCHOR_OF: tuple[str, ...] = (
    "your news", "titles", "one app", "reading", "sign up", "titles", "a member", "related stories", "top stories",
    "subscription", "our picks", "days free", "the app", "global sources", "read more", "reading", "read more",
    "appeared first on", "(", "(", "(",
)
ANCHORS = tuple(dict.fromkeys(ANCHOR_OF))


def _boilerplate_in(low: str) -> Iterator[re.Match[str]]:
    """The matches of `_BOILERPLATE_RE` in lower-cased text, the same ones, found the fastest way for it: with the
    patterns whose anchors the text holds (a copy holds one to three: 10 µs -> 2), by `_at_word_starts`."""
    kernels = native.KERNELS
    present = kernels.anchors_in(low, ANCHORS) if kernels is not None else None
    if present is None:
        present = tuple([anchor for anchor in ANCHORS if anchor in low])
    return _at_word_starts(low, _scanner(present)) if present else iter(())


_SCANNERS: dict[tuple[str, ...], re.Pattern[str]] = {}  # anchors held -> their patterns as one regex


def _scanner(present: tuple[str, ...]) -> re.Pattern[str]:
    """The patterns anchored by `present`, in their order, as one regex without the look-behind: `re` then skips
    at once to where one of their first letters is (with the look-behind in front it cannot, and tries every
    place). There are few sets of anchors a text holds; the regexes are made as they are met, 256 at most."""
    scanner = _SCANNERS.get(present)
    if scanner is None:
        if len(_SCANNERS) >= 256:
            _SCANNERS.clear()
        scanner = _SCANNERS[present] = re.compile(
            "|".join(f"(?:{p})" for p, anchor in zip(BOILERPLATE, ANCHOR_OF, strict=True) if anchor in present))
    return scanner


def _at_word_starts(low: str, scanner: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """`scanner`'s matches that `_BOILERPLATE_RE`'s look-behind would allow."""
    pos = 0
    while m := scanner.search(low, pos):
        start = m.start()
        if start and low[start - 1] in _LETTER_OR_DIGIT:  # inside a word: not this one, try one further
            pos = start + 1
            continue
        yield m
        pos = m.end()


_LETTER_OR_DIGIT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")

# Case-sensitive, anchored: a dateline or byline opening the text, an agency credit closing it.
_AGENCY = r"(?:Reuters|AP|AFP|Bloomberg|dpa|PA|ANI|IANS|UPI)"
EDGES: tuple[str, ...] = (
    rf"^(?:[A-Z][A-Z'.-]+(?: [A-Z][A-Z'.-]+){{0,3}}|[A-Z][a-z]+(?: [A-Z][a-z]+)? \({_AGENCY}\))"
    rf"(?:,? [A-Z][a-z]{{2,8}}\.? \d{{1,2}})?(?: \({_AGENCY}\))? ?[-–—]{{1,2}} ",  # KYIV (Reuters) -
    r"^By [A-Z][a-z]+(?: [A-Z][a-zA-Z.'-]+){1,3}(?:,? [A-Z][A-Za-z ]{1,30}?)?(?: [-–—|] | {2}|\n)",  # By Jane Doe
    rf" ?[-–—] ?{_AGENCY}\.?$",  # ... - Reuters
)
_EDGES_RE = [(re.compile(p), p.endswith("$")) for p in EDGES]  # (pattern, anchored at the end)
_TAIL = 24  # an end-anchored edge ("... - Bloomberg.") is looked for in this many last characters only
_QUOTES = (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-"))
_WORD = re.compile(r"\w+")
# For ASCII text, `\w+` is "split at everything but letters, digits and _": a byte translation and str.split,
# 4x faster (`words`).
_NON_WORD = bytes(c if c < 128 and (chr(c).isalnum() or chr(c) == "_") else 32 for c in range(256))
_TITLE_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{1,40}$")


def ascii_quotes(text: str) -> str:
    """Typographic quotes and dashes as ASCII. One `str.replace` a character: `str.translate` with a table
    takes ~0.15 µs a character on non-ASCII text (600 µs for a 4,000-character article), this ~10 µs."""
    for typographic, plain in _QUOTES:
        if typographic in text:
            text = text.replace(typographic, plain)
    return text


def fold(text: str) -> str:
    """NFKC, typographic quotes to ASCII, casefold, and diacritics removed (so `Kyïv` == `kyiv`).

    Done as NFKD, quotes, casefold, marks dropped, NFC: the same result as NFKC first (the tests check every
    code point of three planes, alone and beside a mark; every line of ../shared/data was checked once too), in
    half the time on Cyrillic text, where NFKC costs as much as all the rest."""
    if text.isascii():  # NFKC and the quotes leave ASCII alone
        return text.lower()
    text = ascii_quotes(text)
    if text.isascii():
        return text.lower()  # only quotes and dashes: the common case of English text
    decomposed = ascii_quotes(unicodedata.normalize("NFKD", text)).casefold()  # NFKD can make dashes ("︱")
    bare = _ACCENTS.sub("", decomposed)
    if _MAYBE_MARK.search(bare):  # a character that may be another script's mark: each one asked
        bare = "".join([c for c in bare if not unicodedata.combining(c)])
    return unicodedata.normalize("NFC", bare)


def _mark_free(limit: int = 0x3000, least: int = 200) -> list[tuple[int, int]]:
    """Ranges of code points below `limit`, each of at least `least`, holding no combining mark."""
    out, start = [], 0
    for c in range(limit + 1):
        if c == limit or unicodedata.combining(chr(c)):
            if c - start >= least:
                out.append((start, c - 1))
            start = c + 1
    return out


# Marks dropped in two steps, as asking `unicodedata.combining` of each character cost ~0.12 µs a character:
# the accents of Latin, Greek and Cyrillic letters (é, й, ї decompose to a letter and one of U+0300-U+036F) in
# one pass, and then, only when some character lies outside the big mark-free ranges (those of Latin,
# Greek, Cyrillic, punctuation...), each character is asked.
_ACCENTS = re.compile("[\\u0300-\\u034e\\u0350-\\u036f]+")  # (U+034F, the grapheme joiner, is no mark)
_MAYBE_MARK = re.compile("[^" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _mark_free()) + "]")


def compile_extra(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """User boilerplate patterns (worker config `dedup.boilerplate`) as one case-insensitive regex."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


def _strip_edges(text: str, start_only: bool = False) -> str:
    for edge, closing in _EDGES_RE:
        if closing:  # (a closing edge has a dash: looked for only where one is, a search took ~0.6 µs)
            if not start_only and _has_dash(tail := text[-_TAIL:]) and (m := edge.search(tail)):
                text = text[: len(text) - len(tail) + m.start()]
        elif m := edge.match(text):  # anchored at the start: one attempt, not a scan
            text = text[m.end() :]
    return text


def _has_dash(text: str) -> bool:
    return "-" in text or "–" in text or "—" in text


# The white space `str.split` splits ASCII text at, other than single spaces between words.
_ODD_SPACE = ("  ", "\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


def single_spaced(text: str) -> str:
    """`" ".join(text.split())`; ASCII text already so (most summaries, once parsed) comes back as it is: the
    kernel's one pass gives it back (`collapsed`), and without the kernels a few searches in C find it so instead
    of a list of its words made and joined (~3 µs for 300 characters)."""
    if native.KERNELS is None and text.isascii() and text[:1] != " " and text[-1:] != " ":
        for odd in _ODD_SPACE:
            if odd in text:
                break
        else:
            return text
    return collapsed(text)


def collapsed(text: str) -> str:
    """`" ".join(text.split())` (by the compiled kernel for ASCII text)."""
    if (kernels := native.KERNELS) is not None and (out := kernels.single_spaced(text)) is not None:
        return out  # type: ignore[no-any-return]
    return " ".join(text.split())


def strip_boilerplate(text: str, extra: re.Pattern[str] | None = None, start_only: bool = False) -> str:
    """Remove aggregator chrome, photo credits, datelines, bylines and agency credits (plus the user's own
    `extra` patterns); keeps the article text. `start_only`: the text is the opening of a longer one, whose
    closing edges ("... - Reuters") are not in it."""
    if not text.isascii():  # typographic quotes and dashes (none in ASCII text)
        text = ascii_quotes(text)
    text = spaced = single_spaced(text)
    text = _strip_edges(text, start_only)  # first: "(AFP)" in a dateline is the dateline's
    low = text.lower()
    before = text
    if len(low) == len(text):  # spans found in the lower-cased text are the same spans of the text
        pieces: list[str] = []
        last = 0
        for m in _boilerplate_in(low):
            pieces += (text[last : m.start()], " ")
            last = m.end()
        text = "".join(pieces) + text[last:] if pieces else text
    else:  # rare: a character whose lower case is longer ("İ")
        text = _BOILERPLATE_ANYCASE.sub(" ", text)
    if extra is not None:
        text = extra.sub(" ", text)
    if text is not before or text[:1] == " " or text[-1:] == " ":  # something removed: collapse again
        text = collapsed(text)
    # The opening edges once more: chrome removed from the front can uncover a dateline or byline ("Start
    # reading ... KYIV (Reuters) - ..."), as can a byline in front of a dateline. Whenever anything was removed,
    # even at the far end: what the opening of a long text keeps must not depend on its end (`lead`). When
    # nothing was, they were tried on this very text already.
    return text if text is spaced else _strip_edges(text, start_only=True)


def words(text: str) -> list[str]:
    """Folded word tokens of `text`."""
    folded = fold(text)
    if folded.isascii():  # bytes.translate: ~10x faster than str.translate with a table
        return folded.encode("ascii").translate(_NON_WORD).decode("ascii").split()
    return _WORD.findall(folded)


def joined_words(text: str, n: int = -1) -> str:
    """`" ".join(words(text)[:n])`, all of them when `n` < 0 (by the compiled kernel for ASCII text)."""
    if (kernels := native.KERNELS) is not None and (out := kernels.ascii_words(text, n)) is not None:
        return out  # type: ignore[no-any-return]
    found = words(text)
    return " ".join(found if n < 0 else found[:n])


_US = re.compile(r"\bU\.?S\.?(?:A\.?)?(?=\W|$)")  # U.S., US, USA (upper case only: not the pronoun)


_DOTTED = re.compile(r"\b(?:[A-Za-z]\.){2,}")  # D.C., U.N., p.m.


def norm_title(title: str) -> str:
    """Headline without an outlet suffix (`... - Reuters`, `... | inkl`), folded, as space-joined words;
    dotted abbreviations closed up (D.C. -> dc)."""
    title = title.strip()
    if "-" in title or "|" in title or "–" in title or "—" in title:  # (each regex only when it can match)
        title = _TITLE_SUFFIX.sub("", title)
    if "U" in title:
        title = _US.sub(" usa ", title)
    if "." in title:
        title = _DOTTED.sub(lambda m: m.group().replace(".", "") + " ", title)
    return joined_words(title)


OPENING = 1500  # characters of a long text its lead is looked for in first (full-text feeds carry whole articles)
_REACH = 500  # no pattern of BOILERPLATE or EDGES matches more characters (the longest: "the post ... appeared")


def lead(summary: str, n_words: int = 60, extra: re.Pattern[str] | None = None) -> str:
    """The first `n_words` words of the article text after boilerplate removal.

    A long text (a full-text feed's whole article: ~460 µs for 5,000 characters, growing with its length) is
    stripped in its opening only, where that gives the same words: no pattern reaches over `_REACH` characters
    (nor do the closing edges, looked for in a text's last characters), so the stripped opening and the
    stripped whole text differ at most in the opening's last `_REACH` characters, which can only shrink. The
    lead is the opening's when it has `n_words` words before those (the next one may be a word cut short);
    else the whole text is stripped. A user pattern (`extra`) matching more than `_REACH` characters may see
    the cut."""
    if len(summary) > OPENING:  # (a word cut at OPENING is in the part left out)
        found = words(strip_boilerplate(summary[:OPENING], extra, start_only=True)[:-_REACH])
        if len(found) > n_words:
            return " ".join(found[:n_words])
    return joined_words(strip_boilerplate(summary, extra), n_words)


# Function words and newsroom filler: sharing them says nothing about being the same story.
STOPWORDS = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "but", "as", "is",
    "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "it", "its", "this",
    "that", "these", "those", "after", "before", "over", "under", "into", "onto", "about", "against", "between",
    "during", "amid", "than", "then", "so", "if", "not", "no", "yes", "will", "would", "could", "should", "can",
    "may", "might", "must", "says", "say", "said", "tells", "told", "report", "reports", "reported", "new",
    "latest", "update", "updates", "live", "breaking", "news", "video", "photos", "watch", "via", "vs", "just",
    "also", "more", "most", "up", "out", "off", "down", "who", "what", "when", "where", "why", "how", "he",
    "she", "they", "we", "you", "i", "his", "her", "their", "our", "your", "him", "them", "us", "s", "t",
})
_SUFFIXES = ("ing", "ed", "es", "s")
# Words that name the same thing: "Syrian capital" and "Syria's capital" are one story, "one count" is "1 count".
SAME_AS = {
    "american": "usa", "americans": "usa", "afghan": "afghanistan", "british": "uk", "britain": "uk",
    "chinese": "china", "egyptian": "egypt", "french": "france", "german": "germany", "indian": "india",
    "iranian": "iran", "iraqi": "iraq", "israeli": "israel", "italian": "italy", "japanese": "japan",
    "korean": "korea", "libyan": "libya", "mexican": "mexico", "pakistani": "pakistan", "palestinian": "palestine",
    "russian": "russia", "russians": "russia", "saudi": "saudi", "spanish": "spain", "syrian": "syria",
    "turkish": "turkey", "ukrainian": "ukraine", "ukrainians": "ukraine", "venezuelan": "venezuela",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10",
}


def stem(word: str) -> str:
    """A light English suffix strip, enough for headline overlap: vote/votes/voted/voting -> vot,
    flee/flees -> fle (fled stays apart: irregular forms are the rules' business, not dedup's)."""
    if word in SAME_AS:
        return SAME_AS[word]
    if len(word) > 4:
        for suffix in _SUFFIXES:
            if word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        if word in SAME_AS:  # egyptians -> egyptian -> egypt
            return SAME_AS[word]
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


_STEMS: dict[str, str] = {}  # a plain dict is cheaper per hit than lru_cache; emptied when it grows too big
_MAX_STEMS = 100_000  # words (~9 MiB at most)


def stemmed(word: str) -> str:
    """`stem(word)`, remembered: the words of every text are stemmed once, for its signature keys (the key
    table's word learning), and again and again when headlines are compared (`content_words`)."""
    s = _STEMS.get(word)
    if s is None:
        if len(_STEMS) >= _MAX_STEMS:
            _STEMS.clear()
        s = _STEMS[word] = stem(word)
    return s


def content_words(normalized: str) -> list[str]:
    """The stemmed words of a normalized text that carry meaning (no stopwords)."""
    cache = _STEMS
    out = []
    for w in normalized.split():
        if w not in STOPWORDS:
            s = cache.get(w)
            out.append(stemmed(w) if s is None else s)
    return out
