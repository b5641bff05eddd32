"""Compiled rules (frozen; built once by the loader, pickled into the pipeline)."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import Location

STATUSES = ("experimental", "stable", "disabled")
SEVERITIES = ("flash", "urgent", "routine")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase as folded tokens; `prefix` means the last token ended in `*` (`evacuat*`)."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Place:
    """A place and the names it goes by (aliases, transliterations, other scripts)."""

    name: str
    terms: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """One watch rule. A story matches when a place (if any are given) and the keyword clauses all hold."""

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

    @property
    def enabled(self) -> bool:
        return self.status != "disabled"
