"""Smoke runs of the benchmark scripts (tiny sizes) so they never rot. No speed is asserted here."""

from __future__ import annotations

import platform
import re
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


def test_eval_dedup_smoke() -> None:
    """eval_dedup.py runs on a slice of the news data (or says the data is absent) and prints both tables."""
    res = subprocess.run([sys.executable, str(BENCH / "eval_dedup.py"), "--limit", "120"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    if "data not found" in res.stdout:
        return
    assert "STS-B headlines train+dev: 120 pairs" in res.stdout
    assert "UCI News Aggregator 2014-03-10: 120 headlines" in res.stdout
    assert res.stdout.count("newswatch (production dedup") == 3
    assert "syndication set: 120 stories" in res.stdout and "datasketch MinHashLSH" in res.stdout


def test_bench_dedup_smoke() -> None:
    """bench_dedup.py measures its rows at a tiny window and prints its tables (rates, where the time goes, the
    restart, the burst, the cost by kind of story); every syndicated copy is found, no new story is merged, the
    copy after the restart is found, and a burst of copies of one story makes one cluster."""
    res = subprocess.run([sys.executable, str(BENCH / "bench_dedup.py"), "--windows", "500", "--measure", "30",
                          "--cycles", "2", "--naive-max", "500", "--burst", "40", "--by-kind", "300"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith(f"on Python {platform.python_version()} ("), res.stdout[:200]  # the interpreter
    rows = [line for line in res.stdout.splitlines() if line.strip().startswith("500")]
    names = ("newswatch Deduper", "counting the checkpoint", "naive pairwise token_set_ratio")
    assert len(rows) == 5 and all(name in row for name, row in zip(names, rows, strict=False))
    # columns of the Deduper row: ... stories/s, copies found, wrong merges, peak RSS
    assert rows[0].split()[-3:-1] == ["1.000", "0"], rows[0]
    # where the time goes: 7 columns, the collector, the machine's speed (a fixed loop's ms), the total
    phases = [float(x) for x in rows[3].split()[1:]]
    assert len(phases) == 10 and all(x >= 0 for x in phases) and phases[-2] > 0 and phases[-1] > 0, rows[3]
    restart = rows[4].split()  # window, seconds and "yes" after a crash and after a graceful stop, peak RSS
    assert restart[2:5:2] == ["yes", "yes"] and all(float(x) > 0 for x in restart[1:6:2]), rows[4]
    leads = [line.split()[-3:] for line in res.stdout.splitlines() if "characters " in line or "45 words " in line]
    # µs now, µs before, speed-up (the benchmark itself asserts both give the same lead)
    assert len(leads) == 4 and all(float(now) > 0 and float(old) > 0 for now, old, _ in leads), res.stdout
    kinds = [line.split()[-7:] for line in res.stdout.splitlines()
             if line.startswith(("new stories", "copies of window stories", "new, each followed"))]
    # stories/s, share found (every copy found, no new story merged), five phases in µs per story
    assert len(kinds) == 3 and all(row[1] == "1.000" and float(row[0]) > 0 for row in kinds), res.stdout
    assert all(float(x) >= 0 for row in kinds for x in row[2:]), res.stdout
    burst = [line.split()[-3:] for line in res.stdout.splitlines() if line.startswith("40 ")]
    # stories/s, clusters, peak RSS: 40 copies of one story make one cluster, 40 new stories forty
    assert [row[1] for row in burst] == ["1", "40"] and all(float(row[0]) > 0 for row in burst), res.stdout


def test_bench_rules_smoke() -> None:
    """bench_rules.py loads, compiles and matches generated rules beside the regex baseline; both find the
    injected place mentions."""
    res = subprocess.run([sys.executable, str(BENCH / "bench_rules.py"), "--rules", "10", "200", "--stories", "300",
                          "--naive-seconds", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [line.split() for line in res.stdout.splitlines() if line.strip().split()[:1] in (["10"], ["200"])]
    assert [r[0] for r in rows] == ["10", "200"]
    assert all(int(r[4]) > 0 for r in rows), res.stdout  # matches found at both sizes


def test_bench_e2e_smoke() -> None:
    """bench_e2e.py runs real cycles against loopback feeds and the fake Slack and reports latency."""
    res = subprocess.run([sys.executable, str(BENCH / "bench_e2e.py"), "--feeds", "3", "--per-feed", "2",
                          "--cycles", "2"], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {line.split("  ")[0].strip(): line.split() for line in res.stdout.splitlines()}
    assert rows["new stories every cycle"][-4] == "12"  # 3 feeds x 2 stories x 2 cycles
    assert "latency fetch -> Slack post over 18 alerts: p50" in res.stdout  # the warm-up cycle's 6 too


def test_ab_dedup_smoke() -> None:
    """ab_dedup.py copies two versions of the package (HEAD from git, and the working tree), runs both on one
    stream in one process (here with the worker imported, as `--worker-heap` does, and A without its C kernels)
    and finds they cluster every story alike."""
    import pytest

    if subprocess.run(["git", "-C", str(BENCH), "rev-parse", "HEAD"], capture_output=True, check=False).returncode:
        pytest.skip("not a git checkout: ab_dedup.py takes version A from git")
    res = subprocess.run([sys.executable, str(BENCH / "ab_dedup.py"), "--base", "HEAD", "--window", "300",
                          "--measure", "200", "--cycles", "1", "--worker-heap", "--pure", "A"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "same clusters and reasons: yes" in res.stdout, res.stdout
    tracked = re.search(r"with the worker imported: ([\d,]+) objects", res.stdout)
    assert tracked and int(tracked[1].replace(",", "")) > 10_000, res.stdout  # Beam's objects are in the process
    rows = [line.split() for line in res.stdout.splitlines()]
    # version, revision, kernels, stories/s, median and slowest chunk (ms)
    versions = [row for row in rows if len(row) == 6 and row[0] in ("A", "B")]
    assert len(versions) == 2 and all(float(row[3].replace(",", "")) > 0 for row in versions), res.stdout
    assert versions[0][2] == "off", res.stdout  # --pure A: A on the numpy / Python code, B as built
