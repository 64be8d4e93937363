"""A Slack Web API server on loopback that behaves like Slack for the methods the tooling uses.

It keeps state (users, channels, members, topics, bookmarks, scheduled and posted messages),
answers with Slack's real error codes (time_too_far, time_in_past, restricted_too_many,
name_taken, already_in_channel, channel_not_found, not_in_channel, invalid_auth, users_not_found,
invalid_scheduled_message_id), rate-limits per method tier with HTTP 429 and Retry-After, and can
be told to fail the next call to a method in one of three ways: 429, an error code, or
"process the request, then drop the connection" (the case that makes blind retries double-post).
Used by the tests and the benchmark.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from study_group.clock import Clock

MAX_SCHEDULE_AHEAD_S = 120 * 86400
SCHEDULE_WINDOW_S = 300
SCHEDULE_WINDOW_MAX = 30
# calls per minute, by Slack's published tiers
TIERS = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "auth.test": 4,
    "users.lookupByEmail": 3,
    "conversations.create": 2,
    "conversations.list": 2,
    "conversations.join": 3,
    "conversations.invite": 3,
    "conversations.members": 4,
    "conversations.setTopic": 2,
    "conversations.open": 3,
    "bookmarks.add": 2,
    "bookmarks.list": 3,
    "chat.scheduleMessage": 3,
    "chat.scheduledMessages.list": 3,
    "chat.deleteScheduledMessage": 3,
}


class _Drop(Exception):
    """Raised after a request was processed, to close the connection without an answer."""


class SlackFault(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    topic: str = ""
    bookmarks: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeSlack:
    """The workspace state and the request handling, independent of HTTP."""

    clock: Clock
    token: str = "xoxb-fake-token"
    bot_user: str = "UBOT"
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # email -> {id, tz}
    channels: dict[str, Channel] = field(default_factory=dict)
    scheduled: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    enforce_rate_limits: bool = True
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _calls: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- set-up and inspection ---------------------------------------------------------------

    def add_user(self, email: str, tz: str = "UTC") -> str:
        uid = f"U{next(self._ids):06d}"
        self.users[email.lower()] = {"id": uid, "tz": tz}
        return uid

    def fail_next(self, method: str, how: str) -> None:
        """`how`: 'ratelimit:<seconds>', 'drop' (process, then drop the connection) or an error code."""
        self.faults[method].append(how)

    def deliver_due(self) -> None:
        """Post every scheduled message whose time has come (Slack does this on its own)."""
        with self.lock:
            now = self.clock.now()
            for sid, msg in sorted(self.scheduled.items(), key=lambda kv: kv[1]["post_at"]):
                if msg["post_at"] <= now:
                    self.posted.append({**msg, "scheduled_message_id": sid})
                    del self.scheduled[sid]

    def calls(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.requests if method in (None, m))

    # --- dispatch ----------------------------------------------------------------------------

    def handle(
        self, method: str, auth: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Returns (status, headers, body); raises _Drop to cut the connection after acting."""
        with self.lock:
            self.requests.append((method, params))
            fault = self.faults[method].popleft() if self.faults.get(method) else None
            if fault and fault.startswith("ratelimit"):
                return 429, {"Retry-After": fault.partition(":")[2] or "30"}, {"ok": False, "error": "ratelimited"}
            if auth != f"Bearer {self.token}":
                return 200, {}, {"ok": False, "error": "invalid_auth" if auth else "not_authed"}
            limited = self._rate_limited(method)
            if limited:
                return 429, {"Retry-After": str(limited)}, {"ok": False, "error": "ratelimited"}
            if fault and fault != "drop":
                return 200, {}, {"ok": False, "error": fault}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {}, {"ok": False, "error": "unknown_method"}
            try:
                body = {"ok": True, **handler(params)}
            except SlackFault as exc:
                body = {"ok": False, "error": exc.code}
            if fault == "drop":
                raise _Drop
            return 200, {}, body

    def _rate_limited(self, method: str) -> int:
        if not self.enforce_rate_limits:
            return 0
        per_minute = TIERS[METHOD_TIER.get(method, 3)]
        now = self.clock.now()
        window = self._calls[method]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            return max(1, int(window[0] + 60 - now) + 1)
        window.append(now)
        return 0

    # --- methods -----------------------------------------------------------------------------

    def _channel(self, params: dict[str, Any]) -> Channel:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None:
            raise SlackFault("channel_not_found")
        return channel

    def _member_channel(self, params: dict[str, Any]) -> Channel:
        channel = self._channel(params)
        if self.bot_user not in channel.members:
            raise SlackFault("not_in_channel")
        return channel

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": self.bot_user}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("email", "")).lower())
        if user is None:
            raise SlackFault("users_not_found")
        return {"user": {"id": user["id"], "tz": user["tz"]}}

    def _conversations_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("name", ""))
        if any(c.name == name for c in self.channels.values()):
            raise SlackFault("name_taken")
        if not name or len(name) > 80 or any(ch not in "abcdefghijklmnopqrstuvwxyz0123456789-_" for ch in name):
            raise SlackFault("invalid_name_specials")
        private = str(params.get("is_private", "false")).lower() in ("true", "1")
        cid = f"C{next(self._ids):06d}"
        self.channels[cid] = Channel(cid, name, private, members={self.bot_user})
        return {"channel": {"id": cid, "name": name}}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = sorted((c for c in self.channels.values() if not c.is_im), key=lambda c: c.id)
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = listed[start : start + limit]
        cursor = str(start + limit) if start + limit < len(listed) else ""
        return {
            "channels": [{"id": c.id, "name": c.name, "is_member": self.bot_user in c.members} for c in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel.is_private:
            raise SlackFault("method_not_supported_for_channel_type")
        channel.members.add(self.bot_user)
        return {"channel": {"id": channel.id}}

    def _conversations_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users or len(users) > 1000:
            raise SlackFault("too_many_users" if users else "no_user")
        known = {u["id"] for u in self.users.values()}
        if any(u not in known for u in users):
            raise SlackFault("user_not_found")
        if any(u in channel.members for u in users):  # without force=true, one member fails the call
            raise SlackFault("already_in_channel")
        channel.members.update(users)
        return {"channel": {"id": channel.id}}

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"members": sorted(self._channel(params).members), "response_metadata": {"next_cursor": ""}}

    def _conversations_setTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(params)
        channel.topic = str(params.get("topic", ""))[:250]
        return {"channel": {"id": channel.id, "topic": {"value": channel.topic}}}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = sorted(u for u in str(params.get("users", "")).split(",") if u)
        if not 1 <= len(users) <= 8:
            raise SlackFault("too_many_users" if users else "users_list_not_supplied")
        members = {*users, self.bot_user}
        for channel in self.channels.values():
            if channel.is_im and channel.members == members:
                return {"channel": {"id": channel.id}}
        cid = f"D{next(self._ids):06d}"
        self.channels[cid] = Channel(cid, "", True, is_im=True, members=members)
        return {"channel": {"id": cid}}

    def _bookmarks_add(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel({"channel": params.get("channel_id")})
        bookmark = {
            "id": f"Bk{next(self._ids):06d}",
            "title": str(params.get("title")),
            "link": str(params.get("link")),
        }
        channel.bookmarks.append(bookmark)
        return {"bookmark": bookmark}

    def _bookmarks_list(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"bookmarks": list(self._channel({"channel": params.get("channel_id")}).bookmarks)}

    def _chat_scheduleMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if not channel.is_im and self.bot_user not in channel.members:
            raise SlackFault("not_in_channel")
        post_at = int(params.get("post_at", 0))
        now = self.clock.now()
        if post_at <= now:
            raise SlackFault("time_in_past")
        if post_at > now + MAX_SCHEDULE_AHEAD_S:
            raise SlackFault("time_too_far")
        close = [
            m
            for m in self.scheduled.values()
            if m["channel"] == channel.id and abs(m["post_at"] - post_at) < SCHEDULE_WINDOW_S
        ]
        if len(close) >= SCHEDULE_WINDOW_MAX:
            raise SlackFault("restricted_too_many")
        sid = f"Q{next(self._ids):08d}"
        self.scheduled[sid] = {"channel": channel.id, "post_at": post_at, "text": str(params.get("text", ""))}
        return {"channel": channel.id, "scheduled_message_id": sid, "post_at": post_at}

    def _chat_scheduledMessages_list(self, params: dict[str, Any]) -> dict[str, Any]:
        items = sorted(self.scheduled.items(), key=lambda kv: (kv[1]["post_at"], kv[0]))
        if params.get("channel"):
            items = [kv for kv in items if kv[1]["channel"] == params["channel"]]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        page = items[start : start + limit]
        cursor = str(start + limit) if start + limit < len(items) else ""
        return {
            "scheduled_messages": [
                {"id": sid, "channel_id": m["channel"], "post_at": m["post_at"], "date_created": 0, "text": m["text"]}
                for sid, m in page
            ],
            "response_metadata": {"next_cursor": cursor},
        }

    def _chat_deleteScheduledMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        sid = str(params.get("scheduled_message_id"))
        msg = self.scheduled.get(sid)
        if msg is None or msg["channel"] != params.get("channel"):
            raise SlackFault("invalid_scheduled_message_id")
        del self.scheduled[sid]
        return {}


def _handler_for(state: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state, not logs
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if "json" in (self.headers.get("Content-Type") or ""):
                params = json.loads(raw or "{}")
            else:
                params = dict(parse_qsl(raw))
            if "?" in self.path:
                params.update(parse_qsl(self.path.split("?", 1)[1]))
            method = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            try:
                status, headers, body = state.handle(method, self.headers.get("Authorization"), params)
            except _Drop:
                self.close_connection = True
                return
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class FakeSlackServer:
    """`with FakeSlackServer(FakeSlack(clock)) as server: server.base_url …` on 127.0.0.1."""

    def __init__(self, state: FakeSlack, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/api/"

    def __enter__(self) -> FakeSlackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
