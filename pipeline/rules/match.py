"""Rule matching on folded word tokens, every rule compiled into one `Matcher`.

Words match whole, so `fleet` never matches `flee` and `Enakievo` never matches `Kiev`; a term's last word
admits its forms (inflections, declensions: see `inflect`) or, written with `*`, any ending. All the terms of
all the rules go into one dictionary keyed by word (and one per wildcard length), so a story costs a lookup
per word, then an evaluation of only the rules whose trigger terms occurred (their places, else their
keywords): the cost does not grow with the number of rules. Every match carries its explanation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from pipeline.dedup.normalize import words
from pipeline.model import Hit, Story
from pipeline.rules.model import Exclusion, Rule, Term

FUZZY_MIN_LETTERS = 6
_CACHE_MAX = 200_000

# (word position, text found, how: "" as written, "*" a wildcard, "~..." a fuzzy match, else the written last
# word, which the found text is a form of)
Occurrence = tuple[int, str, str]


@dataclass(frozen=True, slots=True)
class _Entry:
    """A phrase: after its first two words, the words in `rest`, then a last word in `last` (or starting with
    `prefix`). Two-word phrases without a wildcard are fully decided by their dictionary key."""

    tid: int
    rest: tuple[str, ...]
    last: frozenset[str]
    prefix: str
    written: str  # the last word as written, to tell an inflection from the word itself


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    places: tuple[tuple[str, int, Term], ...]  # (place name, term id, term)
    any: tuple[tuple[int, Term], ...]
    all: tuple[tuple[int, Term], ...]
    none: tuple[tuple[int, Term], ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's outcome on one text: its hits when it matches, else why not."""

    rule: Rule
    hits: tuple[Hit, ...] | None
    why_not: str = ""


def _how(found: str, code: str) -> str:
    if not code:
        return ""
    if code.startswith("~"):
        return code[1:]
    return "wildcard" if code == "*" else ("" if found.rsplit(" ", 1)[-1] == code else f"form of '{code}'")


