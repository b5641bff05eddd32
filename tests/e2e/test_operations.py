"""Operating the worker: health, readiness and Prometheus metrics over HTTP, JSON logs, clear errors for a
corrupt or locked state file, and a bounded soak run (RSS and file descriptors over many cycles)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.alerts.notifier import NotifierSpec
from pipeline.app import Worker
from pipeline.config import WorkerConfig
from pipeline.demo.server import FeedServer
from pipeline.model import FeedSpec
from pipeline.shutdown import STOP
from pipeline.state.sqlite import SqliteStore, StateError
from tests.e2e.test_cli import newswatch


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_healthz_readyz_and_metrics(demo_feeds: FeedServer, repo: Path, tmp_path: Path) -> None:
    cfg = WorkerConfig(tuple(FeedSpec(u, "", (), 10) for u in demo_feeds.urls()), str(repo / "rules"),
                       str(tmp_path / "s.db"), tick=0.5, max_item_age=None, metrics_port=0)
    worker = Worker(cfg, NotifierSpec("jsonl", str(tmp_path / "out.jsonl")))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while worker.server is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.server is not None
        base = f"http://127.0.0.1:{worker.server.port}"
        while worker.cycles < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body = get(base + "/healthz")
        assert status == 200 and body.startswith("ok: loop last seen")
        status, body = get(base + "/readyz")
        assert status == 200 and body.startswith("ok: last successful cycle")
        status, metrics = get(base + "/metrics")
        assert status == 200
        values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("newswatch_") and not line.startswith("newswatch_cycle_duration")}
        assert values['newswatch_cycles_total{outcome="ok"}'] >= 1
        assert values['newswatch_feeds_polled_total{result="ok"}'] >= 6
        assert values['newswatch_alerts_total{outcome="sent"}'] >= 1
        assert values["newswatch_rules_loaded"] == 2 and values["newswatch_rules_reload_ok"] == 1
        assert values['newswatch_outbox{status="pending"}'] == 0 and "newswatch_slack_rate_limited_total" in metrics
        assert "newswatch_cycle_duration_seconds_bucket" in metrics
        assert get(base + "/nope")[0] == 404
    finally:
        STOP.set()
        thread.join(timeout=30)


def test_not_ready_before_the_first_successful_cycle(tmp_path: Path) -> None:
    from pipeline.health import Health

    h = Health(live_within=60, ready_within=60)
    assert h.ready() == (False, "no cycle has succeeded yet")
    h.cycle(False, "RuntimeError: boom")
    assert h.ready() == (False, "no cycle has succeeded yet; last error: RuntimeError: boom")
    h.cycle(True)
    assert h.ready()[0] and h.live()[0]


def test_json_log_format(repo: Path, tmp_path: Path) -> None:
    """`--log-format json`: every log line is one JSON object with time, level, logger and message."""
    feeds = repo / "pipeline" / "demo" / "feeds"
    with FeedServer.from_directory(feeds) as server:
        cfg = tmp_path / "w.yaml"
        cfg.write_text("feeds:\n" + "".join(f"  - url: {u}\n" for u in server.urls()) +
                       f"rules: {repo / 'rules'}\nstate: s.db\nmax_item_age_hours: 0\n", encoding="utf-8")
        res = newswatch("--log-format", "json", "run", "--config", str(cfg), "--once")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stderr.splitlines() if x.strip()]
    assert lines and all(set(x) >= {"time", "level", "logger", "message"} for x in lines)
    assert any(x["message"].startswith("cycle 1: 6 feeds due") for x in lines)


def test_corrupt_state_file_is_a_clear_error_not_a_reset(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    state.write_bytes(b"this is not a database, just some bytes " * 20)
    cfg = tmp_path / "w.yaml"
    cfg.write_text(f"feeds:\n  - url: http://127.0.0.1:9/a.xml\nrules: {repo / 'rules'}\nstate: s.db\n",
                   encoding="utf-8")
    res = newswatch("run", "--config", str(cfg), "--once")
    assert res.returncode == 2
    assert f"{state}: not a newswatch state file, or corrupt (file is not a database)" in res.stderr
    assert state.read_bytes().startswith(b"this is not a database")  # untouched
    for command in (("alerts", "dead-letters"), ("silence", "list"), ("feeds", "status")):  # every command says so
        res = newswatch(*command, "--config", str(cfg))
        assert res.returncode == 2 and "not a newswatch state file, or corrupt" in res.stderr, command


def test_locked_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match=r"state file is locked by another process .* is another worker running"):
            SqliteStore(path, timeout=0.2)
    finally:
        holder.rollback()
        holder.close()


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


CYCLES = int(os.environ.get("NEWSWATCH_SOAK_CYCLES", "250"))  # the bounded CI version; thousands for a soak
WARM = 50


def test_soak_memory_and_descriptors_do_not_grow(demo_feeds: FeedServer, repo: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Many full cycles (every feed polled, the whole pipeline run) against the loopback feeds: after warm-up,
    RSS grows less than 10 MB per 1,000 cycles in the long run, 50 in the bounded CI run (medians of the first
    and second half, which ride out the allocator's ups and downs), and open file descriptors stay flat."""
    caplog.set_level(logging.WARNING)  # pytest keeps every captured record: INFO lines would look like a leak
    cfg = WorkerConfig(tuple(FeedSpec(u, "", (), 10) for u in demo_feeds.urls()), str(repo / "rules"),
                       str(tmp_path / "s.db"), tick=0, max_item_age=None)
    worker = Worker(cfg, NotifierSpec("jsonl", str(tmp_path / "out.jsonl")))
    for _ in range(WARM):
        worker.run(once=True)
    fds = len(os.listdir("/proc/self/fd"))
    samples = []
    for _ in range(CYCLES):
        worker.run(once=True)  # `once`: every feed is polled and the whole pipeline runs, like a busy worker
        samples.append(rss_mib())
    half = len(samples) // 2
    first, second = statistics.median(samples[:half]), statistics.median(samples[half:])
    drift = (second - first) / half * 1000
    fds_after = len(os.listdir("/proc/self/fd"))
    print(f"\nsoak: {WARM} + {CYCLES} cycles, RSS median {first:.1f} -> {second:.1f} MiB (min {min(samples):.1f}, "
          f"max {max(samples):.1f}), drift {drift:+.1f} MiB per 1,000 cycles, fds {fds} -> {fds_after}")
    # 250 cycles sit inside the allocator's +-10 MiB swings, so the CI run only catches gross leaks; the long
    # run (NEWSWATCH_SOAK_CYCLES=3000) holds the 10 MB per 1,000 cycles target.
    limit = 10 if CYCLES >= 2000 else 50
    assert drift < limit, f"RSS grows {drift:.1f} MiB per 1,000 cycles (limit {limit})"
    assert fds_after <= fds + 3
