"""Rule matching semantics and strict loading with exact file:line error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.rules.loader import check_examples, load_rules
from pipeline.rules.match import match_text

DATA = Path(__file__).resolve().parents[1] / "data"
INVALID = DATA / "rules_invalid"

RULE = """\
id: t
title: T
match:
  places:
    - name: Kherson
      aliases: [Cherson, "Херсон*"]
  any: [evacuat*, flee, flees, fled]
  none: [drill]
"""


@pytest.fixture(name="rule")
def _rule(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A compiled test rule."""
    (tmp_path / "r.yaml").write_text(RULE, encoding="utf-8")
    loaded = load_rules(tmp_path)
    assert loaded.ok, loaded.problems
    return loaded.rules[0]


@pytest.mark.parametrize(("text", "fires"), [
    ("Hundreds of civilians flee Kherson", True),
    ("Kherson's residents evacuated overnight", True),
    ("У Херсоні: civilians fled", True),
    ("CHERSON — people FLEE", True),
    ("Black Sea Fleet near Kherson", False),          # fleet is not flee
    ("Texas activist flees the state", False),         # no place
    ("Kherson evacuation drill held", False),          # excluded by none
    ("Khersonesos ruins evacuated", False),            # place is a whole word, not a prefix
])
def test_matching(rule, text: str, fires: bool) -> None:  # type: ignore[no-untyped-def]
    """Words match whole (with `*` for endings); places need a place name; `none` vetoes."""
    assert (match_text(rule, text) is not None) is fires


def test_explanation_names_clause_term_and_text(rule) -> None:  # type: ignore[no-untyped-def]
    """A match says which clause, which rule term and what text fired."""
    hits = match_text(rule, "Residents of Херсоні were evacuated")
    assert hits is not None
    assert [(h.clause, h.term, h.found) for h in hits] == [("places", "Kherson", "херсоні"),
                                                           ("any", "evacuat*", "evacuated")]


