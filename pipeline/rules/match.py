"""Pure rule matching on folded word tokens, so `fleet` never matches `flee` and `Kherson's` matches `Kherson`."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.dedup.normalize import words
from pipeline.model import Hit, Story
from pipeline.rules.model import Rule, Term


def find(term: Term, tokens: Sequence[str]) -> tuple[int, str] | None:
    """First position where `term` occurs as whole words (a `*` term: last word as a prefix)."""
    n = len(term.tokens)
    last = term.tokens[-1]
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n - 1]) != term.tokens[:-1]:
            continue
        tok = tokens[i + n - 1]
        if tok == last or (term.prefix and tok.startswith(last)):
            return i, " ".join(tokens[i : i + n])
    return None


def match_text(rule: Rule, text: str) -> tuple[Hit, ...] | None:
    """Hits explaining why `rule` matches `text`, or None if it does not."""
    tokens = words(text)
    hits: list[Hit] = []
    if rule.places:
        place_hits = [
            Hit("places", p.name, found, pos)
            for p in rule.places
            for t in p.terms
            if (r := find(t, tokens)) is not None
            for pos, found in [r]
        ]
        if not place_hits:
            return None
        hits.append(min(place_hits, key=lambda h: h.position))
    if rule.any:
        any_hits = [Hit("any", t.text, r[1], r[0]) for t in rule.any if (r := find(t, tokens)) is not None]
        if not any_hits:
            return None
        hits.append(min(any_hits, key=lambda h: h.position))
    for t in rule.all:
        r = find(t, tokens)
        if r is None:
            return None
        hits.append(Hit("all", t.text, r[1], r[0]))
    if any(find(t, tokens) is not None for t in rule.none):
        return None
    return tuple(hits)


def story_text(story: Story) -> str:
    """The text rules see: headline and article text."""
    return f"{story.title}\n{story.summary}"


def match_rule(rule: Rule, story: Story) -> tuple[Hit, ...] | None:
    """`match_text` on a story's headline and text."""
    return match_text(rule, story_text(story))
