"""Every boilerplate pattern, with an example of what it removes, and what it must leave alone."""

from __future__ import annotations

import pytest

from pipeline.dedup.normalize import ANCHOR_OF, ANCHORS, BOILERPLATE, EDGES, lead, strip_boilerplate

LEAD = "Hundreds of civilians have had to flee Kherson."

# pattern index -> text around LEAD that the pattern (alone) must reduce to LEAD
EXAMPLES: dict[int, str] = {
    0: "Get all your news in one place. {}", 1: "100’s of premium titles. {}", 2: "One app. One membership. {}",
    3: "Start reading {}", 4: "{} Sign up to read this article", 5: "{} Read news from 100's of titles, curated "
    "specifically for you.", 6: "{} Already a member? Sign in here", 7: "{} Related Stories",
    8: "{} Top stories on inkl right now", 9: "{} One subscription that gives you access to news from hundreds "
    "of sites", 10: "{} Our Picks", 11: "{} Fourteen days free", 12: "{} Download the app",
    13: "{} 100+ trusted global sources.", 14: "{} Read more »", 15: "{} Continue reading...",
    16: "{} Click here to read more...", 17: "{} The post Civilians flee appeared first on Example News.",
    18: "{} (Photo: Reuters/Alina Smutko)", 19: "{} (AFP via Getty Images)", 20: "{} (AFP)",
}
EDGE_EXAMPLES = {
    0: ["KYIV (Reuters) - {}", "KYIV, Jan 5 (Reuters) - {}", "NEW YORK -- {}", "Kyiv (AFP) — {}"],
    1: ["By Chris Hughes - {}", "By Jane Doe, Staff Writer - {}"],
    2: ["{} - Reuters", "{} — AP"],
}


def test_every_pattern_has_an_example() -> None:
    """Adding a pattern means adding its example here."""
    assert sorted(EXAMPLES) == list(range(len(BOILERPLATE)))
    assert sorted(EDGE_EXAMPLES) == list(range(len(EDGES)))


def test_closing_edges_hold_a_dash() -> None:
    """A closing edge (anchored at the end) is looked for only in text ends holding a dash (`_strip_edges`), so each
    must match one: a new closing edge without a dash needs that shortcut changed."""
    closing = [p for p in EDGES if p.endswith("$")]
    assert closing and all("[-–—]" in p and "[-–—]?" not in p and "[-–—]*" not in p for p in closing)


@pytest.mark.parametrize("index", sorted(EXAMPLES))
def test_pattern_removes_its_example(index: int) -> None:
    """Each chrome/credit pattern strips its example down to the article text."""
    assert strip_boilerplate(EXAMPLES[index].format(LEAD)) == LEAD, BOILERPLATE[index]


@pytest.mark.parametrize(("index", "text"), [(i, t) for i, ts in EDGE_EXAMPLES.items() for t in ts])
def test_edge_pattern_removes_its_example(index: int, text: str) -> None:
    """Datelines, bylines and agency credits at the edges of the text go."""
    assert strip_boilerplate(text.format(LEAD)) == LEAD, EDGES[index]


