"""What stands between the internet and the app: the Host check, the client address behind a trusted proxy, and
the security headers on every response. Pure ASGI middleware, so they cover every route, static files and
error pages alike, and cost no thread hop.

- :class:`HostGuard` answers 400 to a request whose ``Host`` is not one of the configured names, so no page is
  ever made (or cached) for a forged host. Pages take their links from ``PAPERFEED_BASE_URL`` or make them
  relative; nothing reads ``X-Forwarded-Host``.
- :class:`ClientAddress` believes ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only from the addresses in
  ``PAPERFEED_TRUSTED_PROXIES``; from anyone else they are ignored (the first such request of each peer is
  logged: it usually means an unconfigured proxy, under which every reader shares the proxy's rate limits).
- :class:`SecurityHeaders` adds the Content-Security-Policy and its companions.
- :class:`BodyLimit` and :class:`NoNul` refuse oversized bodies and NUL characters before any handler runs.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed.api.schemas import error_body
from paperfeed.errors import BadRequest

log = logging.getLogger("paperfeed.web")

# Nothing inline at all: math is MathML rendered on the server (no style attributes), and Swagger UI styles
# what it renders through the DOM (which a policy does not block) and starts from vendored files. Checked in
# Chromium with the policy on (tests/test_browser.py): no violation is reported on the paper page or /api/docs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


async def refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """A plain error answer from middleware: the API's JSON shape under /api, text elsewhere."""
    api = str(scope.get("path", "")).startswith("/api")
    body = orjson.dumps(error_body(status, message)) if api else message.encode()
    kind = b"application/json" if api else b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def host_name(header: str) -> str:
    """The host name of a Host header value, lower-cased, without its port (IPv6 literals without brackets)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else ""
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostGuard:
    """400 for a Host header that is missing or not one of ``allowed`` ('*' allows any)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            return await self.app(scope, receive, send)
        headers = [value for key, value in scope["headers"] if key == b"host"]
        name = host_name(headers[0].decode("latin-1")) if len(headers) == 1 else ""
        if name not in self.allowed:
            return await refuse(scope, send, 400, "Host header: this site does not answer to that host name")
        await self.app(scope, receive, send)


class NoNul:
    """400 for a NUL character anywhere in the path or the query string: no field may hold one (PostgreSQL
    cannot even look one up), so it is refused before any handler sees it, naming where it was."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").lower()
            if "\x00" in scope.get("path", ""):
                return await refuse(scope, send, 400, "path: a NUL character is not allowed")
            if b"%00" in query or b"\x00" in query:
                name = next(
                    (part.split(b"=")[0] for part in query.split(b"&") if b"%00" in part or b"\x00" in part), b""
                )
                return await refuse(scope, send, 400, f"{name.decode('latin-1')}: a NUL character is not allowed")
        await self.app(scope, receive, send)


def networks(entries: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class ClientAddress:
    """The client's address and scheme: the peer's, or what a trusted proxy says in its forwarding headers."""

    def __init__(self, app: ASGIApp, proxies: Iterable[str]) -> None:
        self.app, self.proxies = app, networks(proxies)
        self.warned: set[str] = set()  # peers already logged (bounded)

    def trusted(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self.proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        peer = scope.get("client") or ("", 0)
        headers = dict(scope["headers"])
        forwarded = headers.get(b"x-forwarded-for")
        if forwarded is not None and self.trusted(peer[0]):
            hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
            # the last hop that is not one of our proxies is the client; earlier ones are the client's claims
            client = next((hop for hop in reversed(hops) if not self.trusted(hop)), hops[0] if hops else peer[0])
            scope = {**scope, "client": (client if _address(client) else peer[0], 0)}
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
        elif forwarded is not None and peer[0] not in self.warned and len(self.warned) < 100:
            self.warned.add(peer[0])
            log.warning(
                "a request from %s carries X-Forwarded-For, but %s is not in PAPERFEED_TRUSTED_PROXIES: "
                "the header is ignored, so behind a proxy every reader counts as the proxy's address "
                "(docs/deployment.md, 'Exposing paperfeed to the internet')", peer[0], peer[0],
            )  # fmt: skip
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds the Content-Security-Policy, frame, sniffing and referrer headers (and HSTS on https) everywhere."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            *([(b"strict-transport-security", HSTS.encode())] if https else []),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                extra = [(key, value) for key, value in self.headers if key not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


MAX_BODY_BYTES = 1_000_000  # the largest form or JSON body paperfeed accepts (a comment is at most 20,000 characters)


class BodyLimit:
    """Refuses a request whose declared body is over MAX_BODY_BYTES with 413, before anything reads it, and
    cuts off a chunked body that grows past it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return await self._refuse(scope, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise BadRequest(f"the request body is over {MAX_BODY_BYTES} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await refuse(scope, send, 413, f"the request body must be at most {MAX_BODY_BYTES} bytes")
