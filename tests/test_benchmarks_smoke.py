"""Smoke runs of the benchmark scripts (tiny sizes) so they never rot. No speed is asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "benchmarks"


def test_bench_poll_smoke() -> None:
    """bench_poll.py runs both modes end to end and prints its table."""
    res = subprocess.run([sys.executable, str(BENCH / "bench_poll.py"), "--feeds", "60"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    rows = {line.split("  ")[0].strip(): line.split() for line in lines if line.startswith(("conditional", "naive"))}
    cond, naive = rows["conditional"], rows["naive (validators off)"]
    # columns: ... feeds-ok unchanged failed new-items
    assert cond[-4:] == ["60", "57", "0", "3"] and naive[-4:] == ["60", "0", "0", "3"]
    assert lines[-1].startswith("naive / conditional: CPU x")
