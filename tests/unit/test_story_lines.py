"""Story lines (`newswatch cluster`, `newswatch rules test --stories`): what a line may say, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.app import read_story_lines, story_time

DEC_1 = 1_796_112_000.0  # 2026-12-01T08:00:00Z


@pytest.mark.parametrize("value", [DEC_1, int(DEC_1), "1796112000", " 1796112000.0 ", "2026-12-01T08:00:00Z",
                                   "2026-12-01T08:00:00z", "2026-12-01T08:00:00+00:00", "2026-12-01T10:00:00+02:00",
                                   "2026-12-01T08:00:00", "2026-12-01 08:00:00", "Tue, 01 Dec 2026 08:00:00 GMT",
                                   "Tue, 01 Dec 2026 09:00:00 +0100"])
def test_published_as_epoch_seconds_or_a_date(value: object) -> None:
    assert story_time(value) == DEC_1


def test_a_date_alone_is_midnight_utc() -> None:
    assert story_time("2026-12-01") == DEC_1 - 8 * 3600


@pytest.mark.parametrize("value", ["yesterday", "12/01/2026", "", True, None, [], "nan", float("inf"), "2026-13-01"])
def test_an_unreadable_published_says_what_is_accepted(value: object) -> None:
    with pytest.raises(ValueError, match=r"published is .*; give epoch seconds .* or a date such as "
                                         r"2026-12-01T08:00:00Z"):
        story_time(value)


def test_lines_read_with_optional_fields(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 7, "title": "A", "source": "Mirror", "published": "2026-12-01T08:00:00Z", '
                   '"link": "https://x/1"}\n\n{"id": "b", "title": "", "source": "inkl"}\n', encoding="utf-8")
    first, second = read_story_lines(str(src))
    assert (first.id, first.published, first.fetched, first.link, first.summary) == ("7", DEC_1, DEC_1,
                                                                                     "https://x/1", "")
    assert second.id == "b" and second.title == "" and second.published > DEC_1 - 86400 * 365  # now


@pytest.mark.parametrize(("line", "what"), [
    ("not json", "not JSON (Expecting value, column 1)"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"title": "t"}', "no id, source"),
    ('{"id": "a", "title": null, "source": "s"}', "no title"),
    ('{"id": "a", "title": "t", "source": "s", "published": "last week"}', "published is 'last week'"),
])
def test_a_bad_line_is_named_with_what_is_wrong_and_what_a_line_needs(tmp_path: Path, line: str, what: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "ok", "title": "t", "source": "s"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_story_lines(str(src))
    assert str(err.value).startswith(f"{src}:2: not a story line: {what}")
    assert str(err.value).endswith("Each line is one JSON object with id, title and source (summary, link, "
                                   "published optional)")


def test_every_bad_line_is_named_in_one_error(tmp_path: Path) -> None:
    """One run names every line to fix (up to 20, then how many more), not the first alone."""
    src = tmp_path / "in.jsonl"
    good = '{"id": "ok", "title": "t", "source": "s"}'
    src.write_text("\n".join([good, "not json", good, "[1]", '{"id": "x"}', good]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_story_lines(str(src))
    assert str(err.value).splitlines() == [
        f"{src}:2: not a story line: not JSON (Expecting value, column 1)",
        f"{src}:4: not a story line: a JSON list, not an object",
        f"{src}:5: not a story line: no title, source",
        "3 of 6 lines cannot be used (nothing was done). Each line is one JSON object with id, title and "
        "source (summary, link, published optional)",
    ]
    src.write_text("\n".join(["[]"] * 25 + [good]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_story_lines(str(src))
    lines = str(err.value).splitlines()
    assert [line.split(":")[1] for line in lines[:20]] == [str(n) for n in range(1, 21)]
    assert lines[20:] == ["... and 5 more", "25 of 26 lines cannot be used (nothing was done). Each line is one "
                          "JSON object with id, title and source (summary, link, published optional)"]


def test_a_repeated_id_is_a_bad_line_where_ids_must_be_unique(tmp_path: Path) -> None:
    """`newswatch cluster` names stories by id in its output: a repeated id is named with both its lines (and
    the same file is fine where ids need not be unique, as for `rules test --stories`)."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 7, "title": "a", "source": "s"}\n{"id": "8", "title": "b", "source": "s"}\n\n'
                   '{"id": "7", "title": "c", "source": "s"}\n', encoding="utf-8")
    assert [s.id for s in read_story_lines(str(src))] == ["7", "8", "7"]
    with pytest.raises(ValueError) as err:
        read_story_lines(str(src), unique_ids=True)
    assert str(err.value).startswith(f"{src}:4: id '7' is used twice (first on line 1): ids must be unique")
