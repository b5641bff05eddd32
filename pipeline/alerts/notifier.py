"""Notifier seam (Alertmanager's `Notifier`): `send(alert) -> SendResult` with retryability classified here.

`NotifierSpec` is what gets pickled into the pipeline; the real client is built from it in `DoFn.setup()`,
reading secrets from the environment then, so the Slack token never sits in a job graph, log or repr.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.error
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TextIO

from pipeline.alerts.render import render_console, render_digest, render_digest_text, render_slack, render_thread_reply
from pipeline.model import Alert, alert_to_dict
from pipeline.shutdown import STOP

log = logging.getLogger("newswatch.alerts")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")

TOKEN_ENV = "SLACK_BOT_TOKEN"  # noqa: S105 (the variable name, not a token)
WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
BASE_URL_ENV = "NEWSWATCH_SLACK_API_URL"  # for tests and proxies
DEFAULT_BASE_URL = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one send. Not ok: `retryable` (certainly not delivered: retried next cycle), `unknown` (may
    have been delivered: a timeout, a dropped answer, a 5xx; looked up in Slack before any resend), or neither
    (permanent: dead-lettered with `reason`)."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    channel_id: str = ""
    ts: str = ""
    unknown: bool = False


class Notifier(Protocol):
    """Delivers alerts. `thread` is the (channel id, ts) of the story's root message and `root` the alert it
    shows (for updates); `find` says whether an alert whose send was interrupted is already there (None: not
    found, so it may be sent again)."""

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        ...

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None: ...

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult: ...


class ConsoleNotifier:
    """Prints alerts to a terminal (the default when no Slack token is set)."""

    _lock = threading.Lock()

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        with self._lock:
            out = self.stream or sys.stdout
            print(render_console(alert) + "\n", file=out, flush=True)
        return SendResult(ok=True, channel_id="console", ts=alert.key)

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None:
        return None  # a terminal cannot be asked

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult:
        with self._lock:
            print(render_digest_text(alerts) + "\n", file=self.stream or sys.stdout, flush=True)
        return SendResult(ok=True, channel_id="console", ts=alerts[0].key)


class JsonlNotifier:
    """Appends each alert as one JSON line (what `backtest` writes: alerts that would have been sent)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        with Path(self.path).open("a", encoding="utf-8") as f:
            f.write(json.dumps(alert_to_dict(alert), ensure_ascii=False) + "\n")
        return SendResult(ok=True, channel_id="file", ts=alert.key)

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None:
        if not Path(self.path).exists():
            return None
        with Path(self.path).open(encoding="utf-8") as f:
            return SendResult(True, channel_id="file", ts=alert.key) if any(alert.key in line for line in f) else None

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult:
        for a in alerts:
            self.send(a)
        return SendResult(ok=True, channel_id="file", ts=alerts[0].key)


class Pacer:
    """Per-channel token buckets: `rate` messages a second with bursts of `burst` (Slack: about 1 message a
    second per channel). `wait` sleeps until the channel may post; `hold` pauses a channel (Retry-After)."""

    def __init__(self, rate: float = 1.0, burst: int = 5) -> None:
        self.rate, self.burst = rate, burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._held: dict[str, float] = {}

    def delay(self, channel: str) -> float:
        """Seconds until `channel` may post; takes the token when it is 0."""
        with self._lock:
            now = time.monotonic()
            held = self._held.get(channel, 0.0) - now
            tokens, at = self._buckets.get(channel, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if held > 0 or tokens < 1:
                self._buckets[channel] = (tokens, now)
                return max(held, (1 - tokens) / self.rate)
            self._buckets[channel] = (tokens - 1, now)
            return 0.0

    def wait(self, channel: str) -> None:
        while (d := self.delay(channel)) > 0:
            if STOP.wait(min(d, 1.0)):
                return

    def hold(self, channel: str, seconds: float) -> None:
        with self._lock:
            self._held[channel] = max(self._held.get(channel, 0.0), time.monotonic() + seconds)


# Slack errors that no retry will fix: the alert is dead-lettered until someone acts.
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "missing_scope", "no_permission", "restricted_action", "invalid_blocks",
    "msg_too_long", "no_text", "invalid_metadata_format", "invalid_thread_ts", "thread_not_found",
    "message_not_found", "cant_update_message", "edit_window_closed", "invalid_arguments",
})
_PACERS: dict[tuple[float, int], Pacer] = {}


