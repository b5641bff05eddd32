"""Load rule files strictly: every problem reported as `path:line:col: message`, all at once, before any job runs.

A file holds one rule (a mapping), a list of rules, or several YAML documents. Schema (the skeleton's files
stay valid):

    id: kherson-evacuation            # required, stable: alerts are keyed on it
    title: Civilians flee Kherson     # required
    description: ...                  # optional
    status: stable                    # experimental | stable | disabled   (default stable)
    severity: urgent                  # flash | urgent | routine           (default routine)
    owner: desk@example.org           # optional
    match:                            # required; at least one of places / any / all
      places:                         # names resolved through the gazetteer (GeoNames alternate names)
        - Kherson
        - {name: Pokrovske, country: UA, admin: "04"}    # homonyms: say which
        - {name: Kherson, aliases: [Херсон*], ignore: [Jerson]}
        - {name: Sector 7, gazetteer: false, aliases: [S7]}   # a place the gazetteer does not know
      any: [evacuat*, flee]           # at least one must occur; words admit their inflections (flee: fled)
      all: []                         # every one must occur
      none: []                        # none may occur
      within: 10                      # optional: a place and a keyword at most 10 words apart
      fuzzy: 90                       # optional: misspelt place names of 6+ letters (rapidfuzz ratio)
      inflections: true               # optional: false = keywords match only as written
    notify: {channel: "#ukraine", realert: 30m, updates: both}   # updates: edit | thread | both
    examples: {match: [...], no_match: [...]}   # checked by `newswatch rules check`

A document `{exclusions: [terms], description: ...}` instead of a rule lists global exclusions: a story with
any of those terms matches no rule.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.dedup.normalize import fold, words
from pipeline.errors import Location, Problem
from pipeline.rules import gazetteer
from pipeline.rules.inflect import cyrillic_forms, forms, is_cyrillic
from pipeline.rules.match import Matcher
from pipeline.rules.model import SEVERITIES, STATUSES, Exclusion, Place, Rule, Term
from pipeline.yamlsrc import Node, Reader

log = logging.getLogger(__name__)

RULE_KEYS = ("id", "title", "description", "status", "severity", "owner", "match", "notify", "examples")
MATCH_KEYS = ("places", "any", "all", "none", "within", "fuzzy", "inflections")
PLACE_KEYS = ("name", "aliases", "country", "admin", "gazetteer", "ignore")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
MIN_PREFIX = 3
UPDATE_MODES = ("both", "edit", "thread")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of a directory and every problem found loading them (empty when all is well). `kept` lists
    the files whose last good version is in use because their current text is broken."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[Problem, ...] = ()
    files: tuple[str, ...] = field(default=())
    exclusions: tuple[Exclusion, ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def matcher(self) -> Matcher:
        """All enabled rules and the global exclusions compiled into one matcher."""
        return Matcher([r for r in self.rules if r.enabled], self.exclusions)


def rule_files(directory: Path) -> list[Path]:
    """`*.yaml` / `*.yml` under `directory`, recursively, in a stable order; hidden files are skipped."""
    return sorted(
        p for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file()
        and not any(s.startswith(".") for s in p.relative_to(directory).parts)
    )


@dataclass(slots=True)
class _File:
    stamp: tuple[int, int]
    rules: list[Rule]
    exclusions: list[Exclusion]
    problems: list[Problem]
    good: bool  # `rules` are from the current text (else: the last good version, or none)


class RuleBook:
    """The rules of a directory as a running worker sees them. `refresh()` re-reads only files whose size or
    mtime changed; a file whose new text is broken keeps its last good version (its problems are reported
    and logged once); a deleted file's rules go away. Cross-file duplicate ids are problems: the first
    definition (in path order) wins."""

    def __init__(self, directory: str | Path, log_errors: bool = True) -> None:
        self.directory = Path(directory)
        self.log_errors = log_errors
        self._files: dict[str, _File] = {}
        self.ruleset = RuleSet()
        self.reloads = 0
        self.last_reload = 0.0

    def refresh(self) -> bool:
        """Pick up added, edited and deleted files; True when the effective rules changed."""
        if not self.directory.is_dir():
            problem = Problem(Location(str(self.directory)), "rules directory not found; create it or fix the path")
            changed = bool(self.ruleset.rules)
            self._files.clear()
            self.ruleset = RuleSet(problems=(problem,))
            return changed
        paths = [str(p) for p in rule_files(self.directory)]
        dirty = False
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            dirty = True
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            old = self._files.get(path)
            if old is not None and old.stamp == stamp:
                continue
            dirty = True
            rules, exclusions, problems = load_file(Path(path))
            if not problems:
                self._files[path] = _File(stamp, rules, exclusions, [], True)
            else:
                kept = old.rules if old else []
                self._files[path] = _File(stamp, kept, old.exclusions if old else [], problems, False)
                if self.log_errors:
                    log.error("%s has errors; %s:\n%s", path,
                              f"keeping its last good version ({len(kept)} rule(s))" if old
                              else "its rules are not loaded", "\n".join(str(p) for p in problems))
        if not dirty:
            return False
        before = self.ruleset.rules, self.ruleset.exclusions
        self.ruleset = self._merge(paths)
        self.reloads += 1
        self.last_reload = time.time()
        return (self.ruleset.rules, self.ruleset.exclusions) != before

    def _merge(self, paths: list[str]) -> RuleSet:
        rules: list[Rule] = []
        problems: list[Problem] = []
        exclusions: list[Exclusion] = []
        first: dict[str, Rule] = {}
        for path in paths:
            f = self._files.get(path)
            if f is None:
                continue
            problems += f.problems
            exclusions += f.exclusions
            for rule in f.rules:
                if rule.id in first:
                    problems.append(Problem(rule.where, f"duplicate rule id '{rule.id}' (first defined at "
                                                        f"{first[rule.id].where}); give each rule its own id"))
                    continue
                first[rule.id] = rule
                rules.append(rule)
        kept = tuple(p for p in paths if p in self._files and not self._files[p].good)
        return RuleSet(tuple(rules), tuple(problems), tuple(paths), tuple(exclusions), kept)

    def status(self) -> dict[str, object]:
        """For logs and metrics: counts, the last reload time, and the current problems."""
        rs = self.ruleset
        return {"ok": rs.ok, "rules": len(rs.rules), "files": len(rs.files), "exclusions": len(rs.exclusions),
                "reloads": self.reloads, "last_reload": self.last_reload, "kept_last_good": list(rs.kept),
                "problems": [str(p) for p in rs.problems]}


def load_rules(directory: str | Path) -> RuleSet:
    """Load and validate every rule file in `directory`; cross-file checks (duplicate ids) included."""
    book = RuleBook(directory, log_errors=False)
    book.refresh()
    return book.ruleset


def load_file(path: Path) -> tuple[list[Rule], list[Exclusion], list[Problem]]:
    """Rules and exclusions of one file, and its problems; a file with any problem contributes nothing."""
    reader = Reader(str(path))
    try:
        raw = path.read_bytes()
    except OSError as e:
        return [], [], [Problem(Location(str(path)), f"cannot read rule file: {e.strerror or e}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = raw[: e.start].count(b"\n") + 1, e.start - raw.rfind(b"\n", 0, e.start)
        return [], [], [Problem(Location(str(path), line, col), f"not UTF-8 (byte 0x{raw[e.start]:02x}); save the "
                                                                "file as UTF-8")]
    rules: list[Rule] = []
    exclusions: list[Exclusion] = []
    docs = reader.documents(text)
    if not docs and not reader.problems:
        reader.error(None, "file has no rules; add one or delete the file")
    for doc in docs:
        nodes = doc.value if isinstance(doc, yaml.SequenceNode) else [doc]
        for node in nodes:
            if isinstance(node, yaml.MappingNode) and any(k.value == "exclusions" for k, _ in node.value):
                exclusions += _exclusions(reader, node)
                continue
            rule = _rule(reader, node)
            if rule is not None:
                rules.append(rule)
    if reader.problems:
        return [], [], reader.report()
    return rules, exclusions, []


def _exclusions(r: Reader, node: Node) -> list[Exclusion]:
    keys = r.mapping(node, "an exclusions document", ("exclusions", "description")) or {}
    if "description" in keys:
        r.string(keys["description"][1], "'description'")
    out = []
    for text, n in r.strings(keys["exclusions"][1], "'exclusions'") if "exclusions" in keys else []:
        term = _term(r, text, n)
        if term is not None:
            out.append(Exclusion(term, r.where(n)))
    return out


def _rule(r: Reader, node: Node) -> Rule | None:
    keys = r.mapping(node, "a rule", RULE_KEYS, required=("id", "title", "match"))
    if keys is None:
        return None
    before = len(r.problems)
    rid = r.string(keys["id"][1], "'id'") if "id" in keys else None
    if rid is not None and not ID_RE.match(rid):
        r.error(keys["id"][1], f"'id' must be lowercase letters, digits, '.', '_' or '-' (max 80), got '{rid}'")
    title = r.string(keys["title"][1], "'title'") if "title" in keys else None
    if "description" in keys:
        r.string(keys["description"][1], "'description'")
    status = r.choice(keys["status"][1], "'status'", STATUSES) if "status" in keys else "stable"
    severity = r.choice(keys["severity"][1], "'severity'", SEVERITIES) if "severity" in keys else "routine"
    owner = (r.string(keys["owner"][1], "'owner'") or "") if "owner" in keys else ""
    channel, realert, updates = "", 0.0, "both"
    if "notify" in keys:
        notify = r.mapping(keys["notify"][1], "'notify'", ("channel", "realert", "updates"))
        if notify and "channel" in notify:
            channel = r.string(notify["channel"][1], "'notify.channel'") or ""
        if notify and "realert" in notify:
            realert = r.duration(notify["realert"][1], "'notify.realert'") or 0.0
        if notify and "updates" in notify:
            updates = r.choice(notify["updates"][1], "'notify.updates'", UPDATE_MODES) or "both"
    places: tuple[Place, ...] = ()
    clauses: dict[str, tuple[Term, ...]] = {k: () for k in ("any", "all", "none")}
    within, fuzzy, inflect = 0, 0.0, True
    if "match" in keys:
        m = r.mapping(keys["match"][1], "'match'", MATCH_KEYS)
        if m is not None:
            if "inflections" in m:
                inflect = r.boolean(m["inflections"][1], "'match.inflections'") is not False
            if "places" in m:
                places = tuple(p for p in (_place(r, n) for n in r.sequence(m["places"][1], "'places'") or []) if p)
            for clause in clauses:
                if clause in m:
                    clauses[clause] = tuple(
                        t for text, n in r.strings(m[clause][1], f"'{clause}'") if (t := _term(r, text, n, inflect))
                    )
            if "within" in m:
                within = int(r.number(m["within"][1], "'match.within'", minimum=1) or 0)
                if within and not (places and (clauses["any"] or clauses["all"])):
                    r.error(m["within"][0], "'within' needs 'places' and 'any' or 'all': it bounds the words "
                                            "between a place and a keyword")
            if "fuzzy" in m:
                fuzzy = r.number(m["fuzzy"][1], "'match.fuzzy'", minimum=70) or 0.0
                if fuzzy > 100:
                    r.error(m["fuzzy"][1], f"'match.fuzzy' is a similarity from 70 to 100, got {fuzzy:g}")
            if not (places or clauses["any"] or clauses["all"]) and len(r.problems) == before:
                r.error(keys["match"][1], "'match' needs at least one of 'places', 'any' or 'all'; "
                                          "a rule that matches everything is not a watch rule")
    ex_match: list[tuple[str, Location]] = []
    ex_no: list[tuple[str, Location]] = []
    if "examples" in keys:
        ex = r.mapping(keys["examples"][1], "'examples'", ("match", "no_match"))
        for key, out in (("match", ex_match), ("no_match", ex_no)):
            if ex and key in ex:
                out.extend((text, r.where(n)) for text, n in r.strings(ex[key][1], f"'examples.{key}'"))
    if len(r.problems) > before or rid is None or title is None or status is None or severity is None:
        return None
    return Rule(rid, title, status, severity, owner, channel, places, clauses["any"], clauses["all"],
                clauses["none"], tuple(ex_match), tuple(ex_no), r.where(node), within, fuzzy, realert, updates)


def _place(r: Reader, node: Node) -> Place | None:
    """A place: its gazetteer names (unless `gazetteer: false`) plus the user's aliases, minus `ignore`."""
    if isinstance(node, yaml.ScalarNode):
        keys: dict[str, tuple[Node, Node]] = {"name": (node, node)}
    else:
        keys = r.mapping(node, "a place", PLACE_KEYS, required=("name",)) or {}
    if "name" not in keys:
        return None
    before = len(r.problems)
    name = r.string(keys["name"][1], "a place name" if keys["name"][0] is node else "'name' of a place")
    if name is None:
        return None
    country = (r.string(keys["country"][1], f"'country' of place '{name}'") or "") if "country" in keys else ""
    if country and not COUNTRY_RE.match(country):
        r.error(keys["country"][1], f"'country' of place '{name}' must be a two-letter ISO code like UA, got "
                                    f"'{country}'")
    admin = (r.string(keys["admin"][1], f"'admin' of place '{name}'") or "") if "admin" in keys else ""
    use_gazetteer = True
    if "gazetteer" in keys:
        use_gazetteer = r.boolean(keys["gazetteer"][1], f"'gazetteer' of place '{name}'") is not False
    aliases = r.strings(keys["aliases"][1], f"'aliases' of place '{name}'") if "aliases" in keys else []
    alias_terms = [t for text, n in aliases if (t := _place_term(r, text, n, "alias")) is not None]
    ignored = r.strings(keys["ignore"][1], f"'ignore' of place '{name}'") if "ignore" in keys else []
    ignore = {fold(t) for t, _ in ignored}
    if len(r.problems) > before:
        return None
    terms: list[Term] = []
    geonameid = 0
    if use_gazetteer:
        place = _resolve(r, keys["name"][1], name, country, admin)
        if place is None:
            return None
        geonameid = place.geonameid
        for geo_name in place.names:
            via = "" if fold(geo_name) == fold(name) else "gazetteer"
            if fold(geo_name) not in ignore and (t := _place_term(r, geo_name, keys["name"][1], via)):
                terms.append(t)
    elif (t := _place_term(r, name, keys["name"][1], "")) is not None:
        terms.append(t)
    terms += alias_terms
    unique = tuple({(t.tokens, t.prefix): t for t in reversed(terms)}.values())[::-1]  # aliases win ties
    if len(r.problems) > before:
        return None
    return Place(name, unique, geonameid)


def _resolve(r: Reader, node: Node, name: str, country: str, admin: str) -> gazetteer.GeoPlace | None:
    place, why = gazetteer.resolve(name, country, admin)
    if place is None:
        if gazetteer.lookup(name, country, admin):  # a homonym: the message says which ones
            r.error(node, why)
        else:
            hint = gazetteer.suggest(name)
            fix = f"did you mean '{hint}'? " if hint else ""
            r.error(node, f"{why}; {fix}check the spelling, add 'country'/'admin', or write 'gazetteer: false' "
                          "and list its names under 'aliases'")
    return place


def _place_term(r: Reader, text: str, node: Node, via: str) -> Term | None:
    """A place name: matched whole; a Cyrillic name also in its case forms (Херсон -> Херсоні)."""
    term = _term(r, text, node, inflect=False)
    if term is None:
        return None
    last = term.tokens[-1]
    declined = cyrillic_forms(last) if not term.prefix and is_cyrillic(last) else ()
    label = f"{via}: {text}" if via == "gazetteer" else via
    return Term(term.text, term.tokens, term.prefix, declined, label, proper=True)


def _term(r: Reader, text: str, node: Node, inflect: bool = True) -> Term | None:
    """Compile a keyword: folded words; `*` allowed only at the very end, after at least 3 letters; without a
    `*`, the last word admits its inflections (unless `inflect` is off)."""
    prefix = text.endswith("*")
    body = text[:-1] if prefix else text
    if "*" in body:
        r.error(node, f"'{text}': '*' is only allowed at the end of a term (like 'evacuat*')")
        return None
    toks = tuple(words(body))
    if not toks:
        r.error(node, f"'{text}' has no letters or digits to match")
        return None
    if prefix and (len(toks[-1]) < MIN_PREFIX or not body[-1:].isalnum()):
        r.error(node, f"'{text}': a wildcard needs at least {MIN_PREFIX} letters before '*' "
                      "(shorter prefixes match almost anything)")
        return None
    inflected = tuple(dict.fromkeys(fold(f) for f in forms(toks[-1]))) if inflect and not prefix else ()
    return Term(text, toks, prefix, inflected if len(inflected) > 1 else ())


def check_examples(rule: Rule, exclusions: tuple[Exclusion, ...] = ()) -> list[Problem]:
    """Each `examples.match` text must match the rule and each `examples.no_match` text must not (with the
    global exclusions applied, as in production)."""
    matcher = Matcher([rule], exclusions)
    problems = []
    for text, where in rule.examples_match:
        verdict = matcher.verdicts(text)[0]
        if verdict.hits is None:
            problems.append(Problem(where, f"rule '{rule.id}': example should match but does not "
                                           f"({verdict.why_not}): {text!r}"))
    for text, where in rule.examples_no_match:
        hits = matcher.verdicts(text)[0].hits
        if hits is not None:
            why = "; ".join(h.explain() for h in hits)
            problems.append(Problem(where, f"rule '{rule.id}': example should not match but does ({why}): {text!r}"))
    return problems
