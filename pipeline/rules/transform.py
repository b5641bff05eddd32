"""MatchRules: ClusteredStory -> Match for every enabled rule that fires, with its explanation."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline import telemetry as t
from pipeline.model import ClusteredStory, Match
from pipeline.rules.match import match_rule
from pipeline.rules.model import Rule


class _MatchFn(beam.DoFn):  # type: ignore[misc]
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self.matches = Metrics.counter(t.NAMESPACE, t.MATCHES)

    def process(self, item: ClusteredStory) -> Iterator[Match]:
        for rule in self.rules:
            hits = match_rule(rule, item.story)
            if hits is not None:
                self.matches.inc()
                yield Match(rule.id, rule.title, rule.severity, rule.channel, item, hits)


class MatchRules(beam.PTransform):  # type: ignore[misc]
    """Apply the rules loaded for this cycle (the worker reloads them before each cycle)."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        super().__init__()
        self.rules = rules

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        return items | "Match" >> beam.ParDo(_MatchFn(self.rules))
