"""`newswatch rules test`: which stories a rule (or a file of rules) matches and why, and whether its
examples pass. Pure apart from reading the inputs it is given."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import Problem
from pipeline.model import FeedSpec, Story
from pipeline.rules.loader import check_examples, load_file, load_rules
from pipeline.rules.match import Matcher, Verdict, story_text
from pipeline.rules.model import Exclusion, Rule


@dataclass(frozen=True, slots=True)
class Selection:
    """The rules under test and the global exclusions that apply to them."""

    rules: tuple[Rule, ...]
    exclusions: tuple[Exclusion, ...]
    problems: tuple[Problem, ...]


def select(target: str, rules_dir: str) -> Selection:
    """`target` is a rule file (its rules) or a rule id in `rules_dir`; exclusions come from `rules_dir`."""
    loaded = load_rules(rules_dir) if Path(rules_dir).is_dir() else None
    exclusions = loaded.exclusions if loaded else ()
    path = Path(target)
    if path.is_file():
        rules, file_exclusions, problems = load_file(path)
        return Selection(tuple(rules), exclusions + tuple(file_exclusions), tuple(problems))
    if loaded is None:
        return Selection((), (), (Problem.at(rules_dir, f"'{target}' is not a file and the rules directory "
                                                        "does not exist; pass a rule file or --rules DIR"),))
    found = tuple(r for r in loaded.rules if r.id == target)
    if not found:
        ids = ", ".join(r.id for r in loaded.rules) or "none"
        return Selection((), (), (*loaded.problems, Problem.at(rules_dir, f"no rule file or rule id '{target}' "
                                                                         f"(rule ids here: {ids})")))
    return Selection(found, exclusions, ())


def feed_stories(source: str) -> list[Story]:
    """Stories of a feed given as a URL (fetched) or a local file."""
    from pipeline.sources.fetch import Fetcher
    from pipeline.sources.parse import parse_feed

    now = time.time()
    if source.startswith(("http://", "https://")):
        res = Fetcher().fetch(source)
        if res.error:
            raise ValueError(f"{source}: {res.error}")
        body, headers = res.body, res.headers
    else:
        body, headers = Path(source).read_bytes(), {}
    parsed = parse_feed(body, headers, FeedSpec(source, ""), now)
    if parsed.error:
        raise ValueError(f"{source}: {parsed.error}")
    return list(parsed.stories)


def text_stories(texts: list[str]) -> list[Story]:
    from pipeline.testing import make_story

    return [make_story(t, "", "--text", sid=f"text{i + 1}") for i, t in enumerate(texts)]


def run(sel: Selection, stories: list[Story]) -> tuple[list[tuple[Story, list[Verdict]]], list[Problem]]:
    """Each story's verdicts for the selected rules, and the examples that fail."""
    matcher = Matcher(sel.rules, sel.exclusions)
    results = [(s, matcher.verdicts(story_text(s))) for s in stories]
    return results, [p for r in sel.rules for p in check_examples(r, sel.exclusions)]


def report(sel: Selection, results: list[tuple[Story, list[Verdict]]], failures: list[Problem]) -> str:
    """Human-readable: per story, MATCH with the explanation or `no` with the reason, then the examples."""
    lines: list[str] = []
    for story, verdicts in results:
        lines.append(f"{story.title[:100]!r}" + (f"  <{story.link}>" if story.link else ""))
        for v in verdicts:
            if v.hits is not None:
                lines.append(f"  MATCH {v.rule.id}")
                lines += [f"        {h.explain()}" for h in v.hits]
            else:
                lines.append(f"  no    {v.rule.id}: {v.why_not}")
    n_ex = sum(len(r.examples_match) + len(r.examples_no_match) for r in sel.rules)
    matched = sum(1 for _, vs in results if any(v.hits is not None for v in vs))
    lines.append(f"{matched} of {len(results)} stor{'y' if len(results) == 1 else 'ies'} matched; "
                 f"examples: {n_ex - len(failures)} of {n_ex} pass")
    lines += [str(p) for p in failures]
    return "\n".join(lines)
