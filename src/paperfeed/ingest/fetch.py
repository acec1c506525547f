"""A polite HTTP fetcher for arXiv: one request per interval, retries with backoff, Retry-After honoured."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from paperfeed.errors import HttpStatusError, IngestError, SourceUnreachable

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class PoliteClient:
    """GETs with a minimum interval between requests and bounded, backed-off retries.

    Retries happen on 429, 5xx, timeouts and failed connections; a ``Retry-After`` (seconds or HTTP date) is
    waited out exactly, up to ``max_retry_wait``; otherwise waits double from ``backoff`` seconds. ``sleep``
    and ``clock`` are injectable so tests can see the waits without spending them.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        min_interval: float = 3.0,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_retry_wait: float = 600.0,
        backoff: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.min_interval = min_interval
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.backoff = backoff
        self.sleep = sleep
        self.clock = clock
        self.requests = 0
        self._last: float | None = None
        self._http = httpx.Client(
            headers={"User-Agent": user_agent, **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _wait_turn(self) -> None:
        if self._last is not None:
            remaining = self._last + self.min_interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last = self.clock()

    def get(self, url: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """The body of a 200 response, or IngestError (SourceUnreachable when no answer ever came)."""
        attempt = 0
        while True:
            self._wait_turn()
            self.requests += 1
            try:
                response = self._http.get(url, params=params)
            except httpx.ConnectError as exc:  # no route, no DNS, refused: waiting here only holds up other jobs
                raise SourceUnreachable(f"{url}: cannot connect ({exc!r}); is the network up?") from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt >= self.max_retries:
                    raise SourceUnreachable(f"{url}: no answer after {attempt + 1} tries ({exc!r})") from exc
                self.sleep(self._backoff(attempt))
                attempt += 1
                continue
            if response.status_code == 200:
                if len(response.content) > MAX_RESPONSE_BYTES:
                    raise IngestError(f"{url}: response of {len(response.content)} bytes is too large")
                return response.content
            if response.status_code not in RETRY_STATUSES:
                message = f"{url}: HTTP {response.status_code}: {response.text[:200]!r}"
                raise HttpStatusError(message, response.status_code)
            if attempt >= self.max_retries:
                message = f"{url}: HTTP {response.status_code} after {attempt + 1} tries"
                raise HttpStatusError(message, response.status_code)
            self.sleep(self._retry_wait(response, attempt))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff * 2**attempt, self.max_retry_wait))

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        if header is None:
            return self._backoff(attempt)
        wait = parse_retry_after(header)
        if wait is None:
            return self._backoff(attempt)
        if wait > self.max_retry_wait:
            raise IngestError(
                f"{response.url}: server asks to retry after {wait:.0f} s, longer than max_retry_wait "
                f"{self.max_retry_wait:.0f} s; try again later"
            )
        return wait


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when unreadable."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
