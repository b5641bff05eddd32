"""Watch rules: strict YAML loading with file:line errors, and a pure matcher that explains every hit."""

from pipeline.rules.loader import RuleSet, load_rules
from pipeline.rules.match import match_rule, match_text
from pipeline.rules.model import Rule

__all__ = ["Rule", "RuleSet", "load_rules", "match_rule", "match_text"]
