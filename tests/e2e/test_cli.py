"""The `newswatch` command as a user runs it: subprocesses, exit codes, messages, signals."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from pipeline.demo.server import FeedServer, static
from pipeline.testing import FakeSlack

DATA = Path(__file__).resolve().parents[1] / "data"


def newswatch(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipeline ARGS` and capture its output."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def test_help_explains_commands() -> None:
    """--help lists the commands and the environment variables."""
    out = newswatch("--help").stdout
    for word in ("run", "demo", "backtest", "rules", "SLACK_BOT_TOKEN"):
        assert word in out


def test_rules_check_ok(repo: Path) -> None:
    """The shipped rules pass `rules check`."""
    res = newswatch("rules", "check", str(repo / "rules"))
    assert res.returncode == 0 and res.stdout.startswith("ok: ")


def test_rules_check_reports_file_line_and_fails() -> None:
    """Broken rules: exit status 1 and one path:line: message per problem."""
    res = newswatch("rules", "check", str(DATA / "rules_invalid"))
    assert res.returncode == 1
    assert f"{DATA / 'rules_invalid' / 'unknown-key.yaml'}:4:3: unknown key 'plcaes' in 'match'" in res.stderr
    assert "problem(s) in" in res.stderr


def test_run_rejects_invalid_config(tmp_path: Path) -> None:
    """An invalid worker config stops start-up with file:line and exit status 2."""
    cfg = tmp_path / "w.yaml"
    cfg.write_text("feeds: []\nrules: r\nslak: {}\n", encoding="utf-8")
    res = newswatch("run", "--config", str(cfg), "--once")
    assert res.returncode == 2
    assert f"{cfg}:3:1: unknown key 'slak' in the worker config; did you mean 'slack'?" in res.stderr


def test_backtest_command_writes_jsonl(repo: Path, tmp_path: Path) -> None:
    """`newswatch backtest` writes alert lines and prints a summary."""
    out = tmp_path / "a.jsonl"
    res = newswatch("backtest", "--feeds", str(repo / "pipeline" / "demo" / "feeds"), "--rules",
                    str(repo / "rules"), "--out", str(out), "--cycle-minutes", "1440")
    assert res.returncode == 0, res.stderr
    assert "1 new + 0 update alert(s)" in res.stdout
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["kind"] == "new"


def many_stories_feed(n: int) -> bytes:
    """An RSS feed of `n` unrelated Kherson evacuation stories (distinct words, so n clusters)."""
    rng = random.Random(7)
    vocab = [f"{a}{b}{c}" for a in ("bor", "tal", "mir", "ves", "kan", "dul", "pre", "sor") for b in
             ("at", "en", "il", "os", "um", "yr", "ec", "of") for c in ("a", "e", "i", "o", "u", "y", "ka", "ro")]
    items = []
    for i in range(n):
        w = rng.sample(vocab, 6)
        items.append(
            f"<item><title>Kherson {w[0]} {w[1]} evacuated as {w[2]} {w[3]} {w[4]} {w[5]}</title>"
            f"<link>http://example.org/{i}</link><guid>story-{i}</guid>"
            f"<pubDate>{formatdate(time.time() - i * 60, usegmt=True)}</pubDate></item>"
        )
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>{''.join(items)}"
            "</channel></rss>").encode()


@pytest.mark.slow
def test_sigterm_mid_run_then_restart_posts_each_alert_once(repo: Path, tmp_path: Path) -> None:
    """SIGTERM while alerts are being posted: the worker exits cleanly, and a restart posts the rest, none twice."""
    n = 12
    body = many_stories_feed(n)
    slack = FakeSlack(delay=0.4)
    server = FeedServer({"/wire.xml": static(body)}).start()
    cfg = tmp_path / "w.yaml"
    cfg.write_text(f"feeds:\n  - url: {server.base_url}/wire.xml\nrules: {repo / 'rules'}\nstate: s.db\n"
                   "poll_interval: 3600\n", encoding="utf-8")
    env = {"SLACK_BOT_TOKEN": slack.token, "NEWSWATCH_SLACK_API_URL": slack.base_url}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(cfg)],
                                env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while len(slack.posts) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(slack.posts) >= 2, "worker did not start posting"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "SIGTERM received" in out and "stopped" in out
        assert (tmp_path / "s.db.keytable.npz").stat().st_size > 0  # the dedup key table, for a quick restart
        before = len(slack.posts)
        assert before < n, "SIGTERM came too late to test an interrupted run"

        res = newswatch("run", "--config", str(cfg), "--once", env=env)
        assert res.returncode == 0, res.stderr
        res = newswatch("run", "--config", str(cfg), "--once", env=env)
        assert res.returncode == 0, res.stderr
        keys = [p["metadata"]["event_payload"]["key"] for p in slack.posts]
        assert len(keys) == n and len(set(keys)) == n
        assert "interrupted mid-send" not in res.stderr
    finally:
        server.stop()
        slack.stop()


def test_feeds_status_shows_health(repo: Path, tmp_path: Path) -> None:
    """After a cycle, `feeds status` lists the failing feed first with its error, then the healthy one."""
    good = (repo / "pipeline" / "demo" / "feeds" / "daily-mirror.xml").read_bytes()
    with FeedServer({"/good.xml": static(good), "/bad.xml": static(b"x", status=500)}) as server:
        cfg = tmp_path / "w.yaml"
        cfg.write_text(f"feeds:\n  - url: {server.base_url}/good.xml\n    name: Good\n"
                       f"  - url: {server.base_url}/bad.xml\n    name: Bad\n  - url: {server.base_url}/new.xml\n"
                       f"rules: {repo / 'rules'}\nstate: s.db\nmax_item_age_hours: 0\n", encoding="utf-8")
        assert newswatch("feeds", "status", "--config", str(cfg)).returncode == 1  # no state yet: says so
        assert newswatch("run", "--config", str(cfg), "--once").returncode == 0
    table = newswatch("feeds", "status", "--config", str(cfg))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("FEED") and lines[1].startswith("Bad") and "failing" in lines[1]
    assert "HTTP 500" in lines[1] and "Good" in lines[3] and " ok " in lines[3]
    assert lines[-1] == "3 feeds: 2 failing, 1 ok"
    rows = [json.loads(x) for x in newswatch("feeds", "status", "--config", str(cfg), "--json").stdout.splitlines()]
    assert {r["feed"]: r["status"] for r in rows}[f"{server.base_url}/new.xml"] == "failing"  # 404
    assert {r["feed"]: r["failures"] for r in rows}["Bad"] == 1


def test_feed_list_is_reloaded_without_restart(repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Adding a feed to the config is picked up by the running worker; a broken edit keeps the last good list."""
    from pipeline.alerts.notifier import NotifierSpec
    from pipeline.app import Worker
    from pipeline.config import load_config

    feeds_dir = repo / "pipeline" / "demo" / "feeds"
    routes = {f"/{p.name}": static(p.read_bytes()) for p in feeds_dir.glob("*.xml")}
    with FeedServer(routes) as server:
        cfg_path = tmp_path / "w.yaml"
        feeds_path = tmp_path / "feeds.yaml"
        cfg_path.write_text(f"feeds: feeds.yaml\nrules: {repo / 'rules'}\nstate: s.db\nmax_item_age_hours: 0\n"
                            "polling: {tick: 0.1}\n", encoding="utf-8")
        feeds_path.write_text(f"- url: {server.base_url}/daily-mirror.xml\n", encoding="utf-8")
        worker = Worker(load_config(cfg_path), NotifierSpec("jsonl", str(tmp_path / "out.jsonl")))
        worker.run(once=True)
        time.sleep(0.01)
        feeds_path.write_text(f"- url: {server.base_url}/daily-mirror.xml\n- url: {server.base_url}/inkl.xml\n",
                              encoding="utf-8")
        worker.run(once=True)
        assert server.hits.get("/inkl.xml") == 1
        time.sleep(0.01)
        feeds_path.write_text(f"- url: {server.base_url}/daily-mirror.xml\n- urll: oops\n", encoding="utf-8")
        with caplog.at_level(logging.ERROR):
            worker.run(once=True)
        assert "keeping the last good feeds list" in caplog.text
        assert f"{feeds_path}:2:3: unknown key 'urll' in a feed; did you mean 'url'?" in caplog.text
        assert len(worker.cfg.feeds) == 2 and server.hits.get("/inkl.xml") == 2


def test_cluster_command_writes_one_row_per_story(tmp_path: Path) -> None:
    """`newswatch cluster` puts a rewritten syndicated headline with its original, a trap apart, in input order."""
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "a", "title": "Hundreds of civilians flee Kherson as Russians bombard city in revenge for loss", '
        '"source": "Mirror", "published": 100}\n'
        '{"id": "b", "title": "Hundreds of civilians flee Kherson as Russian forces bombard the city in revenge", '
        '"source": "inkl", "published": 200}\n'
        '{"id": "c", "title": "Texas activist flees the state after months of threats", "source": "Yahoo"}\n'
        '{"id": "d", "title": "Hundreds of civilians flee Kherson as Russians bombard city in revenge for loss - '
        'Mirror", "source": "Mirror", "link": "https://mirror.example/2", "published": "1970-01-01T00:05:00Z"}\n',
        encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = newswatch("cluster", str(src), "--out", str(out))
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[0]["cluster_id"] == rows[1]["cluster_id"] == rows[3]["cluster_id"] != rows[2]["cluster_id"]
    assert rows[1]["reason"] == "similar-title" and rows[1]["score"] >= 88 and rows[0]["reason"] == "new-cluster"
    assert rows[3]["reason"] == "same-item"  # the Mirror's own item again under a new link: not a new story
    assert "4 stories -> 2 clusters (2 new-cluster, 1 similar-title, 1 same-item)" in res.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n', encoding="utf-8")
    res = newswatch("cluster", str(bad), "--out", str(out))
    assert res.returncode == 2 and f"{bad}:1: not a story line: no title, source" in res.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4  # a failed run leaves the last output as it was
    bad.write_text('{"id": 1, "title": "t", "source": "s"}\n{"id": "1", "title": "u", "source": "s"}\n',
                   encoding="utf-8")
    res = newswatch("cluster", str(bad), "--out", str(out))  # the output names stories by id: one id, one story
    assert res.returncode == 2 and f"{bad}:2: id '1' is used twice (first on line 1)" in res.stderr
    nowhere = tmp_path / "no-such-dir" / "out.jsonl"
    res = newswatch("cluster", str(src), "--out", str(nowhere))
    assert res.returncode == 2 and f"cluster: cannot write {nowhere}: No such file or directory" in res.stderr


