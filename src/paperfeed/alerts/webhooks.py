"""Webhooks: a reader's URL that receives a JSON POST per batch of new matches of their follows.

- **Where it may point.** http or https only, no user name or password in it, and a host that resolves only to
  public addresses. Loopback, private, link-local, multicast and reserved addresses are refused unless the admin
  allows them (Settings.webhook_allow_private), so a webhook cannot reach the server's own network. The check
  runs when the URL is set and again before every delivery (the name may resolve elsewhere by then). Redirects
  are not followed.
- **What it gets.** ``{"event": "papers.matched", "reader", "papers": [...], "text"}``. ``text`` is a
  Slack-compatible summary: a Slack or Mattermost incoming-webhook URL shows it as is.
- **How it is signed.** ``X-Paperfeed-Signature: sha256=<hex>``, the HMAC-SHA256 under the webhook's secret of
  ``<X-Paperfeed-Timestamp>.<body>``. ``X-Paperfeed-Delivery`` is the delivery's id, the same on every retry, so a
  receiver can drop repeats.
- **Delivery.** Through the outbox that mail uses. A 2xx is delivered. A 408, 429, 5xx or a network error is
  retried with backoff, up to MAX_ATTEMPTS. Any other status fails at once. After DISABLE_AFTER failed
  deliveries in a row the webhook is switched off, with the reason shown on the reader's follows page.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import orjson

from paperfeed.errors import BadRequest
from paperfeed.models import Follow, Paper, User, Webhook
from paperfeed.store import Store

MAX_URL = 2000
MAX_ATTEMPTS = 6
DISABLE_AFTER = 5
BACKOFF = timedelta(minutes=1)  # then 2, 4, 8, 16 minutes
CLAIM = 200
Resolve = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (blocking: call it from a worker thread)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise BadRequest(f"url: cannot resolve host {host!r} ({exc})") from None


def check_url(url: str, *, allow_private: bool, lookup: Resolve = resolve) -> str:
    """``url`` once it is a webhook paperfeed may call, or BadRequest naming ``url`` and the reason."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise BadRequest(f"url must be an http or https address of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadRequest("url is not a valid address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("url must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise BadRequest("url must not carry a user name or password")
    for address in lookup(parts.hostname, port):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not allow_private and not ip.is_global:
            raise BadRequest(
                f"url resolves to {ip}, a private, loopback or reserved address: webhooks may only reach the public "
                "internet (an admin can allow private addresses)"
            )
    return url


def set_webhook(store: Store, user: User, url: str, *, allow_private: bool) -> Webhook:
    """Point the reader's webhook at ``url`` (checked; BadRequest names ``url``) with a new signing secret."""
    return store.set_webhook(user.id, check_url(url, allow_private=allow_private), secrets.token_hex(24),
                             datetime.now(UTC))  # fmt: skip


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def payload(reader: str, matches: Sequence[tuple[Paper, Follow]], base_url: str) -> bytes:
    """The JSON body of one batch."""
    papers = [
        {"id": p.arxiv_id, "title": p.title, "url": f"{base_url}/papers/{p.arxiv_id}", "arxiv": p.links["abs"],
         "authors": [a.name for a in p.authors][:50], "categories": list(p.categories),
         "feedDate": p.feed_date.isoformat() if p.feed_date else None,
         "follow": {"kind": f.kind, "value": f.value}}
        for p, f in matches
    ]  # fmt: skip
    lines = [f"{len(papers)} new paper{'s' if len(papers) != 1 else ''} for {reader} on paperfeed:"]
    lines += [f"• <{p['url']}|{_slack(str(p['title']))}>" for p in papers[:20]]
    if len(papers) > 20:
        lines.append(f"… and {len(papers) - 20} more")
    return orjson.dumps({"event": "papers.matched", "reader": reader, "papers": papers, "text": "\n".join(lines)})


def _slack(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally (its three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class HookReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0


def deliver(
    store: Store, http: httpx.Client, *, allow_private: bool, user_agent: str, lookup: Resolve = resolve,
    now: Callable[[], datetime] = lambda: datetime.now(UTC), limit: int | None = None,
) -> HookReport:  # fmt: skip
    """Deliver every webhook batch that is due, in rounds of CLAIM (each claimed by this sender alone)."""
    delivered = retried = failed = disabled = 0
    while limit is None or delivered + failed < limit:
        claimed = store.claim_due(now(), CLAIM, now() - timedelta(minutes=10), channel="webhook")
        if not claimed:
            break
        for item in claimed:
            hook = store.webhook_by_id(item.webhook_id) if item.webhook_id is not None else None
            if hook is None or not hook.active:
                store.mark_failed_webhook(item.id, "the webhook was removed or switched off", now(), DISABLE_AFTER)
                failed += 1
                continue
            error, retry = _post(http, hook.url, hook.secret, item.message_id, item.message, allow_private,
                                 user_agent, lookup)  # fmt: skip
            if error is None:
                store.mark_sent(item.id, now())
                store.webhook_delivered(hook.id, now())
                delivered += 1
            elif retry and item.attempts < MAX_ATTEMPTS:
                store.mark_retry(item.id, error, now() + BACKOFF * 2 ** (item.attempts - 1))
                retried += 1
            else:
                failed += 1
                disabled += store.mark_failed_webhook(item.id, error, now(), DISABLE_AFTER)
    return HookReport(delivered, retried, failed, disabled)


def _post(http: httpx.Client, url: str, secret: str, delivery: str, body: bytes, allow_private: bool,
          user_agent: str, lookup: Resolve) -> tuple[str | None, bool]:  # fmt: skip
    """(None, _) when delivered; else (the error, whether to retry)."""
    try:
        check_url(url, allow_private=allow_private, lookup=lookup)
    except BadRequest as exc:
        return exc.message, False
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": user_agent, "X-Paperfeed-Event": "papers.matched",
               "X-Paperfeed-Delivery": delivery, "X-Paperfeed-Timestamp": stamp,
               "X-Paperfeed-Signature": sign(secret, stamp, body)}  # fmt: skip
    try:
        answer = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300], True
    if 200 <= answer.status_code < 300:
        return None, False
    retry = answer.status_code in (408, 429) or answer.status_code >= 500
    return f"HTTP {answer.status_code}", retry
