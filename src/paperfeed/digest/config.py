"""The digest's settings, taken from the one Settings object by the two places that build things (the CLI and
the web app's factory)."""

from __future__ import annotations

from paperfeed.config import Settings
from paperfeed.digest.compose import MailSettings
from paperfeed.digest.send import SmtpSettings


def mail_settings(s: Settings) -> MailSettings:
    return MailSettings(sender=s.mail_from, base_url=s.base_url, secret_key=s.secret_key)


def smtp_settings(s: Settings) -> SmtpSettings:
    return SmtpSettings(
        host=s.smtp_host, port=s.smtp_port, security=s.smtp_security, username=s.smtp_username,
        password=s.smtp_password, timeout=s.smtp_timeout, sender=s.mail_from,
        ca_file=str(s.smtp_ca_file) if s.smtp_ca_file else None,
    )  # fmt: skip