@pytest.mark.parametrize("text", [
    "Hundreds of civilians have had to flee - and more will follow.",
    "The AP reported that hundreds of civilians have had to flee.",
    "Ukraine - Russia talks resume in Istanbul.",
    "By the end of the week hundreds of civilians had fled.",
    "Download the phone app to spread more news of the four picks.",  # chrome phrases inside words
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    """Sentences that merely look like datelines, bylines or credits are kept."""
    assert strip_boilerplate(text) == text


def test_seed_story_chrome_is_gone() -> None:
    """The aggregator copy of the seed story leads with the article, not with inkl's chrome."""
    inkl = ("Get all your news in one place. 100’s of premium titles. One app. Start reading Daily Mirror World "
            "Chris Hughes Hundreds of civilians have had to flee key Ukrainian city Kherson")
    assert lead(inkl).startswith("daily mirror world chris hughes hundreds of civilians")


def test_user_patterns_extend_the_list() -> None:
    """Patterns from the worker config are removed too, case-insensitively."""
    from pipeline.dedup.normalize import compile_extra

    extra = compile_extra(("subscribe to our newsletter", r"\(with reporting by [^)]*\)"))
    text = f"{LEAD} Subscribe to our newsletter (With reporting by J. Doe)"
    assert strip_boilerplate(text) != LEAD
    assert strip_boilerplate(text, extra) == LEAD


@pytest.mark.parametrize("chrome", ["Get all your news in one place. 100's of premium titles. Start reading",
                                    "Related Stories"])
@pytest.mark.parametrize("edge", ["KYIV (Reuters) - {}", "By Jane Doe, Staff Writer - {}"])
def test_dateline_or_byline_behind_chrome_is_removed(chrome: str, edge: str) -> None:
    """Aggregator chrome in front of a dateline or byline: both go, so the copy's lead starts where the
    original's does."""
    assert strip_boilerplate(f"{chrome} {edge.format(LEAD)}") == LEAD


def test_lead_of_a_long_text_is_that_of_the_whole_text() -> None:
    """`lead` strips only the opening of a long text: the words are those of the whole text stripped, however
    the chrome, datelines, credits, blank and punctuation runs fall around the opening's cut (random texts of
    1,200-4,000 characters, leads up to longer than the opening)."""
    import random

    from pipeline.dedup.normalize import OPENING, words

    rng = random.Random(7)
    chrome = [EXAMPLES[i].replace("{}", "").strip() for i in sorted(EXAMPLES)]
    filler = ["civilians", "flee", "Kherson", "read", "more", "the", "post", "Kyiv’s", "“shelling”", "AP", "app",
              "By", "Jane", "Doe", "-", "—", "KYIV", "(Reuters)", "İstanbul", "day,", "city."]
    odd = ["\n\n   ", " »»» ", " ... ", "\t"]
    fast = 0
    for case in range(600):
        pieces = [rng.choice(["", "By Jane Doe - KYIV (Reuters) - ", "Start reading KYIV (Reuters) - "])]
        size = rng.randrange(1200, 4000)
        while sum(map(len, pieces)) < size:
            r = rng.random()
            pieces.append(rng.choice(chrome) if r < 0.08 else rng.choice(odd) if r < 0.12 else rng.choice(filler))
            pieces.append(" ")
        pieces.append(rng.choice(["", " - Reuters", " Read more »"]))
        text = "".join(pieces)
        n = rng.choice([10, 60, 60, rng.randrange(100, 300)])
        expected = " ".join(words(strip_boilerplate(text))[:n])
        assert lead(text, n_words=n) == expected, (case, n)
        fast += len(text) > OPENING and len(words(strip_boilerplate(text[:OPENING], start_only=True)[:-500])) > n
    assert fast > 300  # most leads come from the opening alone: that path is the one exercised
    # Chrome across the opening's cut ("... read | more »"), and leads reaching close to it.
    for phrase in [*chrome, "The post " + "x " * 90 + "appeared first on Example News."]:
        for shift in range(-len(phrase), 1, 3):
            head = " ".join(rng.choice(filler[:3]) for _ in range(OPENING // 6))
            head = head[: OPENING + shift].rsplit(" ", 1)[0]
            text = f"{head} {phrase} " + " ".join(rng.choice(filler[:3]) for _ in range(300))
            whole = words(strip_boilerplate(text))
            for n in range(len(whole[:len(words(head))]) - 3, len(words(head)) + 3):
                assert lead(text, n_words=n) == " ".join(whole[:n]), (phrase, shift, n)
    # A byline before a dateline, with chrome only far beyond the opening: the dateline goes all the same.
    plain = " ".join(rng.choice(filler[:3]) for _ in range(700))
    text = f"By Jane Doe | NEW YORK -- {plain} Sign up to read this article"
    assert lead(text, n_words=3) == " ".join(words(strip_boilerplate(text))[:3]) == " ".join(words(plain)[:3])


def test_chrome_is_found_as_the_one_pattern_finds_it() -> None:
    """Text holding none of `ANCHORS` is not scanned, and non-ASCII text is searched without the look-behind,
    which is checked after: the same matches as the one pattern, chrome glued to words included ("xread more",
    "йread more" and "read moreй")."""
    import random
    import re
    from collections.abc import Iterable

    from pipeline.dedup.normalize import _BOILERPLATE_RE, _boilerplate_in

    rng = random.Random(3)
    chrome = [EXAMPLES[i].replace("{}", "").strip().lower() for i in sorted(EXAMPLES)]
    filler = ["херсон", "евакуація", "й", "x", "2", "(", "app", "one", "read", "the post", "»", "’"]

    def spans(ms: Iterable[re.Match[str]]) -> list[tuple[int, int]]:
        return [m.span() for m in ms]

    ascii_filler = [w for w in filler if w.isascii()] + ["news", "your", "up", "sign", "ing", "titles"]
    for n in range(6000):  # half in ASCII text (scanned with the look-behind), half not
        pieces, glue = (filler, ["", " ", "", "й"]) if n % 2 else (ascii_filler, ["", " ", "", "x"])
        low = "".join(rng.choice(chrome if rng.random() < 0.3 else pieces) + rng.choice(glue)
                      for _ in range(rng.randrange(1, 12)))
        assert spans(_boilerplate_in(low)) == spans(_BOILERPLATE_RE.finditer(low)), low
    assert spans(_boilerplate_in("йread more")) == [(1, 10)] and not spans(_boilerplate_in("xread more й"))


def _required_runs(pattern: str) -> list[str]:
    """The runs of characters every match of `pattern` contains: its top-level literals in a row (an optional,
    repeated or alternative part ends a run)."""
    try:  # (private: a test may lean on it)
        from re import _parser  # type: ignore[attr-defined]
    except ImportError:  # Python 3.10
        import sre_parse as _parser

    runs, run = [], ""
    for op, arg in _parser.parse(pattern):
        if op == _parser.LITERAL:
            run += chr(arg)
        else:
            runs.append(run)
            run = ""
    return [r for r in [*runs, run] if r]


@pytest.mark.parametrize(("pattern", "anchor"), list(zip(BOILERPLATE, ANCHOR_OF, strict=True)))
def test_every_pattern_has_an_anchor_its_matches_contain(pattern: str, anchor: str) -> None:
    """A text is scanned only for the patterns whose anchor (`ANCHOR_OF`) it holds: each pattern's every match must
    contain its anchor, or text holding the pattern's chrome would not be scanned for it."""
    assert any(anchor in run for run in _required_runs(pattern)), (pattern, anchor)
    assert anchor in ANCHORS


def test_required_runs_are_those_of_the_pattern() -> None:
    assert _required_runs(r"one app\.?( one membership\.?)?") == ["one app"]
    assert _required_runs(r"\((?:afp|reuters)\)") == ["(", ")"]
    assert _required_runs(r"read more\W*") == ["read more"]
