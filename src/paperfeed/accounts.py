"""Accounts: sign-up, log-in with argon2 password hashes, sessions, API tokens, CSRF tokens.

Shared by the web pages, the JSON API and the CLI; HTTP details (cookies, headers) stay at those edges.
Secrets a client holds (session cookies, API tokens) are stored only as SHA-256 digests.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from paperfeed.errors import BadRequest, Unauthorized
from paperfeed.models import ApiToken, User
from paperfeed.store import Store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
SESSION_DAYS = 30
SESSION_COOKIE = "pf_session"  # the cookie names, shared by the pages and the API
CSRF_COOKIE = "pf_csrf"
TOKEN_PREFIX = "pf_"  # noqa: S105 (a marker, not a secret)
# Refused as secret keys: the values people paste from examples.
WEAK_SECRETS = {"", "secret", "changeme", "change-me", "dev", "development", "test", "paperfeed", "insecure"}
MIN_SECRET_LENGTH = 32


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106 low-memory profile)


# argon2 is meant to be costly (tens of ms of CPU and 64 MiB each): at most half the cores hash at once, so
# that a burst of log-ins queues here instead of starving the event loop and every other request of CPU.
_HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))


def _hash(password: str) -> str:
    with _HASHING:
        return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> None:
    with _HASHING:
        _hasher().verify(password_hash, password)


@functools.cache
def _dummy_hash() -> str:
    return _hash("not a password anyone has")


def check_secret_key(value: str | None) -> str:
    """The secret key, or BadRequest when it is missing, a known default, or too short to resist guessing."""
    key = (value or "").strip()
    if key.lower() in WEAK_SECRETS or len(key) < MIN_SECRET_LENGTH:
        raise BadRequest(
            f"PAPERFEED_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return key


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise BadRequest("name must be 2-32 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def check_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 254 or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise BadRequest("email must look like name@example.org")
    return email


def sign_up(store: Store, name: str, password: str, email: str | None = None, *, is_admin: bool = False) -> User:
    """A new account; BadRequest names the field that is wrong, Conflict when the name is taken."""
    name, password, address = check_name(name), check_password(password), check_email(email)
    return store.create_user(name, address, _hash(password), is_admin=is_admin)


def authenticate(store: Store, name: str, password: str) -> User:
    """The account whose name and password these are, or Unauthorized (the same message either way)."""
    found = store.credentials(name.strip()) if len(password) <= MAX_PASSWORD else None
    try:
        # a missing account costs a verification too, so timing does not tell which names exist
        _verify(found.password_hash if found else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        found = None
    if found is None:
        raise Unauthorized("wrong name or password")
    if _hasher().check_needs_rehash(found.password_hash):
        store.set_password_hash(found.user.id, _hash(password))
    return found.user


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # what the cookie holds
    expires_at: datetime


def start_session(store: Store, user: User, now: datetime | None = None) -> Session:
    now = now or datetime.now(UTC)
    session = Session(secrets.token_urlsafe(32), now + timedelta(days=SESSION_DAYS))
    store.create_session(digest(session.token), user.id, session.expires_at)
    return session


def session_user(store: Store, token: str | None) -> User | None:
    if not token or len(token) > 200:
        return None
    return store.session_user(digest(token), datetime.now(UTC))


def end_session(store: Store, token: str | None) -> None:
    if token:
        store.delete_session(digest(token))


def create_token(store: Store, user: User, name: str) -> tuple[str, ApiToken]:
    """A new API token for ``user``: the secret (shown once) and its record."""
    name = " ".join(name.split())[:80]
    if not name:
        raise BadRequest("name must say what the token is for")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, store.create_token(digest(secret), user.id, name)


def token_user(store: Store, secret: str) -> User:
    user = store.token_user(digest(secret), datetime.now(UTC)) if secret.startswith(TOKEN_PREFIX) else None
    if user is None:
        raise Unauthorized("the API token is unknown or revoked")
    return user


def csrf_token(secret_key: str, binding: str, session: str | None = None) -> str:
    """The token a form must echo: an HMAC, under the server's secret key, of the client's CSRF cookie and its
    session cookie (none when anonymous), so a token stops working when the reader logs in or out."""
    message = f"{binding}|{digest(session) if session else ''}"
    return hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret_key: str, binding: str | None, token: str | None, session: str | None = None) -> bool:
    if not binding or not token or len(token) > 200:
        return False
    return hmac.compare_digest(csrf_token(secret_key, binding, session), token)
