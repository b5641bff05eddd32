"""Progress for long commands (`backtest`, `cluster`, benchmarks): one line on a terminal, redrawn twice a
second, nothing at all when stderr is not a terminal (pipes and logs stay clean).

Stages running in this process call `advance()`; it is a no-op unless a command opened a `Progress`.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

_ACTIVE: list[Progress] = []


def advance(n: int = 1) -> None:
    """Count `n` units of work done for the open progress line, if any."""
    if _ACTIVE:
        _ACTIVE[-1].done += n


class Progress:
    """`with Progress("clustering", total=N): ...` shows `clustering: 1,200/5,000 (24%, 850/s, 1.4 s)`."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 force: bool = False) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._stop = threading.Event()
        self._started = time.monotonic()

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        rate = f", {self.done / elapsed:,.0f}/s" if elapsed > 0 and self.done else ""
        if self.total:
            return (f"{self.label}: {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f}%{rate}, "
                    f"{elapsed:.1f} s)")
        return f"{self.label}: {self.done:,} ({elapsed:.1f} s{rate})"

    def _draw(self, end: str = "") -> None:
        self.stream.write("\r\x1b[2K" + self.line() + end)
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._draw()

    def __enter__(self) -> Progress:
        _ACTIVE.append(self)
        if self.enabled:
            threading.Thread(target=self._run, name="progress", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        _ACTIVE.remove(self)
        if self.enabled:
            self._draw("\n")