class SlackNotifier:
    """slack_sdk's WebClient: `chat.postMessage` with message metadata carrying the idempotency key;
    updates edit the story's root message (`chat.update`) and/or reply in its thread, as the rule says.

    Retries: a 429 is retried once by slack_sdk's RateLimitErrorRetryHandler after Retry-After (and pauses the
    channel); nothing else is retried in the client — in particular not a dropped connection, which may have
    posted (slack_sdk's default ConnectionErrorRetryHandler would post twice). Those come back `unknown`, and
    the outbox looks the key up with `find` before sending again."""

    def __init__(self, token: str, base_url: str | None = None, timeout: float = 15.0, pace: float = 1.0,
                 burst: int = 5) -> None:
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        self._client = WebClient(token=token, base_url=base_url or DEFAULT_BASE_URL, timeout=max(1, int(timeout)),
                                 retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
        self._pacer = _PACERS.setdefault((pace, burst), Pacer(pace, burst))
        self._ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return "SlackNotifier(token=<secret>)"

    def __reduce__(self) -> Any:
        raise TypeError("SlackNotifier holds a token and is not picklable; pickle a NotifierSpec instead")

    def _call(self, method: str, pace_key: str, /, **kwargs: Any) -> tuple[dict[str, Any] | None, SendResult | None]:
        """One API call, paced per channel for writes; (response data, None) or (None, failure)."""
        from slack_sdk.errors import SlackApiError

        if method in ("chat_postMessage", "chat_update"):
            self._pacer.wait(pace_key)
        try:
            resp = getattr(self._client, method)(**kwargs)
        except SlackApiError as e:
            status = e.response.status_code
            error = e.response.get("error", "") if isinstance(e.response.data, dict) else ""
            retry_after = e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
            if status == 429 or error in ("ratelimited", "rate_limited"):
                from pipeline.health import SLACK_429

                SLACK_429.inc()
                self._pacer.hold(pace_key, float(retry_after or 1))
                return None, SendResult(False, True, f"Slack rate limit (retry after {retry_after or '?'} s)")
            if status >= 500:
                return None, SendResult(False, reason=f"Slack server error HTTP {status}", unknown=True)
            if error in PERMANENT or 400 <= status < 500:
                return None, SendResult(False, False, f"Slack rejected the message: {error or status}")
            return None, SendResult(False, True, f"Slack error: {error}")
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
            return None, SendResult(False, reason=f"no answer from Slack ({type(e).__name__}: {e})", unknown=True)
        return dict(resp.data) if isinstance(resp.data, dict) else {}, None

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        meta = {"event_type": "newswatch_alert", "event_payload": {"key": alert.key}}
        if alert.kind == "update" and thread is not None:
            channel_id, root_ts = thread
            edited: SendResult | None = None
            if alert.updates in ("edit", "both") and root is not None:
                shown = replace(root, sources=alert.sources, independent=alert.independent)
                payload = render_slack(shown)
                _, failure = self._call("chat_update", channel_id, channel=channel_id, ts=root_ts,
                                        text=payload["text"], blocks=payload["blocks"])
                edited = failure or SendResult(True, channel_id=channel_id, ts=root_ts)
                if alert.updates == "edit":
                    return edited  # an edit is idempotent: a failed one is simply retried
                if failure is not None:
                    log.warning("could not edit the root message of %s (%s); the thread reply still goes out",
                                alert.rule_id, failure.reason)
            reply = render_thread_reply(alert)
            data, failure = self._call("chat_postMessage", channel_id, channel=channel_id, thread_ts=root_ts,
                                       text=reply["text"], blocks=reply["blocks"], unfurl_links=False, metadata=meta)
            if failure is not None:
                return failure
            assert data is not None
            return SendResult(True, channel_id=str(data.get("channel", channel_id)), ts=str(data.get("ts", "")))
        payload = render_slack(alert)
        data, failure = self._call("chat_postMessage", alert.channel, channel=alert.channel, text=payload["text"],
                                   blocks=payload["blocks"], unfurl_links=False, metadata=meta)
        if failure is not None:
            if not failure.retryable and not failure.unknown:
                return replace(failure, reason=failure.reason + f"; check that channel {alert.channel} exists and "
                                                                "the bot is invited to it")
            return failure
        assert data is not None
        return SendResult(True, channel_id=str(data.get("channel", "")), ts=str(data.get("ts", "")))

    def _channel_id(self, name: str) -> str | None:
        if CHANNEL_ID.match(name):
            return name
        if not self._ids:
            data, _ = self._call("conversations_list", name, types="public_channel,private_channel", limit=1000)
            for c in (data or {}).get("channels", []):
                self._ids["#" + c["name"]] = c["id"]
        return self._ids.get(name if name.startswith("#") else "#" + name)

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None:
        """Look for the alert's key in message metadata: the thread's replies for an update, else the channel's
        history since the alert was reserved. A failed lookup comes back `unknown` (try again later)."""
        if alert.kind == "update" and thread is not None:
            channel_id: str | None = thread[0]
            data, failure = self._call("conversations_replies", thread[0], channel=thread[0], ts=thread[1],
                                       include_all_metadata=True, limit=200)
            pages = [data]
        else:
            channel_id = self._channel_id(alert.channel)
            if channel_id is None:
                return None
            pages, failure, cursor = [], None, ""
            for _ in range(10):
                data, failure = self._call("conversations_history", channel_id, channel=channel_id,
                                           oldest=f"{max(0.0, since - 300):.6f}", include_all_metadata=True,
                                           limit=200, **({"cursor": cursor} if cursor else {}))
                pages.append(data)
                cursor = ((data or {}).get("response_metadata") or {}).get("next_cursor", "")
                if failure is not None or not cursor:
                    break
        if failure is not None:
            return replace(failure, retryable=False, unknown=True)
        for data in pages:
            for m in (data or {}).get("messages", []):
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == alert.key or alert.key in payload.get("keys", ()):
                    return SendResult(True, channel_id=channel_id or "", ts=str(m.get("ts", "")))
        return None

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult:
        payload = render_digest(alerts)
        meta = {"event_type": "newswatch_digest", "event_payload": {"keys": [a.key for a in alerts]}}
        data, failure = self._call("chat_postMessage", channel, channel=channel, text=payload["text"],
                                   blocks=payload["blocks"], unfurl_links=False, metadata=meta)
        if failure is not None:
            return failure
        assert data is not None
        return SendResult(True, channel_id=str(data.get("channel", "")), ts=str(data.get("ts", "")))


class WebhookNotifier:
    """An incoming webhook, for workspaces without a bot: one fixed channel, no threads, no edits, no message
    metadata — updates are posted as new messages, and an interrupted send cannot be looked up, so delivery is
    at least once (an interrupted send may show twice)."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        from slack_sdk.webhook import WebhookClient

        self._client = WebhookClient(url, timeout=max(1, int(timeout)))

    def __repr__(self) -> str:
        return "WebhookNotifier(url=<secret>)"

    def __reduce__(self) -> Any:
        raise TypeError("WebhookNotifier holds a secret URL and is not picklable; pickle a NotifierSpec instead")

    def _post(self, payload: dict[str, Any]) -> SendResult:
        try:
            resp = self._client.send(text=payload["text"], blocks=payload["blocks"], unfurl_links=False)
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as e:
            return SendResult(False, True, f"no answer from the Slack webhook ({type(e).__name__})")
        if resp.status_code == 200:
            return SendResult(True, channel_id="webhook", ts="")
        if resp.status_code == 429 or resp.status_code >= 500:
            return SendResult(False, True, f"Slack webhook HTTP {resp.status_code} {resp.body}")
        return SendResult(False, False, f"Slack webhook rejected the message: HTTP {resp.status_code} {resp.body}")

    def send(self, alert: Alert, thread: tuple[str, str] | None = None, root: Alert | None = None) -> SendResult:
        return self._post(render_slack(alert))

    def find(self, alert: Alert, thread: tuple[str, str] | None, since: float) -> SendResult | None:
        return None

    def send_digest(self, channel: str, alerts: list[Alert]) -> SendResult:
        return self._post(render_digest(alerts))


@dataclass(frozen=True, slots=True)
class NotifierSpec:
    """Picklable description of where alerts go: `console`, `slack` (token from SLACK_BOT_TOKEN), `webhook`
    (URL from SLACK_WEBHOOK_URL) or `jsonl` (a file); `pace`/`burst`: messages a second per channel;
    `timeout`: seconds per Slack call."""

    kind: str = "console"
    path: str = ""
    pace: float = 1.0
    burst: int = 5
    timeout: float = 15.0

    @staticmethod
    def from_env(pace: float = 1.0, burst: int = 5, timeout: float = 15.0) -> NotifierSpec:
        """Slack when SLACK_BOT_TOKEN is set, a webhook when SLACK_WEBHOOK_URL is, else the console."""
        kind = "slack" if os.environ.get(TOKEN_ENV) else "webhook" if os.environ.get(WEBHOOK_ENV) else "console"
        return NotifierSpec(kind, pace=pace, burst=burst, timeout=timeout)

    def build(self) -> Notifier:
        if self.kind == "slack":
            token = os.environ.get(TOKEN_ENV, "")
            if not token:
                raise RuntimeError(f"{TOKEN_ENV} is not set; export it or run without Slack (console output)")
            return SlackNotifier(token, os.environ.get(BASE_URL_ENV) or None, self.timeout, self.pace, self.burst)
        if self.kind == "webhook":
            url = os.environ.get(WEBHOOK_ENV, "")
            if not url:
                raise RuntimeError(f"{WEBHOOK_ENV} is not set; export it or run without Slack (console output)")
            return WebhookNotifier(url, self.timeout)
        if self.kind == "jsonl":
            return JsonlNotifier(self.path)
        return ConsoleNotifier()
