"""A fake Slack Web API on loopback, reusable by users' own tests (`from pipeline.testing import FakeSlack`).

A real HTTP server that behaves like Slack for the methods newswatch uses — `chat.postMessage`,
`chat.update`, `conversations.history`, `conversations.replies`, `conversations.list` — and an incoming
webhook (`/hooks/...`). It validates like Slack (per ../shared/data/slack/slack-api-specs): bearer token
(`not_authed`, `invalid_auth`), channel names and ids (`^[CGD][A-Z0-9]{8,}$`; `channel_not_found`,
`not_in_channel`), `text` or `blocks` required (`no_text`), Block Kit limits (`invalid_blocks`), 40,000
characters (`msg_too_long`), `ts` / `thread_ts` format `^\\d{10}\\.\\d{6}$` and existence (`invalid_ts`,
`thread_not_found`, `message_not_found`), message `metadata` shape (`invalid_metadata_format`).

Faults, scripted (`fail_next`) or random (`chaos`): HTTP 429 with Retry-After, 5xx, a response that comes
after the client gave up (`timeout`: the message IS posted), and a dropped connection after the message was
posted (`drop`) — the last two are the cases that make naive retries double-post.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TS_RE = re.compile(r"^\d{10}\.\d{6}$")
CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{8,}$")
FAULT_KINDS = ("429", "500", "503", "timeout", "drop")


@dataclass
class Fault:
    """A scripted failure: HTTP `status` (with Retry-After seconds for 429), or `kind` "timeout" (answer
    only after `seconds`) or "drop" (no answer at all); `method` limits it to one API method."""

    status: int = 500
    retry_after: int | None = None
    error: str = ""
    kind: str = "http"
    method: str = ""
    seconds: float = 3.0


@dataclass
class FakeSlack:
    """Messages live in `messages[channel_id]`; successful `chat.postMessage` calls are also in `posts`, edits in
    `updates`, webhook posts in `webhook_posts`. `channels` maps names (#x) to ids; `not_joined` are ids the
    bot was not invited to."""

    token: str = "xoxb-test-token"  # noqa: S105 (a fake server's fake token)
    channels: dict[str, str] = field(default_factory=lambda: {
        "#newswatch": "C0NEWSWATCH", "#ukraine-alerts": "C0UKRAINE01", "#alerts": "C0ALERTS001"})
    not_joined: set[str] = field(default_factory=set)
    delay: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: int = 0
    faults: deque[Fault] = field(default_factory=deque)
    faults_served: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._last_ts = 0.0
        self._chaos: tuple[float, random.Random, tuple[str, ...], tuple[str, ...]] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                args = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                self._serve(url.path, args)

            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                args.update({k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()})
                self._serve(url.path, args)

            def _serve(self, path: str, args: dict[str, Any]) -> None:
                status, headers, body, after = fake._handle(path, self.headers.get("Authorization", ""), args)
                if after == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if after:
                    time.sleep(float(after))
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain" if isinstance(body, str) else
                                     "application/json; charset=utf-8")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up first
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fake-slack", daemon=True).start()

    # --- control ---
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hooks/T000/B000/XXXX"

    def fail_next(self, status: int = 500, retry_after: int | None = None, times: int = 1, *, kind: str = "http",
                  method: str = "", seconds: float = 3.0, error: str = "") -> None:
        """Script the next `times` matching requests to fail."""
        for _ in range(times):
            self.faults.append(Fault(status, retry_after, error, kind, method, seconds))

    def chaos(self, rate: float, seed: int = 0, kinds: tuple[str, ...] = FAULT_KINDS,
              methods: tuple[str, ...] = ("chat.postMessage", "chat.update")) -> None:
        """From now on, each request to `methods` fails with probability `rate`, with one of `kinds`."""
        self._chaos = (rate, random.Random(seed), kinds, methods)  # noqa: S311 (fault injection, not crypto)

    def calm(self) -> None:
        self._chaos = None
        self.faults.clear()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def keys(self) -> list[str]:
        """Idempotency keys of every message in every channel (thread replies and digests included)."""
        out = []
        for msgs in self.messages.values():
            for m in msgs:
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                out += [payload["key"]] if "key" in payload else list(payload.get("keys", []))
        return out

    # --- serving ---
    def _fault(self, method: str) -> Fault | None:
        for i, f in enumerate(self.faults):
            if not f.method or f.method == method:
                del self.faults[i]
                return f
        if self._chaos and method in self._chaos[3]:
            rate, rng, kinds, _ = self._chaos
            if rng.random() < rate:
                kind = rng.choice(kinds)
                if kind in ("timeout", "drop"):
                    return Fault(kind=kind, seconds=3.0)
                return Fault(int(kind), retry_after=1 if kind == "429" else None)
        return None

    def _handle(self, path: str, auth: str, args: dict[str, Any]) -> tuple[int, dict[str, str], Any, str]:
        if self.delay:
            time.sleep(self.delay)
        method = path.rsplit("/", 1)[-1] if path.startswith("/api/") else "webhook"
        with self._lock:
            self.requests += 1
            fault = self._fault(method)
            if fault is not None and fault.kind == "http":
                self.faults_served.append(str(fault.status))
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                err = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
                if method == "webhook":
                    return fault.status, headers, err, ""
                return fault.status, headers, {"ok": False, "error": err}, ""
            body: Any
            if method == "webhook":
                (status, body), headers = self._webhook(path, args), {}
            else:
                status, headers, body = self._api(method, auth, args)
            after = ""
            if fault is not None:  # the request was processed; the answer is late or never comes
                self.faults_served.append(fault.kind)
                after = "drop" if fault.kind == "drop" else str(fault.seconds)
            return status, headers, body, after

    def _api(self, method: str, auth: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else str(args.get("token", ""))
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = {"chat.postMessage": self._post_message, "chat.update": self._update,
                   "conversations.history": self._history, "conversations.replies": self._replies,
                   "conversations.list": self._list}.get(method)
        if handler is None:
            return 404, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(args)

    def _channel(self, name: Any) -> tuple[str | None, str]:
        name = str(name or "")
        cid = self.channels.get(name) or self.channels.get("#" + name)
        if cid is None and CHANNEL_ID_RE.match(name) and name in self.channels.values():
            cid = name
        if cid is None:
            return None, "channel_not_found"
        if cid in self.not_joined:
            return None, "not_in_channel"
        return cid, ""

    def _content_error(self, args: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None, Any]:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not args.get("text") and not blocks:
            return "no_text", None, None
        if blocks and not blocks_ok(blocks):
            return "invalid_blocks", None, None
        if len(str(args.get("text", ""))) > 40000:
            return "msg_too_long", None, None
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and (not isinstance(metadata, dict) or not metadata.get("event_type")
                                     or not isinstance(metadata.get("event_payload"), dict)):
            return "invalid_metadata_format", None, None
        return "", blocks, metadata

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, error = self._channel(args.get("channel"))
        if cid is None:
            return {"ok": False, "error": error}
        error, blocks, metadata = self._content_error(args)
        if error:
            return {"ok": False, "error": error}
        thread_ts = args.get("thread_ts")
        if thread_ts:
            if not TS_RE.match(str(thread_ts)):
                return {"ok": False, "error": "invalid_thread_ts"}
            if not any(m["ts"] == thread_ts for m in self.messages.get(cid, [])):
                return {"ok": False, "error": "thread_not_found"}
        self._seq += 1
        self._last_ts = max(time.time(), self._last_ts + 0.000001)  # like Slack: the post's time, unique
        ts = f"{self._last_ts:.6f}"
        msg = {"ts": ts, "text": args.get("text", ""), "blocks": blocks, "metadata": metadata,
               "thread_ts": thread_ts or None}
        self.messages.setdefault(cid, []).append(msg)
        self.posts.append({**args, "blocks": blocks, "metadata": metadata, "channel_id": cid, "ts": ts})
        return {"ok": True, "channel": cid, "ts": ts, "message": {"text": msg["text"]}}

    def _message_ref(self, args: dict[str, Any]) -> tuple[str, str, str]:
        """(channel id, ts, error) of the message an update or a thread lookup names."""
        cid, error = self._channel(args.get("channel"))
        ts = str(args.get("ts") or "")
        if cid is None:
            return "", ts, error
        return cid, ts, "" if TS_RE.match(ts) else "invalid_ts"

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, ts, error = self._message_ref(args)
        if error:
            return {"ok": False, "error": error}
        msg = next((m for m in self.messages.get(cid, []) if m["ts"] == ts), None)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        error, blocks, _ = self._content_error(args)
        if error:
            return {"ok": False, "error": error}
        msg.update(text=args.get("text", ""), blocks=blocks, edited=msg.get("edited", 0) + 1)
        self.updates.append({**args, "blocks": blocks, "channel_id": cid})
        return {"ok": True, "channel": cid, "ts": ts, "text": msg["text"]}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, error = self._channel(args.get("channel"))
        if cid is None:
            return {"ok": False, "error": error}
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 9e12)
        top = [m for m in self.messages.get(cid, []) if not m["thread_ts"] and oldest <= float(m["ts"]) <= latest]
        return self._page(list(reversed(top)), args)

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, ts, error = self._message_ref(args)
        if error:
            return {"ok": False, "error": error}
        thread = [m for m in self.messages.get(cid, []) if m["ts"] == ts or m["thread_ts"] == ts]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(thread, args)

    def _page(self, msgs: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(args.get("limit") or 100), 1000)
        start = int(args.get("cursor") or 0)
        page = msgs[start : start + limit]
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        out = [{"type": "message", "ts": m["ts"], "text": m["text"], "blocks": m["blocks"],
                **({"thread_ts": m["thread_ts"]} if m["thread_ts"] else {}),
                **({"metadata": m["metadata"]} if with_meta and m["metadata"] else {})} for m in page]
        more = start + limit < len(msgs)
        return {"ok": True, "messages": out, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _list(self, args: dict[str, Any]) -> dict[str, Any]:
        chans = [{"id": cid, "name": name.lstrip("#"), "is_member": cid not in self.not_joined}
                 for name, cid in self.channels.items()]
        return {"ok": True, "channels": chans, "response_metadata": {"next_cursor": ""}}

    def _webhook(self, path: str, args: dict[str, Any]) -> tuple[int, str]:
        if not path.startswith("/hooks/T000/B000/"):
            return 404, "no_service"
        if not args.get("text") and not args.get("blocks"):
            return 400, "no_text"
        blocks = args.get("blocks")
        if blocks and not blocks_ok(blocks):
            return 400, "invalid_blocks"
        self.webhook_posts.append(args)
        return 200, "ok"


def blocks_ok(blocks: list[dict[str, Any]]) -> bool:
    """Slack's Block Kit limits for the blocks newswatch sends."""
    if len(blocks) > 50:
        return False
    for b in blocks:
        text = b.get("text", {}).get("text", "") if isinstance(b.get("text"), dict) else ""
        if b.get("type") == "header" and (len(text) > 150 or b["text"].get("type") != "plain_text"):
            return False
        if b.get("type") == "section" and len(text) > 3000:
            return False
        if b.get("type") == "context" and (len(b.get("elements", [])) > 10 or any(
                len(e.get("text", "")) > 3000 for e in b.get("elements", []))):
            return False
    return True
