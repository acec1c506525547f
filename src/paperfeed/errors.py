"""Typed errors raised deep inside paperfeed and translated once at each edge (CLI, web, API)."""

from __future__ import annotations


class PaperfeedError(Exception):
    """Base of every error paperfeed raises on purpose; its message is safe to show to a user."""

    status = 500
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(PaperfeedError):
    """The caller gave a value that cannot be used; the message names the parameter."""

    status = 400
    code = "bad_request"


class NotFound(PaperfeedError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Forbidden(PaperfeedError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class Unauthorized(Forbidden):
    """The caller must log in (or send an API token) first."""

    status = 401
    code = "unauthorized"


class TooManyRequests(PaperfeedError):
    """The caller went over a rate limit; ``retry_after`` says in how many seconds to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(PaperfeedError):
    """The request clashes with what is already stored (a duplicate, a stale version)."""

    status = 409
    code = "conflict"


class IngestError(PaperfeedError):
    """A source could not be read: an unreachable server, or a file that is not what it claims to be."""

    status = 502
    code = "ingest_error"


class HttpStatusError(IngestError):
    """A source answered with an HTTP status that is not success (after any retries); ``http_status`` is it."""

    code = "http_status"

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


class SourceUnreachable(IngestError):
    """The remote source could not be reached at all (DNS, refused connection, repeated timeouts)."""

    code = "source_unreachable"


class BadResumptionToken(IngestError):
    """An OAI-PMH server no longer knows the resumption token it gave (it expired): start the harvest over."""

    code = "bad_resumption_token"


class StoreError(PaperfeedError):
    """The database cannot be used: it cannot be opened, is not initialised, is locked, or the disk is full."""

    status = 503
    code = "store_error"


class MailError(PaperfeedError):
    """A mail could not be composed or handed to the SMTP server."""

    status = 502
    code = "mail_error"
