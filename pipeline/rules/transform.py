"""MatchRules: ClusteredStory -> Match for every enabled rule that fires, with its explanation."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import telemetry as t
from pipeline.model import ClusteredStory, Match
from pipeline.rules.match import Matcher, story_text
from pipeline.rules.model import Exclusion, Rule

# The last compiled matcher of this process: a long-lived worker runs one pipeline per cycle and should not
# recompile 10,000 rules each time when they did not change.
_LAST: list[tuple[tuple[tuple[Rule, ...], tuple[Exclusion, ...]], Matcher]] = []


def matcher_for(rules: tuple[Rule, ...], exclusions: tuple[Exclusion, ...] = ()) -> Matcher:
    """The enabled rules compiled into one matcher (reused while the rules stay the same)."""
    key = (rules, exclusions)
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    matcher = Matcher([r for r in rules if r.enabled], exclusions)
    _LAST[:] = [(key, matcher)]
    return matcher


class _MatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, rules: tuple[Rule, ...], exclusions: tuple[Exclusion, ...]) -> None:
        self.rules, self.exclusions = rules, exclusions
        self.matches = Metrics.counter(t.NAMESPACE, t.MATCHES)

    def setup(self) -> None:
        self.matcher = matcher_for(self.rules, self.exclusions)

    def process(self, item: ClusteredStory) -> Iterator[Match]:
        for rule, hits in self.matcher.match(story_text(item.story)):
            self.matches.inc()
            yield Match(rule.id, rule.title, rule.severity, rule.channel, item, hits, rule.updates, rule.realert)


class MatchRules(beam.PTransform):  # type: ignore[misc]
    """Apply the rules loaded for this cycle (the worker reloads them between cycles) and the global
    exclusions, compiled into one matcher."""

    def __init__(self, rules: tuple[Rule, ...], exclusions: tuple[Exclusion, ...] = ()) -> None:
        super().__init__()
        self.rules, self.exclusions = rules, exclusions

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        return items | "Match" >> beam.ParDo(_MatchFn(self.rules, self.exclusions))