def test_cluster_file_in_batches_gives_the_rows_of_one_run(tmp_path: Path) -> None:
    """`cluster_file` runs a big file as several pipeline runs on one state; copies across a batch boundary, the
    same item again and input out of time order come out as in one run."""
    from pipeline.app import cluster_file

    title = "Hundreds of civilians flee Kherson as Russians bombard city in revenge for loss"
    lines = [
        {"id": "b", "title": "Hundreds of civilians flee Kherson as Russian forces bombard the city in revenge",
         "source": "inkl", "published": 200},
        {"id": "late", "title": "Texas activist flees the state after months of threats", "source": "Yahoo",
         "published": 900},
        {"id": "a", "title": title, "source": "Mirror", "published": 100},
        {"id": "x", "title": "Storm closes schools across the north of Scotland for a second day", "source": "BBC",
         "published": 300},
        {"id": "c", "title": title + " - Mirror", "source": "Mirror", "link": "https://m.example/2",
         "published": 400},
        {"id": "d", "title": "Civilians flee Kherson as Russians bombard city in revenge for loss of it",
         "source": "Yahoo", "published": 500},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert cluster_file(str(src), str(one)) == cluster_file(str(src), str(many), batch=2)
    assert many.read_text(encoding="utf-8") == one.read_text(encoding="utf-8")
    rows = {r["id"]: r for r in map(json.loads, one.read_text(encoding="utf-8").splitlines())}
    assert [r["id"] for r in map(json.loads, one.read_text(encoding="utf-8").splitlines())] == [x["id"] for x in lines]
    assert rows["a"]["cluster_id"] == rows["b"]["cluster_id"] == rows["c"]["cluster_id"] == rows["d"]["cluster_id"]
    assert rows["c"]["reason"] == "same-item" and rows["x"]["cluster_id"] != rows["a"]["cluster_id"]


def test_demo_command_alerts_once_for_the_seed_story(repo: Path) -> None:
    """README command 1's worker: one NEW alert for the Kherson story naming its outlets, none for the traps."""
    res = newswatch("demo", "--rules", str(repo / "rules"), "--cycles", "2", "--interval", "0.5")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("[NEW]") == 1 and "[NEW] URGENT · kherson-evacuation" in res.stdout
    assert "carried by 4 outlets (1 independent): Daily Mirror, inkl, World News Wire, Yahoo News UK" in res.stdout
    for trap in ("Texas", "Fleet", "fleet", "Hurricane", "hospital"):
        assert trap not in res.stdout


def test_rules_test_explains_matches_and_misses(repo: Path, tmp_path: Path) -> None:
    """`rules test ID --text` prints MATCH with the explanation, or why not; examples are run too."""
    res = newswatch("rules", "test", "kherson-evacuation", "--rules", str(repo / "rules"),
                    "--text", "У Херсоні оголосили евакуацію", "--text", "Black Sea Fleet near Kherson")
    assert res.returncode == 0, res.stderr
    assert "MATCH kherson-evacuation" in res.stdout
    assert "places 'Kherson' hit 'херсоні' at word 2" in res.stdout and "form of 'херсон'" in res.stdout
    assert "no    kherson-evacuation: none of the 'any' keywords occurs" in res.stdout
    assert "1 of 2 stories matched; examples: 10 of 10 pass" in res.stdout
    rule = tmp_path / "r.yaml"
    rule.write_text("id: r\ntitle: R\nmatch:\n  places: [Odesa]\n  any: [flood]\nexamples:\n  match: [Odesa fire]\n",
                    encoding="utf-8")
    lines = tmp_path / "s.jsonl"
    lines.write_text('{"id": "1", "title": "Flood in Odesa", "source": "Wire"}\n', encoding="utf-8")
    res = newswatch("rules", "test", str(rule), "--stories", str(lines))
    assert res.returncode == 1
    assert "MATCH r" in res.stdout and "examples: 0 of 1 pass" in res.stdout
    assert f"{rule}:7:11: rule 'r': example should match but does not (none of the 'any' keywords occurs: " \
           "flood): 'Odesa fire'" in res.stdout


def test_rules_test_reads_a_feed_file_or_url(repo: Path) -> None:
    """`rules test ID --feed` takes a local feed file or a URL (here the bundled Mirror feed on loopback)."""
    path = repo / "pipeline" / "demo" / "feeds" / "daily-mirror.xml"
    res = newswatch("rules", "test", "kherson-evacuation", "--rules", str(repo / "rules"), "--feed", str(path))
    assert res.returncode == 0, res.stderr
    assert "MATCH kherson-evacuation" in res.stdout
    assert "no    kherson-evacuation: no place named: Kherson" in res.stdout
    with FeedServer({"/m.xml": static(path.read_bytes())}) as server:
        res = newswatch("rules", "test", "kherson-evacuation", "--rules", str(repo / "rules"),
                        "--feed", f"{server.base_url}/m.xml")
    assert res.returncode == 0 and "MATCH kherson-evacuation" in res.stdout, res.stderr
    res = newswatch("rules", "test", "kherson-evacuation", "--rules", str(repo / "rules"),
                    "--feed", "http://127.0.0.1:9/x")
    assert res.returncode == 1 and "cannot read the stories to test: http://127.0.0.1:9/x:" in res.stderr


def test_silence_and_dead_letter_commands(repo: Path, tmp_path: Path) -> None:
    """`silence add` mutes a rule for the running worker; `alerts dead-letters` lists what Slack refused and
    `alerts retry` puts it back once the cause is fixed."""
    slack = FakeSlack()
    slack.not_joined.add("C0UKRAINE01")  # the bot was never invited to the rule's channel
    path = repo / "pipeline" / "demo" / "feeds" / "daily-mirror.xml"
    env = {"SLACK_BOT_TOKEN": slack.token, "NEWSWATCH_SLACK_API_URL": slack.base_url}
    with FeedServer({"/m.xml": static(path.read_bytes())}) as server:
        cfg = tmp_path / "w.yaml"
        cfg.write_text(f"feeds:\n  - url: {server.base_url}/m.xml\nrules: {repo / 'rules'}\nstate: s.db\n"
                       "max_item_age_hours: 0\n", encoding="utf-8")
        res = newswatch("silence", "add", "--config", str(cfg), "--rule", "kherson-evacuation", "--for", "2h",
                        "--comment", "drill week")
        assert res.returncode == 0 and "silence 1: rule kherson-evacuation muted until" in res.stdout
        assert "kherson-evacuation  until" in newswatch("silence", "list", "--config", str(cfg)).stdout
        assert newswatch("run", "--config", str(cfg), "--once", env=env).returncode == 0
        assert slack.posts == [] and "0 dead letter(s)" in newswatch("alerts", "dead-letters", "--config",
                                                                     str(cfg)).stdout
        assert newswatch("silence", "expire", "--config", str(cfg), "1").stdout == "silence 1 expired\n"
        for leftover in tmp_path.glob("s.db*"):  # forget the silenced cycle's stories: they are matched again
            leftover.unlink()
        res = newswatch("run", "--config", str(cfg), "--once", env=env)
        assert res.returncode == 0 and "dead-lettered: Slack rejected the message: not_in_channel" in res.stderr
        listing = newswatch("alerts", "dead-letters", "--config", str(cfg)).stdout
        assert "kherson-evacuation new -> #ukraine-alerts" in listing and "not_in_channel" in listing
        key = listing.split()[0]
        slack.not_joined.clear()
        assert "1 dead letter(s) back in the outbox" in newswatch("alerts", "retry", "--config", str(cfg), key).stdout
        assert newswatch("run", "--config", str(cfg), "--once", env=env).returncode == 0
    assert len(slack.posts) == 1 and slack.posts[0]["channel_id"] == "C0UKRAINE01"
    slack.stop()
