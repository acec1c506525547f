"""Signed links in mails: confirm a subscription (expires), manage or leave it (long-lived), without logging in.

itsdangerous signs ``(purpose, subscription id)`` with the instance's secret key and a timestamp; a link for one
purpose never works for another, and changing the secret key voids every link.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperfeed.errors import BadRequest

CONFIRM_MAX_AGE = 7 * 24 * 3600
MANAGE_MAX_AGE = 400 * 24 * 3600  # every digest carries fresh links, so only a long-silent reader sees one expire


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="paperfeed.digest")


def sign(secret_key: str, purpose: str, subscription_id: int) -> str:
    return str(_serializer(secret_key).dumps([purpose, subscription_id]))


def verify(secret_key: str, purpose: str, token: str) -> int:
    """The subscription id a link was made for, or BadRequest saying why it cannot be used."""
    max_age = CONFIRM_MAX_AGE if purpose == "confirm" else MANAGE_MAX_AGE
    try:
        found, subscription_id = _serializer(secret_key).loads(token[:500], max_age=max_age)
    except SignatureExpired:
        raise BadRequest("this link has expired: subscribe again to get a new one") from None
    except (BadSignature, ValueError, TypeError):
        raise BadRequest("this link is not valid: copy the whole link from the mail") from None
    if found != purpose or not isinstance(subscription_id, int):
        raise BadRequest("this link is not valid for this page")
    return subscription_id


def sign_item(secret_key: str, purpose: str, subscription_id: int, arxiv_id: str) -> str:
    """A link for one subscriber about one mailed paper (feedback, or the click-through)."""
    return str(_serializer(secret_key).dumps([purpose, subscription_id, arxiv_id]))


def verify_item(secret_key: str, token: str) -> tuple[str, int, str]:
    """(purpose, subscription id, arXiv id) of an item link, or BadRequest saying why it cannot be used."""
    try:
        found = _serializer(secret_key).loads(token[:500], max_age=MANAGE_MAX_AGE)
    except SignatureExpired:
        raise BadRequest("this link has expired: use the links of a newer digest") from None
    except (BadSignature, ValueError, TypeError):
        raise BadRequest("this link is not valid: copy the whole link from the mail") from None
    if not (isinstance(found, list) and len(found) == 3 and isinstance(found[0], str) and isinstance(found[1], int)
            and isinstance(found[2], str)):  # fmt: skip
        raise BadRequest("this link is not valid for this page")
    return found[0], found[1], found[2]
