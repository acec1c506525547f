"""`paperfeed digest ...`: compose and send the e-mail digests, preview one, see the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from paperfeed.cli_context import Context, handle_errors, pass_context
from paperfeed.cli_render import emit_json, err, out
from paperfeed.digest.compose import candidates, daily_edition, digest_mail, select, weekly_edition
from paperfeed.digest.config import smtp_settings
from paperfeed.digest.run import compose
from paperfeed.digest.send import SmtpSender, deliver
from paperfeed.digest.subscribe import check_address
from paperfeed.errors import BadRequest, NotFound
from paperfeed.models import Subscription
from paperfeed.recommend.serve import digest_picks


def _day(value: str | None) -> date:
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"--date must be YYYY-MM-DD, not {value!r}") from None


@click.group()
def digest() -> None:
    """E-mail digests: `send` composes the day's editions and delivers them; `preview` renders one."""


@digest.command()
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day whose editions to send (default: today, UTC).")
@click.option("--dry-run", is_flag=True, help="Count what would be composed; queue and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
@handle_errors
def send(ctx: Context, day: str | None, dry_run: bool, as_json: bool) -> None:
    """Compose the day's daily edition (when papers were announced that day) and the weekly edition (for
    subscribers whose weekday it is) into the outbox, then deliver every due mail over SMTP.

    Safe to run again at any time, also after a crash: mails already queued are not composed again, and mails
    already sent are not sent again (see docs/digests.md for the one exception)."""
    store = ctx.ready_store()
    settings = ctx.settings
    personal = digest_picks(ctx.services.foryou)
    composed = compose(store, ctx.services.mail, _day(day), dry_run=dry_run, personal=personal)
    report = None
    if not dry_run:
        stale = timedelta(seconds=settings.mail_claim_seconds)
        report = deliver(
            store, SmtpSender(smtp_settings(settings)), per_minute=settings.mails_per_minute, stale_after=stale
        )
    figures = {
        "editions": composed.editions, "queued": composed.queued, "already_queued": composed.already_queued,
        "empty": composed.empty, "sent": report.sent if report else 0, "retry_later": report.retried if report else 0,
        "failed": report.failed if report else 0, "paused": report.paused if report else 0,
        "outbox": store.outbox_counts(),
    }  # fmt: skip
    if as_json:
        emit_json(figures)
        return
    what = ", ".join(composed.editions) or "no edition today"
    verb = "would queue" if dry_run else "queued"
    out.print(f"{what}: {verb} {composed.queued:,} mails ({composed.already_queued:,} already queued, "
              f"{composed.empty:,} subscribers with nothing matching).")  # fmt: skip
    if report:
        out.print(f"Sent {report.sent:,}; {report.retried:,} to retry later; {report.failed:,} failed; "
                  f"{report.paused:,} subscriptions paused.")  # fmt: skip
        for line in report.errors[:10]:
            err.print(f"  {line}", highlight=False)


@digest.command()
@click.argument("email")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The edition's day (default: today, UTC).")
@click.option("--weekly", is_flag=True, help="Render the weekly edition instead of the daily one.")
@click.option("--out", "target", type=click.Path(dir_okay=False, path_type=Path), help="File to write (.eml).")
@pass_context
@handle_errors
def preview(ctx: Context, email: str, day: str | None, weekly: bool, target: Path | None) -> None:
    """Render the mail EMAIL would get (its subscription's filters, or trending defaults when EMAIL is not
    subscribed) into a .eml file that any mail client opens. Nothing is queued or sent."""
    store = ctx.ready_store()
    when = _day(day)
    edition = weekly_edition(when) if weekly else daily_edition(store, when)
    if edition is None:
        raise NotFound(f"no papers were announced on {when}: try --date with a feed day, or --weekly")
    address = check_address(email)
    found = store.due_subscriptions("weekly" if weekly else "daily", None)
    sub = next((s for s in found if s.email.lower() == address.lower()), None)
    sub = sub or Subscription(0, address, "weekly" if weekly else "daily")
    now = datetime.now(UTC)
    mail = digest_mail(ctx.services.mail, sub, edition, select(candidates(store, edition, now), sub), now)
    target = target or Path(f"digest-{edition.key.replace(':', '-')}.eml")
    target.write_bytes(mail.message)
    err.print(f"Wrote {target} ({len(mail.message):,} bytes, {edition.key}).")
