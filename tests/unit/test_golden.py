"""Golden files of rendered Slack payloads: the seed story's root message, its thread reply and the root as
edited, a digest, and hostile feed text. `NEWSWATCH_UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py`
rewrites them; review the diff before committing."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.alerts.render import render_digest, render_slack, render_thread_reply
from pipeline.fakeslack import blocks_ok
from pipeline.model import Alert, Hit

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
SEED_TEXT = ("Hundreds of civilians have had to flee key Ukrainian city Kherson just weeks after Kyiv's troops drove "
             "Russian forces out, as shelling increased tenfold. Those fleeing say they have been subjected to "
             "relentless bombardment as Russia punishes the city for its liberation.")
SEED = Alert(
    key="5e3d0c2b9a8f7e6d5c4b3a2918171615", kind="new", rule_id="kherson-evacuation",
    rule_title="Civilians flee or evacuate Kherson", severity="urgent", channel="#ukraine-alerts",
    cluster_id="c1a2b3c4d5e6f", title="Hundreds of civilians flee Kherson as Russians bombard city in revenge for loss",
    link="https://www.mirror.co.uk/news/world-news/hundreds-civilians-flee-kherson-russians-28835234",
    source="Daily Mirror - World News",
    sources=("Daily Mirror - World News", "inkl - Top stories", "World News Wire", "Yahoo News UK"),
    matched=("Kherson", "flee"), hits=(Hit("places", "Kherson", "kherson", 4), Hit("any", "flee", "flee", 3)),
    first_seen=1_764_500_000.0, published=1_764_499_000.0, independent=("Daily Mirror - World News",),
    snippet=SEED_TEXT,
)
UPDATE = replace(SEED, kind="update", key="9f8e7d6c5b4a39281716151413121110", source="World News Digest",
                 link="https://digest.example/kherson", title="Kherson: hundreds flee as shelling intensifies",
                 sources=(*SEED.sources, "World News Digest"))
HOSTILE = replace(SEED, title="<!channel> FREE <http://evil.example|prize> & <@U123> *bold* `code`",
                  link="javascript:alert(1)", source="<!here> Outlet & Co", rule_title="x" * 200,
                  snippet="Click <https://evil.example|here> <!everyone> to flee Kherson & win",
                  sources=("<!here> Outlet & Co",))


def payloads() -> dict[str, Any]:
    return {
        "seed-root": render_slack(SEED),
        "seed-thread-reply": render_thread_reply(UPDATE),
        "seed-root-edited": render_slack(replace(SEED, sources=UPDATE.sources, independent=UPDATE.independent)),
        "digest": render_digest([SEED, replace(SEED, key="k2", title="Second story", link="http://b.example/2")]),
        "hostile-root": render_slack(HOSTILE),
    }


@pytest.mark.parametrize("name", sorted(payloads()))
def test_rendered_payload_matches_golden_file(name: str) -> None:
    payload = payloads()[name]
    path = GOLDEN / f"{name}.json"
    if os.environ.get("NEWSWATCH_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert payload == json.loads(path.read_text(encoding="utf-8"))
    assert blocks_ok(payload["blocks"])


def test_hostile_text_cannot_ping_link_or_format() -> None:
    """No raw `<` from a feed survives, so no @channel/@here/user ping and no link; the non-http link is text."""
    flat = json.dumps(payloads()["hostile-root"])
    assert "<!channel>" not in flat and "<!here>" not in flat and "<!everyone>" not in flat and "<@U123>" not in flat
    assert "<http://evil" not in flat and "<https://evil" not in flat and "javascript:" not in flat
    assert "&lt;!channel&gt;" in flat and "&amp; Co" in flat
