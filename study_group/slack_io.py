"""The one door to Slack: a slack_sdk WebClient that retries only on HTTP 429, a client-side
throttle per rate tier, and errors that say whether Slack may have acted.

slack_sdk's default retry handler resends a request after a dropped connection, which
double-posts when Slack had already processed it; so the client gets only a rate-limit handler
(a 429 means "not processed"), whose wait runs on an injectable clock. The token is read from
the environment here and nowhere else, and never appears in a message this module raises.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler, RetryState
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse

from study_group.clock import Clock
from study_group.errors import MaybeProcessed, SlackError

TOKEN_ENV = "SLACK_BOT_TOKEN"
BASE_URL_ENV = "SLACK_API_URL"
DEFAULT_BASE_URL = "https://slack.com/api/"
# Seconds between calls of one method, a little under each tier's published rate.
TIER_INTERVAL = {2: 3.2, 3: 1.25, 4: 0.65}
METHOD_TIER = {
    "conversations.create": 2,
    "conversations.list": 2,
    "conversations.setTopic": 2,
    "bookmarks.add": 2,
    "conversations.members": 4,
}
_UNCERTAIN = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


class MissingToken(RuntimeError):
    pass


class ClockedRateLimitHandler(RateLimitErrorRetryHandler):
    """RateLimitErrorRetryHandler waiting exactly Retry-After on our clock (no jitter), so tests
    can check the wait and take no real time."""

    def __init__(self, clock: Clock, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.clock = clock
        self.waits: list[float] = []

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        value = header[0] if isinstance(header, list) else header
        wait = float(value) if value else 1.0
        self.waits.append(wait)
        self.clock.sleep(wait)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class Slack:
    """Typed calls with throttling and error mapping; counts every call it makes."""

    def __init__(self, token: str, base_url: str, clock: Clock) -> None:
        self.clock = clock
        self.rate_limit = ClockedRateLimitHandler(clock)
        self._client = WebClient(token=token, base_url=base_url, retry_handlers=[self.rate_limit], timeout=30)
        self._last: dict[str, float] = defaultdict(lambda: float("-inf"))
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:  # never show the client (and so the token) in a traceback
        return f"Slack(calls={sum(self.calls.values())})"

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One API call. SlackError: refused, not processed. MaybeProcessed: no answer."""
        interval = TIER_INTERVAL[METHOD_TIER.get(method, 3)]
        wait = self._last[method] + interval - self.clock.now()
        if wait > 0:
            self.clock.sleep(wait)
        self._last[method] = self.clock.now()
        self.calls[method] += 1
        json_methods = {"chat.scheduleMessage"}
        try:
            if method in json_methods:
                response = self._client.api_call(method, json=params)
            else:
                response = self._client.api_call(method, params=params)
        except SlackApiError as exc:
            if exc.response.status_code >= 500:  # a server error may come after the work was done
                raise MaybeProcessed(method, f"HTTP {exc.response.status_code}") from None
            raise SlackError(method, str(exc.response.get("error", "unknown_error"))) from None
        except _UNCERTAIN as exc:
            raise MaybeProcessed(method, type(exc).__name__) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def paginate(self, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = ""
        while True:
            page = (
                self.call(method, limit=200, cursor=cursor, **params)
                if cursor
                else self.call(method, limit=200, **params)
            )
            yield from page.get(key, [])
            cursor = page.get("response_metadata", {}).get("next_cursor", "")
            if not cursor:
                return


def connect(clock: Clock, base_url: str | None = None) -> Slack:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise MissingToken(f"set {TOKEN_ENV} to the bot token (xoxb-…); it is read from the environment only")
    return Slack(token, os.environ.get(BASE_URL_ENV) or base_url or DEFAULT_BASE_URL, clock)
