"""Notifier seam (Alertmanager's `Notifier`): `send(alert) -> SendResult` with retryability classified here.

`NotifierSpec` is what gets pickled into the pipeline; the real client is built from it in `DoFn.setup()`,
reading secrets from the environment then, so the Slack token never sits in a job graph, log or repr.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from pipeline.alerts.render import render_console, render_slack
from pipeline.model import Alert, alert_to_dict

TOKEN_ENV = "SLACK_BOT_TOKEN"  # noqa: S105 (the variable name, not a token)
BASE_URL_ENV = "NEWSWATCH_SLACK_API_URL"  # for tests and proxies
DEFAULT_BASE_URL = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one send: `retryable` failures stay in the outbox and are retried next cycle."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    channel_id: str = ""
    ts: str = ""


class Notifier(Protocol):
    """Delivers one alert; `thread` is the (channel id, ts) of the story's first message, if any."""

    def send(self, alert: Alert, thread: tuple[str, str] | None = None) -> SendResult: ...


class ConsoleNotifier:
    """Prints alerts to a terminal (the default when no Slack token is set)."""

    _lock = threading.Lock()

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, alert: Alert, thread: tuple[str, str] | None = None) -> SendResult:
        with self._lock:
            out = self.stream or sys.stdout
            print(render_console(alert) + "\n", file=out, flush=True)
        return SendResult(ok=True, channel_id="console", ts=alert.key)


class JsonlNotifier:
    """Appends each alert as one JSON line (what `backtest` writes: alerts that would have been sent)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, alert: Alert, thread: tuple[str, str] | None = None) -> SendResult:
        with Path(self.path).open("a", encoding="utf-8") as f:
            f.write(json.dumps(alert_to_dict(alert), ensure_ascii=False) + "\n")
        return SendResult(ok=True, channel_id="file", ts=alert.key)


class SlackNotifier:
    """`chat.postMessage` through slack_sdk's WebClient; updates are posted as thread replies."""

    def __init__(self, token: str, base_url: str | None = None, timeout: float = 15.0) -> None:
        from slack_sdk import WebClient

        self._client = WebClient(token=token, base_url=base_url or DEFAULT_BASE_URL, timeout=int(timeout))

    def __repr__(self) -> str:
        return "SlackNotifier(token=<secret>)"

    def send(self, alert: Alert, thread: tuple[str, str] | None = None) -> SendResult:
        from slack_sdk.errors import SlackApiError

        payload = render_slack(alert)
        threaded = thread is not None and alert.kind == "update"
        try:
            resp = self._client.chat_postMessage(
                channel=thread[0] if thread and threaded else alert.channel,
                thread_ts=thread[1] if thread and threaded else None,
                text=payload["text"],
                blocks=payload["blocks"],
                unfurl_links=False,
                metadata={"event_type": "newswatch_alert", "event_payload": {"key": alert.key}},
            )
        except SlackApiError as e:
            status = e.response.status_code
            error = e.response.get("error", "") if isinstance(e.response.data, dict) else ""
            retry_after = e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
            if status == 429 or error in ("ratelimited", "rate_limited"):
                return SendResult(False, True, f"Slack rate limit (retry after {retry_after or '?'} s)")
            if status >= 500:
                return SendResult(False, True, f"Slack server error HTTP {status}")
            return SendResult(False, False, f"Slack rejected the message: {error or status}; "
                                            "check the channel name and that the bot is invited to it")
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            return SendResult(False, True, f"cannot reach Slack: {e}")
        return SendResult(True, channel_id=str(resp.get("channel", "")), ts=str(resp.get("ts", "")))


@dataclass(frozen=True, slots=True)
class NotifierSpec:
    """Picklable description of where alerts go: `console`, `slack` (token from env) or `jsonl` (a file)."""

    kind: str = "console"
    path: str = ""

    @staticmethod
    def from_env() -> NotifierSpec:
        """Slack when SLACK_BOT_TOKEN is set, else the console."""
        return NotifierSpec("slack" if os.environ.get(TOKEN_ENV) else "console")

    def build(self) -> Notifier:
        if self.kind == "slack":
            token = os.environ.get(TOKEN_ENV, "")
            if not token:
                raise RuntimeError(f"{TOKEN_ENV} is not set; export it or run without Slack (console output)")
            return SlackNotifier(token, os.environ.get(BASE_URL_ENV) or None)
        if self.kind == "jsonl":
            return JsonlNotifier(self.path)
        return ConsoleNotifier()
