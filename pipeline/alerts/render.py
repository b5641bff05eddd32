"""Pure rendering of an alert: console text and Slack Block Kit payloads with a plain-text fallback.

All feed text is escaped for Slack mrkdwn (`&`, `<`, `>`) so a feed cannot ping `@channel`/`@here`/a user or
smuggle a link; only http(s) links are rendered as links. Within Slack's limits: at most 50 blocks, 150
characters per header, 3,000 per section.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pipeline.model import Alert

HEADER_MAX = 150
SECTION_MAX = 3000
SNIPPET_MAX = 300
DIGEST_LINES = 40
SEVERITY_ICON = {"flash": ":rotating_light:", "urgent": ":warning:", "routine": ":newspaper:"}


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


def places(alert: Alert) -> list[str]:
    return list(dict.fromkeys(h.term for h in alert.hits if h.clause == "places"))


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


def link(url: str, title: str) -> str:
    """A mrkdwn link for http(s) URLs without characters that could break out of it; else the escaped title."""
    if url.startswith(("http://", "https://")) and not any(c in url for c in "<>| \n"):
        return f"<{url}|{escape(title)}>"
    return escape(title)


def highlight(text: str, words: list[str]) -> str:
    """`text` escaped, with the matched words in bold (whole words, case-insensitive)."""
    out = escape(text)
    found = sorted({w for w in words if w and not w.isspace()}, key=len, reverse=True)
    if found:
        pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(escape(w)) for w in found) + r")(?!\w)", re.IGNORECASE)
        out = pattern.sub(lambda m: f"*{m.group(1)}*", out)
    return out


def _snippet(alert: Alert) -> str:
    text = _clip(" ".join(alert.snippet.split()), SNIPPET_MAX)
    return highlight(text, [h.found for h in alert.hits]) if text else ""


def _context(alert: Alert, tag: str) -> str:
    where = ", ".join(places(alert))
    n, k = len(alert.sources), len(alert.independent)
    parts = [tag, f"rule `{escape(alert.rule_id)}`", *([f"places: {escape(where)}"] if where else []),
             f"{n} outlet{'s' if n != 1 else ''}" + (f", {k} independent" if n > 1 and alert.independent else ""),
             f"first seen {_when(alert.first_seen)}"]
    return _clip(" · ".join(parts), SECTION_MAX)


def render_slack(alert: Alert) -> dict[str, Any]:
    """The story's root message: header with severity, the linked title of the best source, a snippet with the
    matched place and keyword in bold, the outlets, and a context line; `text` is the notification fallback."""
    tag = "New" if alert.kind == "new" else "Update"
    icon = SEVERITY_ICON.get(alert.severity, "")
    header = _clip(f"{alert.severity.upper()} · {alert.rule_title}", HEADER_MAX)
    body = f"{icon} *{link(alert.link, alert.title)}*\n{escape(alert.source)}".strip()
    snippet = _snippet(alert)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(body, SECTION_MAX)}},
    ]
    if snippet:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"> {snippet}", SECTION_MAX)}})
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(escape(outlets_line(alert)), SECTION_MAX)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _context(alert, tag)}]},
    ]
    text = _clip(f"[{tag}] {alert.severity.upper()} {escape(alert.title)} ({escape(outlets_line(alert))})", 3900)
    return {"text": text, "blocks": blocks}


def render_thread_reply(alert: Alert) -> dict[str, Any]:
    """An update in the story's thread: which outlet now carries it, with its link, and the new counts."""
    body = f"*{escape(alert.source)}* now carries it: {link(alert.link, alert.title)}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(body, SECTION_MAX)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(escape(outlets_line(alert)), SECTION_MAX)}]},
    ]
    return {"text": _clip(f"Update: {escape(alert.source)} — {escape(outlets_line(alert))}", 3900), "blocks": blocks}


def render_digest(alerts: list[Alert]) -> dict[str, Any]:
    """Many alerts for one channel in one message (instead of retrying into more 429s)."""
    lines = [f"• {escape(a.severity.upper())} `{escape(a.rule_id)}` {link(a.link, a.title)} ({len(a.sources)} "
             f"outlet{'s' if len(a.sources) != 1 else ''})" for a in alerts[:DIGEST_LINES]]
    if len(alerts) > DIGEST_LINES:
        lines.append(f"… and {len(alerts) - DIGEST_LINES} more")
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text",
                                                                 "text": f"{len(alerts)} more alerts (digest)"}}]
    for i in range(0, len(lines), 10):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines[i : i + 10]),
                                                                                    SECTION_MAX)}})
    return {"text": _clip(f"{len(alerts)} more alerts (digest)", 3900), "blocks": blocks}


def render_digest_text(alerts: list[Alert]) -> str:
    return "\n".join([f"[DIGEST] {len(alerts)} more alerts"] + [f"    {a.rule_id}: {a.title} · {a.link}"
                                                                  for a in alerts])
