"""Load rule files strictly: every problem reported as `path:line: message`, all at once, before any job runs.

A file holds one rule (a mapping), a list of rules, or several YAML documents. Schema (later issues extend it
without breaking these files):

    id: kherson-evacuation            # required, stable: alerts are keyed on it
    title: Civilians flee Kherson     # required
    status: stable                    # experimental | stable | disabled   (default stable)
    severity: urgent                  # flash | urgent | routine           (default routine)
    owner: desk@example.org           # optional
    match:                            # required; at least one of places / any / all
      places: [Kherson, {name: Kherson, aliases: [Херсон, Cherson]}]
      any: [evacuat*, flee, fled]     # at least one must occur (a trailing * matches word endings)
      all: []                         # every one must occur
      none: []                        # none may occur
    notify: {channel: "#ukraine"}     # optional; default: the worker's channel
    examples: {match: [...], no_match: [...]}   # checked by `newswatch rules check`
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.dedup.normalize import words
from pipeline.errors import Location, Problem
from pipeline.rules.match import match_text
from pipeline.rules.model import SEVERITIES, STATUSES, Place, Rule, Term
from pipeline.yamlsrc import Node, Reader

RULE_KEYS = ("id", "title", "description", "status", "severity", "owner", "match", "notify", "examples")
MATCH_KEYS = ("places", "any", "all", "none")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
MIN_PREFIX = 3


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of a directory and every problem found loading them (empty when all is well)."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[Problem, ...] = ()
    files: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def rule_files(directory: Path) -> list[Path]:
    """`*.yaml` / `*.yml` under `directory`, recursively, in a stable order; hidden files are skipped."""
    return sorted(
        p for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file() and not any(s.startswith(".") for s in p.parts)
    )


def load_rules(directory: str | Path) -> RuleSet:
    """Load and validate every rule file in `directory`; cross-file checks (duplicate ids) included."""
    root = Path(directory)
    if not root.is_dir():
        return RuleSet(problems=(Problem(Location(str(root)), "rules directory not found; create it or fix the path"),))
    rules: list[Rule] = []
    problems: list[Problem] = []
    files = rule_files(root)
    for path in files:
        file_rules, file_problems = load_file(path)
        rules.extend(file_rules)
        problems.extend(file_problems)
    first: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in first:
            problems.append(Problem(rule.where, f"duplicate rule id '{rule.id}' (first defined at "
                                                f"{first[rule.id].where}); give each rule its own id"))
        else:
            first[rule.id] = rule
    return RuleSet(tuple(first.values()), tuple(problems), tuple(str(p) for p in files))


def load_file(path: Path) -> tuple[list[Rule], list[Problem]]:
    """Rules of one file and its problems; a file with any problem contributes no rules."""
    reader = Reader(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(Location(str(path)), f"cannot read rule file: {e}")]
    rules: list[Rule] = []
    docs = reader.documents(text)
    if not docs and not reader.problems:
        reader.error(None, "file has no rules; add one or delete the file")
    for doc in docs:
        nodes = doc.value if isinstance(doc, yaml.SequenceNode) else [doc]
        for node in nodes:
            rule = _rule(reader, node)
            if rule is not None:
                rules.append(rule)
    return (rules if not reader.problems else []), reader.report()


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
    channel = ""
    if "notify" in keys:
        notify = r.mapping(keys["notify"][1], "'notify'", ("channel",))
        if notify and "channel" in notify:
            channel = r.string(notify["channel"][1], "'notify.channel'") or ""
    places: tuple[Place, ...] = ()
    clauses: dict[str, tuple[Term, ...]] = {k: () for k in ("any", "all", "none")}
    if "match" in keys:
        m = r.mapping(keys["match"][1], "'match'", MATCH_KEYS)
        if m is not None:
            if "places" in m:
                places = tuple(p for p in (_place(r, n) for n in r.sequence(m["places"][1], "'places'") or []) if p)
            for clause in clauses:
                if clause in m:
                    clauses[clause] = tuple(
                        t for text, n in r.strings(m[clause][1], f"'{clause}'") if (t := _term(r, text, n))
                    )
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
                clauses["none"], tuple(ex_match), tuple(ex_no), r.where(node))


def _place(r: Reader, node: Node) -> Place | None:
    if isinstance(node, yaml.ScalarNode):
        name = r.string(node, "a place")
        term = _term(r, name, node) if name else None
        return Place(name, (term,)) if name and term else None
    keys = r.mapping(node, "a place", ("name", "aliases"), required=("name",))
    if not keys or "name" not in keys:
        return None
    name = r.string(keys["name"][1], "'name' of a place")
    if name is None:
        return None
    names = [(name, keys["name"][1])]
    if "aliases" in keys:
        names += r.strings(keys["aliases"][1], f"'aliases' of place '{name}'")
    terms = tuple(t for text, n in names if (t := _term(r, text, n)))
    return Place(name, terms) if len(terms) == len(names) else None


def _term(r: Reader, text: str, node: Node) -> Term | None:
    """Compile a keyword: folded words; `*` allowed only at the very end, after at least 3 letters."""
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
    return Term(text, toks, prefix)


def check_examples(rule: Rule) -> list[Problem]:
    """Each `examples.match` text must match the rule and each `examples.no_match` text must not."""
    problems = [
        Problem(where, f"rule '{rule.id}': example should match but does not: {text!r}")
        for text, where in rule.examples_match if match_text(rule, text) is None
    ]
    for text, where in rule.examples_no_match:
        hits = match_text(rule, text)
        if hits is not None:
            why = ", ".join(f"{h.clause} '{h.term}' hit '{h.found}'" for h in hits)
            problems.append(Problem(where, f"rule '{rule.id}': example should not match but does ({why}): {text!r}"))
    return problems
