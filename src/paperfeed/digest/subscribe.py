"""Subscribing and leaving, shared by the pages, the API and the CLI: double opt-in with a signed, expiring
confirmation link; managing and unsubscribing through signed links, without logging in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email

from paperfeed.digest import links
from paperfeed.digest.compose import MailSettings, confirmation_mail, reminder_mail
from paperfeed.errors import BadRequest
from paperfeed.models import Subscription, User
from paperfeed.store import Store
from paperfeed.store.digests import Preferences

FREQUENCIES = ("daily", "weekly")
CONTENTS = ("trending", "for_you")  # for_you: personal recommendations, trending until they exist
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_PAPERS = 50
_CATEGORY = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
_KEYWORD = re.compile(r"^[\w+#.-]{1,40}$")


def check_address(email: str) -> str:
    """The address, normalised, or BadRequest naming what is wrong (no DNS lookups: offline-safe)."""
    try:
        return str(validate_email(email.strip()[:320], check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise BadRequest(f"email is not a valid address: {exc}") from None


def _int(value: str | int | None, name: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number between {low} and {high}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return number


LEVELS = (0.1, 0.2, 0.3)  # "only what you are confident about": at most this share not for the reader
_ON, _OFF = ("1", "on", "true", "yes"), ("0", "off", "false", "no", "")


def confidence_level(value: str | float | None) -> float | None:
    """A target level from a form ("20" percent, "0.2") or JSON; None (a fixed number) for empty or "off"."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    number = number / 100 if number >= 1 else number
    found = next((level for level in LEVELS if abs(level - number) < 1e-9), None)
    if found is None:
        raise BadRequest("confidence must be 10, 20 or 30 (percent not for you, at most), or empty for a fixed number")
    return found


def _switch(value: str | bool | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value.strip().lower() in _ON:
        return True
    if value.strip().lower() in _OFF:
        return False
    raise BadRequest(f"{name} must be on or off")


def preferences(
    frequency: str = "daily", weekday: str | int | None = None, categories: str = "", keywords: str = "",
    max_papers: str | int | None = None, min_upvotes: str | int | None = None, content: str = "trending",
    confidence: str | float | None = None, explore: str | bool | None = None,
) -> Preferences:  # fmt: skip
    """Preferences from form or JSON values, each checked with a message that names it. ``confidence`` (a target
    level) applies to "for you" digests only; ``explore`` defaults to on."""
    if frequency not in FREQUENCIES:
        raise BadRequest("frequency must be daily or weekly")
    if content not in CONTENTS:
        raise BadRequest("content must be trending or for_you")
    day = WEEKDAYS.index(weekday.lower()) if isinstance(weekday, str) and weekday.lower() in WEEKDAYS else weekday
    cats = tuple(dict.fromkeys(categories.replace(",", " ").split()))
    words = tuple(dict.fromkeys(keywords.replace(",", " ").split()))
    if len(cats) > 20 or not all(_CATEGORY.match(c) for c in cats):
        raise BadRequest("categories must be up to 20 arXiv categories such as cs.LG or math")
    if len(words) > 20 or not all(_KEYWORD.match(w) for w in words):
        raise BadRequest("keywords must be up to 20 words of letters, digits, + # . - _")
    level = confidence_level(confidence)
    if level is not None and content != "for_you":
        raise BadRequest("confidence applies to digests picked for you: choose content for_you, or no confidence")
    return Preferences(
        frequency, _int(day, "weekday", 0, 0, 6), content, cats, words,
        _int(max_papers, "max_papers", 10, 1, MAX_PAPERS), _int(min_upvotes, "min_upvotes", 0, 0, 1_000_000),
        level, _switch(explore, "explore", True),
    )  # fmt: skip


REMINDER_EVERY = timedelta(hours=1)  # at most one "you already subscribe" mail per address in this time
REMINDER = "reminder:"


@dataclass(frozen=True, slots=True)
class Requested:
    """What a subscribe request answers with: only what the caller sent, so the answer is the same whether or
    not the address already subscribes."""

    email: str
    frequency: str
    confirmed: bool = False


def subscribe(
    store: Store, settings: MailSettings, email: str, prefs: Preferences, user: User | None = None,
    now: datetime | None = None,
) -> Requested:  # fmt: skip
    """Ask for a digest at ``email``. A new address gets a subscription and a confirmation mail. An address that
    already has one (any state) is not changed at all: it is sent its manage link instead (with a confirm link
    when it is not active), at most once per REMINDER_EVERY, so nobody can change or learn about another
    person's subscription. A signed-in reader's account is attached only to the account's own address."""
    now = now or datetime.now(UTC)
    address = check_address(email)
    owner = user.id if user and user.email and user.email.strip().lower() == address.lower() else None
    saved, made = store.add_subscription(address, prefs, owner, now)
    if made:
        store.enqueue([confirmation_mail(settings, saved, now)], now)
    elif not store.mailed_since(saved.id, REMINDER, now - REMINDER_EVERY):
        store.enqueue([reminder_mail(settings, saved, now, REMINDER)], now)
    return Requested(address, prefs.frequency)


def confirm(store: Store, secret_key: str, token: str, now: datetime | None = None) -> Subscription:
    return store.confirm_subscription(links.verify(secret_key, "confirm", token), now or datetime.now(UTC))


def by_link(store: Store, secret_key: str, token: str) -> Subscription:
    """The subscription a manage / unsubscribe link is for."""
    found = store.get_subscription(links.verify(secret_key, "manage", token))
    if found is None:
        raise BadRequest("this subscription no longer exists")
    return found


def change(store: Store, secret_key: str, token: str, prefs: Preferences) -> Subscription:
    return store.update_subscription(by_link(store, secret_key, token).id, prefs)


def leave(store: Store, secret_key: str, token: str, now: datetime | None = None) -> Subscription:
    """Unsubscribe (idempotent): no later edition goes out, and queued mails are dropped."""
    found = by_link(store, secret_key, token)
    store.unsubscribe(found.id, now or datetime.now(UTC))
    return found
