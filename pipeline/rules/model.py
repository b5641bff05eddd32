"""Compiled rules (frozen; built once by the loader, pickled into the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import Location

STATUSES = ("experimental", "stable", "disabled")
SEVERITIES = ("flash", "urgent", "routine")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase as folded tokens. The last token matches as a prefix when `prefix` (`evacuat*`), else
    any of its `forms` (inflections: flee -> flees, fleeing, fled; declensions: Херсон -> Херсоні); no forms
    means the last token exactly. `via` says where a place name came from (alias, gazetteer)."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False
    forms: tuple[str, ...] = ()
    via: str = ""
    proper: bool = False  # a name: its first word must not be written in lower case ("Nice", not "nice day")

    @property
    def last_forms(self) -> tuple[str, ...]:
        return self.forms or self.tokens[-1:]


@dataclass(frozen=True, slots=True)
class Place:
    """A place and the names it goes by (gazetteer names, aliases, transliterations, other scripts)."""

    name: str
    terms: tuple[Term, ...]
    geonameid: int = 0  # 0: not from the gazetteer


@dataclass(frozen=True, slots=True)
class Rule:
    """One watch rule. A story matches when a place (if any are given) and the keyword clauses all hold, no
    `none` term occurs, and (with `within`) a place and a keyword are at most `within` words apart."""

    id: str
    title: str
    status: str
    severity: str
    owner: str
    channel: str
    places: tuple[Place, ...]
    any: tuple[Term, ...]
    all: tuple[Term, ...]
    none: tuple[Term, ...]
    examples_match: tuple[tuple[str, Location], ...]
    examples_no_match: tuple[tuple[str, Location], ...]
    where: Location
    within: int = 0  # 0: anywhere in the story
    fuzzy: float = 0.0  # rapidfuzz ratio for place names of 6+ letters; 0: off
    realert: float = 0.0  # minimum seconds between two messages of one (rule, story cluster)
    updates: str = "both"  # later outlets: "edit" the root message, a "thread" reply, or "both"

    @property
    def enabled(self) -> bool:
        return self.status != "disabled"


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A global exclusion term: a story containing it matches no rule."""

    term: Term
    where: Location
