"""The streaming pipeline (pipeline.streaming): the same stages driven by PeriodicImpulse, one window per tick.
Tested bounded on FnApiRunner, and submitted through Beam's local job service (PortableRunner with an embedded
job endpoint) from the `newswatch run --runner` command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline.alerts.notifier import NotifierSpec
from pipeline.config import WorkerConfig
from pipeline.demo.server import FeedServer
from pipeline.model import FeedSpec
from pipeline.rules.loader import load_rules
from pipeline.state.sqlite import SqliteStore
from pipeline.streaming import build
from pipeline.testing import FakeSlack
from tests.e2e.test_cli import newswatch


def test_streaming_graph_bounded_on_fn_api_runner(demo_feeds: FeedServer, repo: Path, tmp_path: Path) -> None:
    """Three ticks over the demo feeds: one new alert, one update when the digest feed picks the story up,
    nothing twice; every tick commits its stories."""
    cfg = WorkerConfig(tuple(FeedSpec(u, "", (), 10) for u in demo_feeds.urls()), str(repo / "rules"),
                       str(tmp_path / "s.db"), tick=1, max_item_age=None)
    out = tmp_path / "alerts.jsonl"
    now = time.time()
    p = beam.Pipeline(runner=FnApiRunner())
    build(p, cfg, load_rules(cfg.rules_dir), NotifierSpec("jsonl", str(out)), start=now, stop=now + 2.5)
    p.run().wait_until_finish()
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], len(x["sources"])) for x in lines] == [("new", 4), ("update", 5)]
    store = SqliteStore(cfg.state_path)
    assert store._exec("SELECT count(*) FROM stories WHERE processed = 0").fetchone()[0] == 0
    assert store.unsent() == []
    store.close()


def test_run_with_a_runner_submits_through_the_local_job_service(repo: Path, tmp_path: Path) -> None:
    """`newswatch run --runner PortableRunner` with Beam's embedded job service: the alerts reach Slack."""
    slack = FakeSlack()
    feeds = repo / "pipeline" / "demo" / "feeds"
    with FeedServer.from_directory(feeds, repo / "pipeline" / "demo" / "feeds-later") as server:
        cfg = tmp_path / "w.yaml"
        cfg.write_text("feeds:\n" + "".join(f"  - url: {u}\n" for u in server.urls()) +
                       f"rules: {repo / 'rules'}\nstate: s.db\nmax_item_age_hours: 0\npolling: {{tick: 1s}}\n",
                       encoding="utf-8")
        res = newswatch("run", "--config", str(cfg), "--runner", "PortableRunner",
                        "--pipeline-option=--job_endpoint=embed", "--pipeline-option=--environment_type=LOOPBACK",
                        "--stop-after", "2.5", env={"SLACK_BOT_TOKEN": slack.token,
                                                   "NEWSWATCH_SLACK_API_URL": slack.base_url})
    assert res.returncode == 0, res.stderr[-3000:]
    assert "submitting the streaming pipeline to PortableRunner" in res.stderr
    assert "pipeline finished: DONE" in res.stderr
    texts = [p["text"] for p in slack.posts]
    assert len(texts) == 2 and texts[0].startswith("[New] URGENT Hundreds of civilians flee Kherson")
    assert texts[1].startswith("Update: ") and slack.posts[1]["thread_ts"] == slack.posts[0]["ts"]
    slack.stop()
