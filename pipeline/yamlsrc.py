"""Strict YAML reading with line numbers, shared by the rule and worker-config loaders.

PyYAML's `safe_load` forgets where values came from. We compose the node tree instead and read it with a
`Reader` that records every problem as `path:line: message` and keeps going, so a user sees all errors of a
file at once (like pySigma's `collect_errors`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import yaml

from pipeline.errors import Location, Problem

Node = yaml.Node
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """Seconds from '90s', '5m', '2h', '1d' or a number; None if it is none of those."""
    m = _DURATION.match(text.strip())
    return float(m.group(1)) * _UNITS[m.group(2) or "s"] if m else None


class Reader:
    """Reads YAML nodes of one file, collecting problems instead of raising on the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    def report(self) -> list[Problem]:
        """The problems found so far, in file order."""
        return sorted(self.problems, key=lambda p: (p.where.line, p.where.col))

    def where(self, node: Node | None) -> Location:
        if node is None:
            return Location(self.path)
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: Node | None, message: str) -> None:
        self.problems.append(Problem(self.where(node), message))

    def documents(self, text: str) -> list[Node]:
        """All YAML documents of `text`; a syntax error becomes one problem with its line."""
        try:
            return [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = Location(self.path, mark.line + 1, mark.column + 1) if mark is not None else Location(self.path)
            what = e.problem or e.context or "invalid YAML"
            self.problems.append(Problem(where, f"YAML syntax error: {what}; fix the indentation or quoting"))
            return []

    def mapping(
        self, node: Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, tuple[Node, Node]] | None:
        """Keys of a mapping node; unknown, duplicate and missing required keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping (key: value lines), not {_kind(node)}")
            return None
        allowed = list(allowed)
        out: dict[str, tuple[Node, Node]] = {}
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.error(knode, f"{what} has a key that is not a string")
                continue
            if key in out:
                self.error(knode, f"duplicate key '{key}' in {what}; keep one of them")
                continue
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(allowed)}"
                self.error(knode, f"unknown key '{key}' in {what}; {fix}")
                continue
            out[key] = (knode, vnode)
        for key in required:
            if key not in out:
                self.error(node, f"{what} is missing required key '{key}'")
        return out

    def value(self, node: Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def string(self, node: Node, what: str, *, allow_empty: bool = False) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or not isinstance(self.value(node), str):
            self.error(node, f"{what} must be a string, not {_kind(node)}")
            return None
        text = str(self.value(node)).strip()
        if not text and not allow_empty:
            self.error(node, f"{what} must not be empty")
            return None
        return text

    def number(self, node: Node, what: str, *, minimum: float | None = None) -> float | None:
        val = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(val, bool) or not isinstance(val, int | float):
            self.error(node, f"{what} must be a number, not {_kind(node)}")
            return None
        if minimum is not None and val < minimum:
            self.error(node, f"{what} must be at least {minimum}, got {val}")
            return None
        return float(val)

    def duration(self, node: Node, what: str, *, minimum: float = 0.0) -> float | None:
        """Seconds: a number, or a string like '90s', '5m', '2h', '1d'."""
        val = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(val, str):
            m = _DURATION.match(val.strip())
            if not m:
                self.error(node, f"{what} must be a number of seconds or a duration like '90s', '5m', '2h', '1d'; "
                                 f"got '{val}'")
                return None
            val = float(m.group(1)) * _UNITS[m.group(2) or "s"]
        elif isinstance(val, bool) or not isinstance(val, int | float):
            self.error(node, f"{what} must be a number of seconds or a duration like '5m', not {_kind(node)}")
            return None
        if val < minimum:
            self.error(node, f"{what} must be at least {minimum:g} seconds, got {val:g}")
            return None
        return float(val)

    def boolean(self, node: Node, what: str) -> bool | None:
        val = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(val, bool):
            self.error(node, f"{what} must be true or false, not {_kind(node)}")
            return None
        return val

    def choice(self, node: Node, what: str, options: Iterable[str]) -> str | None:
        options = list(options)
        text = self.string(node, what)
        if text is not None and text not in options:
            self.error(node, f"{what} must be one of {', '.join(options)}; got '{text}'")
            return None
        return text

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list (lines starting with '- '), not {_kind(node)}")
            return None
        return list(node.value)

    def strings(self, node: Node, what: str) -> list[tuple[str, Node]]:
        """A list of non-empty strings, each with its node (for later per-item errors)."""
        items = self.sequence(node, what)
        out: list[tuple[str, Node]] = []
        for item in items or []:
            text = self.string(item, f"each entry of {what}")
            if text is not None:
                out.append((text, item))
        return out


def _kind(node: Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    return {"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean", "null": "empty"}.get(
        tag, tag
    )
