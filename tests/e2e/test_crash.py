"""kill -9 the worker again and again while it posts alerts: after a final run, every alert is in Slack exactly
once (counted by idempotency key on the fake Slack server)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from pipeline.demo.server import FeedServer, static
from pipeline.testing import FakeSlack
from tests.e2e.test_cli import many_stories_feed, newswatch

KILLS = int(os.environ.get("NEWSWATCH_CRASH_KILLS", "20"))  # the bounded CI version; raise it for a soak


def test_kill_9_while_sending_loses_nothing_and_duplicates_nothing(repo: Path, tmp_path: Path) -> None:
    n = 40
    slack = FakeSlack(delay=0.25)
    server = FeedServer({"/wire.xml": static(many_stories_feed(n))}).start()
    cfg = tmp_path / "w.yaml"
    cfg.write_text(f"feeds:\n  - url: {server.base_url}/wire.xml\nrules: {repo / 'rules'}\nstate: s.db\n"
                   "poll_interval: 3600\nslack: {pace: 100, burst: 100, timeout: 2}\n", encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": slack.token, "NEWSWATCH_SLACK_API_URL": slack.base_url}
    rng = random.Random(11)
    kills, log = 0, tmp_path / "worker.log"
    try:
        deadline = time.monotonic() + 600
        while kills < KILLS and time.monotonic() < deadline and len(set(slack.keys())) < n:
            before = len(slack.posts)
            with log.open("a") as out:
                proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(cfg)], env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
            started = time.monotonic()
            while len(slack.posts) == before and proc.poll() is None and time.monotonic() - started < 60:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))  # somewhere in the middle of a send, a mark, a lookup
            proc.kill()  # SIGKILL: no handler, no flush
            proc.wait(timeout=30)
            kills += 1
        for _ in range(3):  # the survivors finish the job
            res = newswatch("run", "--config", str(cfg), "--once", env=env)
            assert res.returncode == 0, res.stderr[-2000:]
        keys = slack.keys()
        assert kills >= min(KILLS, 20), f"only {kills} kills happened"
        assert len(set(keys)) == n, f"lost alerts: {n - len(set(keys))} of {n}"
        assert len(keys) == n, f"duplicated alerts: {len(keys) - n}"
    finally:
        server.stop()
        slack.stop()