EXPECTED = {
    "unknown-key.yaml": ["unknown-key.yaml:4:3: unknown key 'plcaes' in 'match'; did you mean 'places'?"],
    "missing-id.yaml": ["missing-id.yaml:1:1: a rule is missing required key 'id'"],
    "bad-wildcard.yaml": ["bad-wildcard.yaml:5:7: 'ev*cuat': '*' is only allowed at the end of a term "
                          "(like 'evacuat*')"],
    "short-wildcard.yaml": ["short-wildcard.yaml:5:7: 'ev*': a wildcard needs at least 3 letters before '*' "
                            "(shorter prefixes match almost anything)"],
    "empty-match.yaml": ["empty-match.yaml:3:8: 'match' needs at least one of 'places', 'any' or 'all'; "
                         "a rule that matches everything is not a watch rule"],
    "bad-severity.yaml": ["bad-severity.yaml:3:11: 'severity' must be one of flash, urgent, routine; got 'high'"],
    "syntax-error.yaml": ["syntax-error.yaml:4:1: YAML syntax error: found character '\\t' that cannot start "
                          "any token; fix the indentation or quoting"],
    "wrong-type.yaml": ["wrong-type.yaml:4:8: 'any' must be a list (lines starting with '- '), not a string"],
    "unknown-place.yaml": ["unknown-place.yaml:4:12: place 'Khersn' is not in the gazetteer (GeoNames towns of 5,000+ "
                           "people); did you mean 'Kherson'? check the spelling, add 'country'/'admin', or write "
                           "'gazetteer: false' and list its names under 'aliases'"],
    "ambiguous-place.yaml": ["ambiguous-place.yaml:5:7: place 'Springfield' is ambiguous: 12 places in the gazetteer "
                             "(the biggest: Springfield (US, admin MO, population 170,188); Springfield (US, admin MA, "
                             "population 154,341); Springfield (US, admin IL, population 114,394)); add 'country' and, "
                             "if needed, 'admin' to say which"],
    "bad-country.yaml": ["bad-country.yaml:5:32: 'country' of place 'Kherson' must be a two-letter ISO code like UA, "
                         "got 'Ukraine'"],
    "within-without-keywords.yaml": ["within-without-keywords.yaml:5:3: 'within' needs 'places' and 'any' or 'all': "
                                     "it bounds the words between a place and a keyword"],
    "fuzzy-range.yaml": ["fuzzy-range.yaml:6:10: 'match.fuzzy' is a similarity from 70 to 100, got 150"],
    "bad-exclusion.yaml": ["bad-exclusion.yaml:2:14: 'sp*': a wildcard needs at least 3 letters before '*' "
                           "(shorter prefixes match almost anything)",
                           "bad-exclusion.yaml:3:1: unknown key 'scope' in an exclusions document; allowed keys: "
                           "exclusions, description"],
    "bad-realert.yaml": ["bad-realert.yaml:6:12: 'notify.realert' must be a number of seconds or a duration like "
                         "'90s', '5m', '2h', '1d'; got 'soon'"],
    "same-id-twice.yaml": ["same-id-twice.yaml:4:3: duplicate rule id 'twin' (first defined at "
                           "same-id-twice.yaml:1:3); give each rule its own id"],
    "gazetteer-off-no-names.yaml": ["gazetteer-off-no-names.yaml:6:18: 'gazetteer' of place 'Sector 7' must be true or "
                                    "false, not a string",
                                    "gazetteer-off-no-names.yaml:7:17: '*' has no letters or digits to match"],
    "bad-id.yaml": ["bad-id.yaml:1:5: 'id' must be lowercase letters, digits, '.', '_' or '-' (max 80), got "
                    "'Kherson Evacuation!'"],
    "empty-file.yaml": ["empty-file.yaml: file has no rules; add one or delete the file"],
    "duplicate-key.yaml": ["duplicate-key.yaml:3:1: duplicate key 'title' in a rule; keep one of them"],
    "not-utf8.yaml": ["not-utf8.yaml:2:8: not UTF-8 (byte 0xff); save the file as UTF-8"],
    "not-a-mapping.yaml": ["not-a-mapping.yaml:1:3: a rule must be a mapping (key: value lines), not a string"],
    "bad-types.yaml": ["bad-types.yaml:6:11: 'match.within' must be a number, not a string",
                       "bad-types.yaml:7:16: 'match.inflections' must be true or false, not a string"],
    "two-errors.yaml": ["two-errors.yaml:1:1: a rule is missing required key 'title'",
                        "two-errors.yaml:2:1: unknown key 'titel' in a rule; did you mean 'title'?",
                        "two-errors.yaml:5:9: 'status' must be one of experimental, stable, disabled; got 'live'"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_rule_messages(tmp_path: Path, name: str) -> None:
    """Each invalid fixture gives exactly its documented message(s), all at once, with file:line:col."""
    (tmp_path / name).write_bytes((INVALID / name).read_bytes())
    loaded = load_rules(tmp_path)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in loaded.problems] == EXPECTED[name]
    # A broken file contributes no rules; of two rules with one id, the first definition stays.
    assert [r.title for r in loaded.rules] == (["First"] if name == "same-id-twice.yaml" else [])


def test_every_fixture_has_an_expectation() -> None:
    """No invalid-rule fixture goes untested."""
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(EXPECTED)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    """Two files with one id: the second is reported, pointing at the first."""
    (tmp_path / "a.yaml").write_text(RULE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(RULE, encoding="utf-8")
    loaded = load_rules(tmp_path)
    assert [str(p) for p in loaded.problems] == [
        f"{tmp_path}/b.yaml:1:1: duplicate rule id 't' (first defined at {tmp_path}/a.yaml:1:1); "
        "give each rule its own id"
    ]


def test_failing_example_is_reported_with_line(tmp_path: Path) -> None:
    """An example that does not behave as declared is a problem at the example's line."""
    (tmp_path / "r.yaml").write_text(RULE + "examples:\n  no_match:\n    - Civilians flee Kherson\n", encoding="utf-8")
    rule = load_rules(tmp_path).rules[0]
    assert [str(p) for p in check_examples(rule)] == [
        f"{tmp_path}/r.yaml:11:7: rule 't': example should not match but does (places 'Kherson' hit 'kherson' "
        "at word 3; any 'flee' hit 'flee' at word 2): 'Civilians flee Kherson'"
    ]


def test_repository_rules_are_valid_and_examples_pass(repo: Path) -> None:
    """The shipped rules/ load cleanly and every example behaves as declared (the CI gate for rule edits)."""
    loaded = load_rules(repo / "rules")
    assert loaded.ok, [str(p) for p in loaded.problems]
    assert {r.id for r in loaded.rules} >= {"kherson-evacuation"}
    assert [str(p) for r in loaded.rules for p in check_examples(r, loaded.exclusions)] == []
