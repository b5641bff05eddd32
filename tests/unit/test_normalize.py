"""Text normalization used by dedup and rules."""

from pipeline.dedup.normalize import ascii_quotes, fold, lead, norm_title, strip_boilerplate, words


class TestFold:
    def test_case_diacritics_and_quotes_fold(self) -> None:
        """Case, diacritics and typographic quotes do not distinguish words."""
        assert fold("Kyïv’s ÉVACUATION") == "kyiv's evacuation"

    def test_typographic_quotes_and_dashes_become_ascii(self) -> None:
        """Each of the six, wherever it stands; other text unchanged."""
        assert ascii_quotes("‘a’ “b” c–d—e Київ") == "'a' \"b\" c-d-e Київ"

    def test_cyrillic_is_kept(self) -> None:
        """Cyrillic letters survive folding (only case changes)."""
        assert words("У Херсоні") == ["у", "херсоні"]


class TestBoilerplate:
    def test_aggregator_chrome_removed(self) -> None:
        """inkl-style chrome and photo credits are dropped, the article text stays."""
        text = ("Get all your news in one place. 100’s of premium titles. One app. Start reading "
                "Hundreds of civilians have had to flee. Houses destroyed (AFP via Getty Images) "
                "Sign up to read this article Already a member? Sign in here")
        assert strip_boilerplate(text) == "Hundreds of civilians have had to flee. Houses destroyed"

    def test_lead_is_first_words(self) -> None:
        """The lead is the first N folded words after boilerplate."""
        assert lead("Read more. One two three four", n_words=3) == "one two three"


def test_title_outlet_suffix_removed() -> None:
    """'... - Reuters' and '... | inkl' suffixes do not count as headline words."""
    assert norm_title("Civilians flee Kherson - Reuters") == "civilians flee kherson"
    assert norm_title("Civilians flee Kherson | inkl") == "civilians flee kherson"


def test_fold_is_nfkc_first_written_out() -> None:
    """`fold` (NFKD first, for speed) gives what the definition written out gives — NFKC, quotes, casefold,
    NFKD, marks dropped, NFC — for every code point of the first three planes, alone, after a letter with a
    mark, and in Cyrillic and Latin text."""
    import unicodedata

    def reference(text: str) -> str:
        text = ascii_quotes(unicodedata.normalize("NFKC", text)).casefold()
        decomposed = unicodedata.normalize("NFKD", text)
        return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))

    chars = [chr(c) for c in range(0x80, 0x30000) if not 0xD800 <= c < 0xE000]
    texts = [*chars, *(f"A{c}\u0301{c}" for c in chars),
             "Херсонська ОВА: примусова евакуація з Олешок, об’єкти пошкоджено", "Kyïv’s ÉVACUATION — “ß”"]
    assert [fold(t) for t in texts] == [reference(t) for t in texts]


def test_words_of_ascii_text_are_those_of_the_word_pattern() -> None:
    """ASCII text is split with a byte translation: the same words as `\\w+`, for every ASCII character."""
    import random
    import re

    rng = random.Random(2)
    ascii_chars = [chr(c) for c in range(128)]
    texts = [*ascii_chars, *("".join(rng.choices(ascii_chars, k=40)) for _ in range(2000))]
    assert [words(t) for t in texts] == [re.findall(r"\w+", t.lower()) for t in texts]


def test_single_spaced_is_split_and_joined() -> None:
    """`single_spaced` returns ASCII text untouched only when splitting and joining it would change nothing."""
    import random

    from pipeline.dedup.normalize import _ODD_SPACE, single_spaced

    ascii_space = [chr(c) for c in range(128) if chr(c).isspace()]
    assert sorted(ascii_space) == sorted([" ", *(s for s in _ODD_SPACE if len(s) == 1)])
    rng = random.Random(5)
    pieces = ["word", "x", "é", "\u00a0", "\u2003", *ascii_space, " ", " ", " "]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))
        assert single_spaced(text) == " ".join(text.split()), repr(text)
