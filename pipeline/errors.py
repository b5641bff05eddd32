"""Errors that carry a location, so users see `file:line:col: message` (like pySigma's SigmaError)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a user's file; `line` and `col` are 1-based, 0 when unknown."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.path
        return f"{self.path}:{self.line}:{self.col}" if self.col else f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where it is and one sentence saying what is wrong and how to fix it."""

    where: Location
    message: str

    @classmethod
    def at(cls, path: str, message: str) -> Problem:
        return cls(Location(path), message)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(ValueError):
    """A config or rule file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
