"""Rule files edited while the worker runs: added, changed, broken and deleted files are picked up within
5 s, without a restart (a real `newswatch run` subprocess, a loopback feed server and the fake Slack)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path

from pipeline.demo.server import FeedServer, static
from pipeline.testing import FakeSlack

ODESA = """\
id: odesa-evacuation
title: Civilians evacuate Odesa
match:
  places: [Odesa]
  any: [evacuat*, flee]
examples:
  match: [Odesa residents evacuated]
"""


def feed(*titles: str) -> bytes:
    items = "".join(f"<item><title>{t}</title><guid>{i}-{t}</guid><link>http://example.org/{i}</link>"
                    f"<pubDate>{formatdate(time.time(), usegmt=True)}</pubDate></item>" for i, t in enumerate(titles))
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>{items}</channel></rss>".encode()


class Output:
    """Collects a subprocess's output lines as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._t = threading.Thread(target=lambda: self.lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
                                   daemon=True)
        self._t.start()

    def wait_for(self, text: str, timeout: float, after: int = 0) -> float:
        """Seconds until a line (from index `after`) contains `text`; fails after `timeout`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout and self.proc.poll() is None:
            if any(text in line for line in self.lines[after:]):
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} within {timeout} s:\n" + "".join(self.lines[-30:]))


def test_rule_files_are_hot_reloaded_by_a_running_worker(repo: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(repo / "rules", rules)
    slack = FakeSlack()
    server = FeedServer({"/wire.xml": static(feed("Odesa port reopens after storm"))}).start()
    cfg = tmp_path / "w.yaml"
    cfg.write_text(f"feeds:\n  - url: {server.base_url}/wire.xml\n    interval: 10\nrules: {rules}\nstate: s.db\n"
                   "polling: {tick: 1s}\nmax_item_age_hours: 0\n", encoding="utf-8")
    env = {**os.environ, "SLACK_BOT_TOKEN": slack.token, "NEWSWATCH_SLACK_API_URL": slack.base_url}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = Output(proc)
    try:
        out.wait_for("loaded 2 rule(s)", 60)
        out.wait_for("cycle 1:", 60)
        # Added: live within 5 s, and the next story about Odesa alerts.
        mark = len(out.lines)
        (rules / "odesa.yaml").write_text(ODESA, encoding="utf-8")
        assert out.wait_for("loaded 3 rule(s)", 5, after=mark) <= 5
        server.routes["/wire.xml"] = static(feed("Odesa port reopens after storm", "Odesa residents evacuated"))
        deadline = time.monotonic() + 30
        while not any("Odesa residents" in str(p) for p in slack.posts) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("Odesa residents" in str(p) for p in slack.posts), out.lines[-20:]
        # Broken: reported once with path:line:col; the last good version keeps working.
        mark = len(out.lines)
        (rules / "odesa.yaml").write_text(ODESA.replace("any:", "anyy:"), encoding="utf-8")
        assert out.wait_for(f"{rules / 'odesa.yaml'}:5:3: unknown key 'anyy' in 'match'", 5, after=mark) <= 5
        time.sleep(3)  # several more rule-file checks and cycles
        assert sum("unknown key 'anyy'" in line for line in out.lines[mark:]) == 1
        assert "keeping its last good version (1 rule(s))" in "".join(out.lines[mark:])
        # Deleted: its rule goes away within 5 s.
        mark = len(out.lines)
        (rules / "odesa.yaml").unlink()
        assert out.wait_for("loaded 2 rule(s)", 5, after=mark) <= 5
        assert proc.poll() is None, "the worker must keep running through all of this"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.stop()
        slack.stop()
