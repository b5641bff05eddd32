"""Progress lines appear on a terminal and never in a pipe."""

from __future__ import annotations

import io

from pipeline import progress
from pipeline.progress import Progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_final_line_and_pipes_get_nothing() -> None:
    tty, pipe = _Tty(), io.StringIO()
    with Progress("clustering stories", total=4, stream=tty) as bar:
        progress.advance(3)
        bar.done += 1
    assert tty.getvalue().endswith("\n") and "clustering stories: 4/4 (100%" in tty.getvalue()
    with Progress("clustering stories", stream=pipe):
        progress.advance(5)
    assert pipe.getvalue() == ""
    progress.advance()  # no open progress: a no-op
