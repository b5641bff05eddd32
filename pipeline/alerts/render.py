"""Pure rendering of an alert: console text and a Slack Block Kit payload with a plain-text fallback.

All feed text is escaped for Slack mrkdwn (`&`, `<`, `>`) so a feed cannot ping `@channel` or smuggle links;
only http(s) links are rendered as links.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline.model import Alert

HEADER_MAX = 150
SECTION_MAX = 3000


def escape(text: str) -> str:
    """Escape Slack mrkdwn control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def outlets_line(alert: Alert) -> str:
    """'carried by 4 outlets (1 independent): A, B, C, D' — republications by aggregators do not count as
    independent confirmation."""
    n, k = len(alert.sources), len(alert.independent)
    verb = "now carried" if alert.kind == "update" else "carried"
    indep = f" ({k} independent)" if n > 1 and alert.independent else ""
    return f"{verb} by {n} outlet{'s' if n != 1 else ''}{indep}: {', '.join(alert.sources)}"


def matched_line(alert: Alert) -> str:
    return "; ".join(f"{h.clause} '{h.term}' -> \"{h.found}\"" for h in alert.hits) or ", ".join(alert.matched)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def render_console(alert: Alert) -> str:
    """Several readable lines for a terminal."""
    tag = "NEW" if alert.kind == "new" else "UPDATE"
    return "\n".join((
        f"[{tag}] {alert.severity.upper()} · {alert.rule_id}: {alert.rule_title}",
        f"    {alert.title}",
        f"    {alert.source} · {alert.link}",
        f"    {outlets_line(alert)}",
        f"    matched: {matched_line(alert)} · first seen {_when(alert.first_seen)}",
    ))


def _link(url: str, title: str) -> str:
    if url.startswith(("http://", "https://")) and not any(c in url for c in "<>| "):
        return f"<{url}|{escape(title)}>"
    return escape(title)


def render_slack(alert: Alert) -> dict[str, Any]:
    """`text` fallback plus blocks within Slack's limits (header ≤ 150 chars, section ≤ 3000)."""
    tag = "New" if alert.kind == "new" else "Update"
    header = _clip(f"{alert.severity.upper()} · {alert.rule_title}", HEADER_MAX)
    body = _clip(f"*{_link(alert.link, alert.title)}*\n{escape(alert.source)}", SECTION_MAX)
    context = _clip(
        f"{tag} · rule `{escape(alert.rule_id)}` · {escape(outlets_line(alert))} · "
        f"matched {escape(matched_line(alert))} · first seen {_when(alert.first_seen)}",
        SECTION_MAX,
    )
    text = _clip(f"[{tag}] {alert.severity.upper()} {escape(alert.title)} ({escape(outlets_line(alert))})", 3900)
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }
