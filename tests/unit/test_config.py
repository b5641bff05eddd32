"""Worker config: strict keys, file:line errors, paths relative to the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    """Write a config file and return its path."""
    p = tmp_path / "worker.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_config_resolves_paths(tmp_path: Path) -> None:
    """Relative rules and state paths are resolved against the config file's directory."""
    cfg = load_config(write(tmp_path, "feeds:\n  - url: http://127.0.0.1:9/a.xml\n    name: A\nrules: r\n"
                                      "state: s.db\nslack: {channel: '#x'}\npoll_interval: 30\n"))
    assert cfg.rules_dir == str(tmp_path / "r") and cfg.state_path == str(tmp_path / "s.db")
    assert cfg.channel == "#x" and cfg.poll_interval == 30.0 and cfg.feeds[0].name == "A"


def test_all_errors_reported_with_lines(tmp_path: Path) -> None:
    """Unknown keys, bad urls and wrong types are all reported at once, each with its line."""
    p = write(tmp_path, "feeds:\n  - url: ftp://x/a.xml\n  - uri: http://x/b.xml\nrules: r\npoll_intervall: 5\n"
                        "dedup_window_hours: soon\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert [str(x) for x in e.value.problems] == [
        f"{p}:2:10: feed url must start with http:// or https://, got 'ftp://x/a.xml'",
        f"{p}:3:5: unknown key 'uri' in a feed; did you mean 'url'?",
        f"{p}:3:5: a feed is missing required key 'url'",
        f"{p}:5:1: unknown key 'poll_intervall' in the worker config; did you mean 'poll_interval'?",
        f"{p}:6:21: 'dedup_window_hours' must be a number, not a string",
    ]


@pytest.mark.parametrize("name", ["worker.example.yaml", "worker.docker.yaml"])
def test_shipped_configs_are_valid(repo: Path, name: str) -> None:
    """The example worker configs in deploy/ load."""
    cfg = load_config(repo / "deploy" / name)
    assert cfg.feeds and Path(cfg.rules_dir).name == "rules"


def test_dedup_boilerplate_patterns_are_validated(tmp_path: Path) -> None:
    """Extra boilerplate patterns are regular expressions; a broken one is reported with its line."""
    ok = load_config(write(tmp_path, "feeds:\n  - url: http://127.0.0.1:9/a.xml\nrules: r\n"
                                     "dedup:\n  boilerplate:\n    - subscribe to our newsletter\n"))
    assert ok.boilerplate == ("subscribe to our newsletter",)
    p = write(tmp_path, "feeds:\n  - url: http://127.0.0.1:9/a.xml\nrules: r\ndedup:\n  boilerplate:\n    - 'ok'\n"
                        "    - 'Photo (by'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert [str(x) for x in e.value.problems] == [
        f"{p}:7:7: 'dedup.boilerplate' entry 'Photo (by' is not a valid regular expression (missing ), unterminated "
        "subpattern at position 6); escape special characters like ( ) . ? with a backslash"]


def test_dedup_capacity(tmp_path: Path) -> None:
    """`dedup.capacity` sizes the candidate table; too small a number is an error with its line."""
    ok = load_config(write(tmp_path, "feeds:\n  - url: http://127.0.0.1:9/a.xml\nrules: r\ndedup:\n  capacity: 5000\n"))
    assert ok.dedup_capacity == 5000
    p = write(tmp_path, "feeds:\n  - url: http://127.0.0.1:9/a.xml\nrules: r\ndedup:\n  capacity: 10\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}:5:13: 'dedup.capacity' must be at least 1000, got 10"
