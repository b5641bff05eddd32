"""Fakes that ship with the package (like structlog.testing): a Slack Web API on loopback, story factories.

`FakeSlack` is a real HTTP server that behaves like Slack's Web API for the methods newswatch uses: token
check, argument validation with Slack's error codes, Block Kit limits, `ts` values in Slack's format, and
scripted outages (429 with Retry-After, 5xx, delays). Point `slack_sdk.WebClient(base_url=fake.base_url)` at it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.model import Story


@dataclass
class Fault:
    """A scripted failure for the next matching request: HTTP `status`, optional Retry-After seconds."""

    status: int
    retry_after: int | None = None
    error: str = ""


@dataclass
class FakeSlack:
    """Records `chat.postMessage` calls in `posts`; `channels` maps names (#x) and ids to channel ids."""

    token: str = "xoxb-test-token"  # noqa: S105 (a fake server's fake token)
    channels: dict[str, str] = field(default_factory=lambda: {
        "#newswatch": "C0NEWSWATCH", "#ukraine-alerts": "C0UKRAINE01", "#alerts": "C0ALERTS001"})
    delay: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    faults: deque[Fault] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                status, headers, body = fake._handle(self.path, self.headers.get("Authorization", ""), args)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fake-slack", daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/"

    def fail_next(self, status: int, retry_after: int | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(Fault(status, retry_after))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, path: str, auth: str, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests += 1
            if self.faults:
                f = self.faults.popleft()
                headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
                err = f.error or ("ratelimited" if f.status == 429 else "internal_error")
                return f.status, headers, {"ok": False, "error": err}
            if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer "):
                return 200, {}, {"ok": False, "error": "not_authed"}
            if auth.removeprefix("Bearer ") != self.token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            method = path.rsplit("/", 1)[-1]
            if method != "chat.postMessage":
                return 404, {}, {"ok": False, "error": "unknown_method"}
            return self._post_message(args)

    def _post_message(self, args: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None and args.get("channel") in self.channels.values():
            channel = str(args["channel"])
        if channel is None:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not args.get("text") and not blocks:
            return 200, {}, {"ok": False, "error": "no_text"}
        if blocks and not _blocks_ok(blocks):
            return 200, {}, {"ok": False, "error": "invalid_blocks"}
        if len(str(args.get("text", ""))) > 40000:
            return 200, {}, {"ok": False, "error": "msg_too_long"}
        self._seq += 1
        ts = f"{1700000000 + self._seq}.{self._seq:06d}"
        self.posts.append({**args, "blocks": blocks, "channel_id": channel, "ts": ts})
        return 200, {}, {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text", "")}}


def _blocks_ok(blocks: list[dict[str, Any]]) -> bool:
    if len(blocks) > 50:
        return False
    for b in blocks:
        text = b.get("text", {}).get("text", "") if isinstance(b.get("text"), dict) else ""
        if b.get("type") == "header" and (len(text) > 150 or b["text"].get("type") != "plain_text"):
            return False
        if b.get("type") == "section" and len(text) > 3000:
            return False
        if b.get("type") == "context" and len(b.get("elements", [])) > 10:
            return False
    return True


def make_story(title: str, summary: str = "", source: str = "Outlet", *, link: str = "", guid: str = "",
               published: float = 1_672_000_000.0, fetched: float = 1_672_000_100.0, sid: str = "") -> Story:
    """A Story for tests; the id defaults to one derived from source and title."""
    return Story(
        id=sid or f"{source}:{title}"[:64], feed_url=f"http://127.0.0.1/{source}.xml", source=source,
        title=title, summary=summary, link=link, guid=guid, published=published, fetched=fetched,
    )