class Matcher:
    """All rules compiled together (see module doc). `match` returns the rules that fire, with explanations.

    Words: one-word terms by each of their forms (`_single`) or by wildcard prefix (`_prefix`, one table per
    prefix length); phrases by their first two words (`_pairs`, "w1 w2"), or by their first word when the
    second is a wildcard (`_first`). Per distinct word the one-word hits are cached.
    """

    def __init__(self, rules: Iterable[Rule], exclusions: Iterable[Exclusion] = ()) -> None:
        self._ids: dict[tuple[tuple[str, ...], bool, tuple[str, ...], bool], int] = {}
        self._proper: set[int] = set()
        self._single: dict[str, list[tuple[int, str]]] = {}  # form -> (term id, how)
        self._prefix: dict[int, dict[str, list[tuple[int, str]]]] = {}
        self._pairs: dict[str, list[_Entry]] = {}
        self._first: dict[str, list[_Entry]] = {}
        self._starts: set[str] = set()
        self._fuzzy: list[tuple[str, int, float]] = []  # (name, term id, threshold)
        self._cache: dict[str, tuple[tuple[int, str], ...]] = {}
        self._trigger: dict[int, list[int]] = {}
        self.exclusions = tuple((self._term(x.term), x) for x in exclusions)
        self.compiled: list[_Compiled] = []
        for rule in rules:
            self._add(rule)

    # --- compile ---
    def _term(self, term: Term) -> int:
        key = (term.tokens, term.prefix, term.forms, term.proper)
        tid = self._ids.get(key)
        if tid is not None:
            return tid
        tid = self._ids[key] = len(self._ids)
        if term.proper:
            self._proper.add(tid)
        toks = term.tokens
        written = toks[-1]
        if len(toks) == 1:
            if term.prefix:
                self._prefix.setdefault(len(written), {}).setdefault(written, []).append((tid, "*"))
            else:
                for form in term.last_forms:
                    self._single.setdefault(form, []).append((tid, written))
        elif len(toks) == 2 and term.prefix:
            self._first.setdefault(toks[0], []).append(_Entry(tid, (), frozenset(), written, written))
        elif len(toks) == 2:
            for form in term.last_forms:
                self._pairs.setdefault(f"{toks[0]} {form}", []).append(_Entry(tid, (), frozenset(), "", written))
            self._starts.add(toks[0])
        else:
            entry = _Entry(tid, toks[2:-1], frozenset(() if term.prefix else term.last_forms),
                           written if term.prefix else "", written)
            self._pairs.setdefault(f"{toks[0]} {toks[1]}", []).append(entry)
            self._starts.add(toks[0])
        self._cache.clear()
        return tid

    def _add(self, rule: Rule) -> None:
        places = tuple((p.name, self._term(t), t) for p in rule.places for t in p.terms)
        if rule.fuzzy:
            for name, _, t in places:
                if len(t.tokens) == 1 and len(t.tokens[0]) >= FUZZY_MIN_LETTERS and t.tokens[0].isascii():
                    fid = self._ids.setdefault((("~", t.tokens[0]), False, (str(rule.fuzzy),), True), len(self._ids))
                    self._proper.add(fid)
                    self._fuzzy.append((t.tokens[0], fid, rule.fuzzy))
                    places += ((name, fid, Term(t.text, t.tokens, via=f"fuzzy, like '{t.text}'")),)
        c = _Compiled(rule, places, tuple((self._term(t), t) for t in rule.any),
                      tuple((self._term(t), t) for t in rule.all), tuple((self._term(t), t) for t in rule.none))
        idx = len(self.compiled)
        self.compiled.append(c)
        # A rule is looked at only when one of its trigger terms occurs: a place, else a required keyword.
        if c.places:
            trigger = [tid for _, tid, _ in c.places]
        elif c.all:
            trigger = [c.all[0][0]]
        else:
            trigger = [tid for tid, _ in c.any]
        for tid in dict.fromkeys(trigger):
            self._trigger.setdefault(tid, []).append(idx)

    # --- match ---
    def _one_word(self, tok: str) -> tuple[tuple[int, str], ...]:
        if len(self._cache) > _CACHE_MAX:
            self._cache.clear()
        out = list(self._single.get(tok, ()))
        for n, table in self._prefix.items():
            if len(tok) >= n:
                out += table.get(tok[:n], ())
        found = self._cache[tok] = tuple(out)
        return found

    def scan(self, tokens: Sequence[str], lower: Sequence[bool] = ()) -> dict[int, list[Occurrence]]:
        """Term id -> where it occurs in `tokens`, what was found and how. `lower[i]` says the word was written
        in lower case: names (place terms) do not match there."""
        occ = self._scan(tokens)
        if lower and self._proper:
            for tid in self._proper & occ.keys():
                kept = [o for o in occ[tid] if not lower[o[0]]]
                if kept:
                    occ[tid] = kept
                else:
                    del occ[tid]
        return occ

    def _scan(self, tokens: Sequence[str]) -> dict[int, list[Occurrence]]:
        occ: dict[int, list[Occurrence]] = {}
        n = len(tokens)
        cache, starts, pairs, first = self._cache, self._starts, self._pairs, self._first
        for i, tok in enumerate(tokens):
            hits = cache.get(tok)
            if hits is None:
                hits = self._one_word(tok)
            for tid, how in hits:
                occ.setdefault(tid, []).append((i, tok, "" if how == tok else how))
            if tok in starts and i + 1 < n:
                for e in pairs.get(f"{tok} {tokens[i + 1]}", ()):
                    if not e.last and not e.prefix:  # two words, decided by the key
                        occ.setdefault(e.tid, []).append((i, f"{tok} {tokens[i + 1]}", e.written))
                        continue
                    j = i + 2 + len(e.rest)
                    if j < n and tuple(tokens[i + 2 : j]) == e.rest and (
                            tokens[j] in e.last or (e.prefix and tokens[j].startswith(e.prefix))):
                        how = "*" if e.prefix else e.written
                        occ.setdefault(e.tid, []).append((i, " ".join(tokens[i : j + 1]), how))
            if first and i + 1 < n and tok in first:
                for e in first[tok]:
                    if tokens[i + 1].startswith(e.prefix):
                        occ.setdefault(e.tid, []).append((i, f"{tok} {tokens[i + 1]}", "*"))
        if self._fuzzy:
            self._scan_fuzzy(tokens, occ)
        return occ

    def _scan_fuzzy(self, tokens: Sequence[str], occ: dict[int, list[Occurrence]]) -> None:
        names = [name for name, _, _ in self._fuzzy]
        cutoff = min(th for _, _, th in self._fuzzy)
        for i, tok in enumerate(tokens):
            if len(tok) < FUZZY_MIN_LETTERS or not tok.isalpha():
                continue
            for _, score, k in process.extract(tok, names, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None):
                name, fid, th = self._fuzzy[k]
                if score >= th and tok != name:
                    occ.setdefault(fid, []).append((i, tok, f"~fuzzy {score:.0f}"))

    def _evaluate(self, c: _Compiled, occ: dict[int, list[Occurrence]]) -> tuple[tuple[Hit, ...] | None, str]:
        def hits(clause: str, terms: Iterable[tuple[int, Term]], label: str = "") -> list[Hit]:
            return [Hit(clause, label or t.text, found, pos, ", ".join(v for v in (t.via, _how(found, code)) if v))
                    for tid, t in terms for pos, found, code in occ.get(tid, ())]

        rule = c.rule
        place_hits = [h for name, tid, t in c.places for h in hits("places", [(tid, t)], name)]
        if c.places and not place_hits:
            return None, "no place named: " + ", ".join(dict.fromkeys(n for n, _, _ in c.places))
        any_hits = hits("any", c.any)
        if c.any and not any_hits:
            return None, "none of the 'any' keywords occurs: " + ", ".join(t.text for _, t in c.any)
        all_hits = []
        for tid, t in c.all:
            found = hits("all", [(tid, t)])
            if not found:
                return None, f"'all' keyword '{t.text}' does not occur"
            all_hits.append(found)
        for tid, t in c.none:
            for pos, text, _ in occ.get(tid, ()):
                return None, f"vetoed by 'none' keyword '{t.text}' ('{text}' at word {pos + 1})"
        out: list[Hit] = []
        if rule.within and place_hits and (any_hits or all_hits):
            keywords = any_hits + [h for group in all_hits for h in group]
            pairs = [(abs(p.position - k.position), p, k) for p in place_hits for k in keywords]
            gap, p, k = min(pairs, key=lambda x: (x[0], x[1].position))
            if gap > rule.within:
                return None, f"place and keyword are {gap} words apart, more than within: {rule.within}"
            out.append(p)
            any_hits = [k] if k.clause == "any" else any_hits
        elif place_hits:
            out.append(min(place_hits, key=lambda h: h.position))
        if any_hits:
            out.append(min(any_hits, key=lambda h: h.position))
        out += [min(group, key=lambda h: h.position) for group in all_hits]
        return tuple(out), ""

    def _excluded(self, occ: dict[int, list[Occurrence]]) -> str:
        for tid, x in self.exclusions:
            for pos, found, _ in occ.get(tid, ()):
                return f"global exclusion '{x.term.text}' ({x.where}) hit '{found}' at word {pos + 1}"
        return ""

    def match(self, text: str) -> list[tuple[Rule, tuple[Hit, ...]]]:
        """The rules that fire on `text`, each with its hits, in rule order."""
        occ = self.scan(*tokenize(text))
        if self.exclusions and self._excluded(occ):
            return []
        candidates = sorted({i for tid in occ for i in self._trigger.get(tid, ())})
        out = []
        for i in candidates:
            found, _ = self._evaluate(self.compiled[i], occ)
            if found is not None:
                out.append((self.compiled[i].rule, found))
        return out

    def verdicts(self, text: str) -> list[Verdict]:
        """Every rule's outcome on `text`, with the reason when it does not match (for `rules test`)."""
        occ = self.scan(*tokenize(text))
        excluded = self._excluded(occ)
        out = []
        for c in self.compiled:
            found, why = self._evaluate(c, occ)
            if found is not None and excluded:
                found, why = None, excluded
            out.append(Verdict(c.rule, found, why))
        return out


_RAW_WORD = re.compile(r"\w+")


def tokenize(text: str) -> tuple[list[str], list[bool]]:
    """Folded words of `text`, and per word whether it was written in lower case (empty when the two
    tokenizations do not line up, which only odd Unicode causes: then case is not used)."""
    tokens = words(text)
    raw = _RAW_WORD.findall(text)
    return tokens, ([w[0].islower() for w in raw] if len(raw) == len(tokens) else [])


def match_text(rule: Rule, text: str) -> tuple[Hit, ...] | None:
    """Hits explaining why `rule` matches `text`, or None if it does not."""
    found = Matcher([rule]).match(text)
    return found[0][1] if found else None


def story_text(story: Story) -> str:
    """The text rules see: headline and article text."""
    return f"{story.title}\n{story.summary}"


def match_rule(rule: Rule, story: Story) -> tuple[Hit, ...] | None:
    """`match_text` on a story's headline and text."""
    return match_text(rule, story_text(story))
