"""E-mail digests end to end with a real SMTP server (aiosmtpd) on 127.0.0.1: subscribe, confirm, compose,
deliver, unsubscribe by one click; outages, permanent failures and crashes at each step of a run."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import app_of, app_store, csrf_of, matched, new_database_url, present
from mailsink import MailSink, free_port
from paperfeed.config import Settings, load_settings
from paperfeed.digest import compose as compose_module
from paperfeed.digest import links, run
from paperfeed.digest import subscribe as subs
from paperfeed.digest.config import mail_settings, smtp_settings
from paperfeed.digest.send import STALE_CLAIM, Security, SmtpSender, deliver
from paperfeed.errors import BadRequest
from paperfeed.http_edge import site
from paperfeed.store import Store
from paperfeed.store.digests import OutgoingMail
from paperfeed.web.app import create_app
from search_corpus import corpus, paper

DAY = date(2025, 1, 3)
SECRET = "digest-test-secret-" + "d" * 32


@pytest.fixture
def sink() -> Iterator[MailSink]:
    server = MailSink().start()
    yield server
    server.stop()


def make_settings(folder: Path, smtp_port: int, backend: str) -> Settings:
    return load_settings(
        database_url=new_database_url(backend, folder), data_dir=folder, secret_key=SECRET,
        smtp_port=smtp_port, base_url="http://testserver", digest_schedule=False, mails_per_minute=100_000,
    )  # fmt: skip


@pytest.fixture
def app_settings(tmp_path: Path, sink: MailSink, backend: str) -> Settings:
    return make_settings(tmp_path, sink.port, backend)


@pytest.fixture
def client(app_settings: Settings) -> TestClient:
    app = create_app(app_settings)
    store: Store = site(app).services.store
    store.migrate()
    extra = [paper(70 + n, arxiv_id=f"2501.0080{n}", feed_date=DAY, upvotes=n, categories=("cs.CL",)) for n in range(4)]
    store.upsert_papers([*corpus(), *extra])
    return TestClient(app)


def store_of(client: TestClient) -> Store:
    return app_store(client)


def send_all(client: TestClient, settings: Settings, at: datetime | None = None) -> None:
    when = at or datetime.now(UTC)
    deliver(store_of(client), SmtpSender(smtp_settings(settings)), per_minute=100_000, now=lambda: when)


def subscribed(store: Store, count: int, **prefs: str) -> list[str]:
    """``count`` confirmed subscribers, straight through the store."""
    addresses = []
    for n in range(count):
        sub, _ = store.save_subscription(f"reader{n}@example.org", subs.preferences(**prefs), None, datetime.now(UTC))
        store.confirm_subscription(sub.id, datetime.now(UTC))
        addresses.append(sub.email)
    return addresses


def _mail(store: Store) -> compose_module.MailSettings:
    return compose_module.MailSettings("paperfeed <digest@example.org>", "http://testserver", SECRET)


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(
    client: TestClient, app_settings: Settings, sink: MailSink
) -> None:
    page = client.get("/subscribe", params={"email": "ada@example.org"}).text
    token = csrf_of(page)
    done = client.post("/subscribe", data={"csrf_token": token, "email": "ada@example.org", "frequency": "daily",
                                           "categories": "cs.CL", "max_papers": "3"})  # fmt: skip
    assert done.status_code == 200
    assert "Check your inbox" in done.text
    send_all(client, app_settings)
    [confirmation] = sink.to("ada@example.org")
    plain = present(confirmation.message.get_body(("plain",)), "the plain part").get_content()
    assert "Subscribed" in client.get(matched(r"http://testserver(/subscribe/confirm\?token=\S+)", plain)).text

    report = run.compose(store_of(client), mail_settings(app_settings), DAY)
    assert (report.editions, report.queued) == (["daily:2025-01-03"], 1)
    send_all(client, app_settings)
    digest = sink.to("ada@example.org")[-1].message
    assert digest.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in digest.iter_parts()] == ["text/plain", "text/html"]
    assert digest["Message-ID"].startswith("<") and "@testserver>" in digest["Message-ID"]
    assert datetime.strptime(digest["Date"], "%a, %d %b %Y %H:%M:%S %z")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = present(digest.get_body(("html",)), "the HTML part").get_content()
    paper_links = re.findall(r'href="http://testserver(/digest/open\?token=[^"]+)"', html)  # the click-through
    assert len(paper_links) == 3  # max_papers, and only cs.CL papers
    for path in paper_links:
        assert client.get(path).status_code == 200  # (redirected to the paper's page)
        assert "cs.CL" in client.get(path).text
    manage = matched(r'href="http://testserver(/subscribe/manage\?token=[^"]+)"', html)
    assert "ada@example.org" in client.get(manage.replace("&amp;", "&")).text

    one_click = digest["List-Unsubscribe"].strip("<>").replace("http://testserver", "")
    anonymous = TestClient(client.app)  # a mail client: no cookies, no CSRF token
    left = anonymous.post(one_click, content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert left.status_code == 200
    assert "Unsubscribed" in left.text
    store_of(client).upsert_papers([paper(90, arxiv_id="2501.00901", feed_date=DAY + timedelta(days=1),
                                          categories=("cs.CL",))])  # fmt: skip
    again = run.compose(store_of(client), mail_settings(app_settings), DAY + timedelta(days=1))
    assert again.queued == 0  # the next edition does not go to ada


def test_the_server_down_first_then_up_delivers_each_mail_once(tmp_path: Path, backend: str) -> None:
    port = free_port()  # nothing listens yet
    settings = make_settings(tmp_path, port, backend)
    app = create_app(settings)
    client = TestClient(app)
    store = store_of(client)
    store.migrate()
    store.upsert_papers(corpus())
    readers = subscribed(store, 5)
    run.compose(store, mail_settings(settings), DAY)
    now = datetime.now(UTC)
    report = deliver(store, SmtpSender(smtp_settings(settings)), now=lambda: now)
    assert (report.sent, report.retried) == (0, 1)  # the first attempt found the server down; the rest wait
    assert store.outbox_counts().get("pending") == 5
    server = MailSink(port).start()
    try:
        later = now + timedelta(minutes=5)
        report = deliver(store, SmtpSender(smtp_settings(settings)), now=lambda: later)
        assert report.sent == 5
        assert Counter(r.recipient for r in server.received) == dict.fromkeys(readers, 1)
        deliver(store, SmtpSender(smtp_settings(settings)), now=lambda: later + timedelta(hours=1))
        assert len(server.received) == 5  # nothing twice
    finally:
        server.stop()


def test_permanent_failures_pause_the_subscriber(client: TestClient, app_settings: Settings, sink: MailSink) -> None:
    store = store_of(client)
    [bad, good] = subscribed(store, 2)
    sink.handler.refuse[bad] = "550 5.1.1 no such user"
    for offset in range(3):
        day = DAY + timedelta(days=offset)
        store.upsert_papers([paper(95 + offset, arxiv_id=f"2501.0095{offset}", feed_date=day)])
        run.compose(store, mail_settings(app_settings), day)
        send_all(client, app_settings)
    assert len(sink.to(good)) == 3
    assert sink.to(bad) == []
    paused = [s for s in store.due_subscriptions("daily", None) if s.email == bad]
    assert paused == []  # paused after three permanent failures in a row
    assert store.outbox_counts()["failed"] == 3


def test_a_crash_while_composing_resumes_without_duplicates(
    client: TestClient, app_settings: Settings, sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_of(client)
    readers = subscribed(store, 7)
    monkeypatch.setattr(run, "ENQUEUE_BATCH", 3)
    real_enqueue, calls = store.enqueue, []

    def crashing(mails: Sequence[OutgoingMail], now: datetime) -> int:
        calls.append(len(mails))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after the first batch was committed
        return real_enqueue(mails, now)

    monkeypatch.setattr(store, "enqueue", crashing)
    with pytest.raises(KeyboardInterrupt):
        run.compose(store, mail_settings(app_settings), DAY)
    monkeypatch.setattr(store, "enqueue", real_enqueue)
    report = run.compose(store, mail_settings(app_settings), DAY)
    assert (report.already_queued, report.queued) == (3, 4)
    send_all(client, app_settings)
    assert Counter(r.recipient for r in sink.received) == dict.fromkeys(readers, 1)


@pytest.mark.parametrize("step", ["before_smtp", "after_smtp_before_record"])
def test_a_crash_while_sending_delivers_everything_once_but_the_window(
    client: TestClient, app_settings: Settings, sink: MailSink, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    store = store_of(client)
    readers = subscribed(store, 6)
    run.compose(store, mail_settings(app_settings), DAY)
    sender = SmtpSender(smtp_settings(app_settings))
    real_send, real_mark, count = sender.send, store.mark_sent, [0]

    def send(recipient: str, message: bytes) -> None:
        count[0] += 1
        if step == "before_smtp" and count[0] == 3:
            raise KeyboardInterrupt
        real_send(recipient, message)

    def mark(mail_id: int, now: datetime) -> None:
        if step == "after_smtp_before_record" and count[0] == 3:
            raise KeyboardInterrupt  # the server has it; the outbox does not know yet
        real_mark(mail_id, now)

    monkeypatch.setattr(sender, "send", send)
    monkeypatch.setattr(store, "mark_sent", mark)
    now = datetime.now(UTC)
    with pytest.raises(KeyboardInterrupt):
        deliver(store, sender, now=lambda: now)
    monkeypatch.setattr(store, "mark_sent", real_mark)
    later = now + STALE_CLAIM + timedelta(seconds=1)  # the dead sender's claims have gone stale
    deliver(store, SmtpSender(smtp_settings(app_settings)), now=lambda: later)
    counts = Counter(r.recipient for r in sink.received)
    assert set(counts) == set(readers)
    twice = [who for who, n in counts.items() if n > 1]
    if step == "before_smtp":
        assert twice == []
    else:
        assert len(twice) == 1  # the one unavoidable window, and the copy is the same message
        copies = {r.message["Message-ID"] for r in sink.to(twice[0])}
        assert len(copies) == 1
    assert store.outbox_counts() == {"sent": 6}


@pytest.mark.parametrize(
    "email", ["ada@example.org\r\nBcc: all@example.org", "not-an-address", "a" * 400 + "@example.org", "<x>@y.z",
              "ada@example.org\nSubject: hi"],
)  # fmt: skip
def test_hostile_addresses_are_refused(client: TestClient, email: str) -> None:
    with pytest.raises(BadRequest, match="email"):
        subs.subscribe(store_of(client), _mail(store_of(client)), email, subs.preferences())


@pytest.mark.parametrize(
    ("field", "value"),
    [("frequency", "hourly"), ("categories", "cs.LG\r\nBcc: x"), ("keywords", "a\nb: c <script>"),
     ("max_papers", "0"), ("max_papers", "5000"), ("weekday", "9")],
)  # fmt: skip
def test_bad_preferences_name_the_field(field: str, value: str) -> None:
    with pytest.raises(BadRequest, match=field):
        subs.preferences(**{field: value})


def test_links_are_signed_for_one_purpose_and_expire(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(client)
    subs.subscribe(store, _mail(store), "links@example.org", subs.preferences())
    sub, made = store.add_subscription("links@example.org", subs.preferences(), None, datetime.now(UTC))
    assert not made
    manage = links.sign(SECRET, "manage", sub.id)
    assert client.get("/subscribe/confirm", params={"token": manage}).status_code == 400  # wrong purpose
    assert client.get("/subscribe/confirm", params={"token": manage[:-2] + "xx"}).status_code == 400
    assert client.get("/unsubscribe", params={"token": "nonsense"}).status_code == 400
    confirm = links.sign(SECRET, "confirm", sub.id)
    monkeypatch.setattr(links, "CONFIRM_MAX_AGE", -1)
    expired = client.get("/subscribe/confirm", params={"token": confirm})
    assert expired.status_code == 400
    assert "expired" in expired.text
    assert not present(store.get_subscription(sub.id)).confirmed


def test_subscribe_form_needs_csrf_and_shows_errors(client: TestClient) -> None:
    assert client.post("/subscribe", data={"email": "x@example.org"}).status_code == 403
    page = client.get("/subscribe").text
    token = csrf_of(page)
    bad = client.post("/subscribe", data={"csrf_token": token, "email": "nope", "frequency": "daily"})
    assert bad.status_code == 400
    assert "email is not a valid address" in bad.text
    assert 'value="nope"' in bad.text


def test_preview_writes_the_mail(client: TestClient, app_settings: Settings, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from click.testing import CliRunner

    from paperfeed.cli import cli

    monkeypatch.setenv("PAPERFEED_DATABASE_URL", app_settings.database_url)
    monkeypatch.setenv("PAPERFEED_SECRET_KEY", SECRET)
    target = tmp_path / "preview.eml"
    result = CliRunner().invoke(cli, ["digest", "preview", "someone@example.org", "--date", "2025-01-03",
                                      "--out", str(target)])  # fmt: skip
    assert result.exit_code == 0, result.output
    from email import message_from_bytes
    from email.policy import default

    mail = message_from_bytes(target.read_bytes(), policy=default)
    assert mail["To"] == "someone@example.org"
    assert mail.get_content_type() == "multipart/alternative"
    nothing = CliRunner().invoke(cli, ["digest", "preview", "someone@example.org", "--date", "2030-01-01"])
    assert nothing.exit_code == 1
    assert "no papers were announced" in nothing.output


def test_kill_9_in_the_middle_of_a_send_run(tmp_path: Path, backend: str) -> None:
    """A real `paperfeed digest send` killed with SIGKILL while mails go out, then run again: every subscriber
    has the edition, and a second copy (at most one, in the documented window) carries the same Message-ID."""
    import os
    import signal
    import subprocess
    import sys
    import time

    server = MailSink().start()
    server.handler.delay = 0.03
    try:
        settings = make_settings(tmp_path, server.port, backend)
        store = site(create_app(settings)).services.store
        store.migrate()
        store.upsert_papers(corpus())
        readers = subscribed(store, 60)
        env = {**os.environ, "PAPERFEED_DATABASE_URL": settings.database_url, "PAPERFEED_SECRET_KEY": SECRET,
               "PAPERFEED_SMTP_PORT": str(server.port), "PAPERFEED_MAIL_CLAIM_SECONDS": "1",
               "PAPERFEED_BASE_URL": "http://testserver"}  # fmt: skip
        command = [sys.executable, "-m", "paperfeed", "digest", "send", "--date", "2025-01-03"]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(server.received) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert 15 <= len(server.received) < 60, "the kill should land in the middle of the run"
        time.sleep(1.2)  # the dead sender's claims go stale
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        counts = Counter(r.recipient for r in server.received)
        assert set(counts) == set(readers)
        for who, n in counts.items():
            assert n <= 2
            if n == 2:
                assert len({r.message["Message-ID"] for r in server.to(who)}) == 1
        assert sum(n - 1 for n in counts.values()) <= 1  # only the one mail in flight at the kill
    finally:
        server.stop()


def test_api_twin_of_the_subscribe_form(client: TestClient, app_settings: Settings, sink: MailSink) -> None:
    answer = client.post("/api/subscriptions", json={"email": "api@example.org", "frequency": "weekly", "weekday": 4})
    assert answer.status_code == 202
    assert answer.json() == {"email": "api@example.org", "frequency": "weekly", "confirmed": False}
    bad = client.post("/api/subscriptions", json={"email": "api@example.org", "frequency": "hourly"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "frequency must be daily or weekly"
    send_all(client, app_settings)
    assert len(sink.to("api@example.org")) == 1  # the confirmation only


def test_the_per_minute_limit_spaces_the_mails(client: TestClient, app_settings: Settings, sink: MailSink) -> None:
    store = store_of(client)
    subscribed(store, 4)
    run.compose(store, mail_settings(app_settings), DAY)
    waits: list[float] = []
    seconds = [1_000.0]  # a clock that moves only while deliver sleeps: sending takes no time, however busy

    def sleep(wait: float) -> None:
        waits.append(wait)
        seconds[0] += wait

    report = deliver(store, SmtpSender(smtp_settings(app_settings)), per_minute=60, sleep=sleep,
                     clock=lambda: seconds[0])  # fmt: skip
    assert report.sent == 4
    assert waits == [1.0, 1.0, 1.0]  # one second apart: the first goes at once


def test_the_digest_jobs_compose_once_a_day_and_deliver(
    client: TestClient, app_settings: Settings, sink: MailSink
) -> None:
    from paperfeed.recommend.serve import ForYou
    from paperfeed.tasks import handlers, job_settings, schedule
    from paperfeed.worker import Worker

    store = store_of(client)
    readers = subscribed(store, 3)
    clock = [datetime(2025, 1, 3, 6, 0, tzinfo=UTC)]
    config = job_settings(app_settings.model_copy(update={"digest_schedule": True, "digest_hour": 7}))
    services = site(app_of(client)).services
    every = handlers(store, services.engine, ForYou(store, services.engine), config, services.arxiv_client)
    jobs = {kind: every[kind] for kind in ("digest", "send")}
    worker = Worker(store, jobs, schedule(config), clock=lambda: clock[0])
    assert [o.job.kind for o in worker.drain()] == ["send"]  # before the hour: nothing composed
    assert sink.received == []
    clock[0] = datetime(2025, 1, 3, 7, 5, tzinfo=UTC)
    assert [o.job.key for o in worker.drain()] == ["digest:2025-01-03", "send:2025-01-03T07:05"]
    clock[0] = datetime(2025, 1, 3, 9, 0, tzinfo=UTC)  # later the same day: not again
    assert [o.job.kind for o in worker.drain()] == ["send"]
    assert Counter(r.recipient for r in sink.received) == dict.fromkeys(readers, 1)


def test_for_you_content_falls_back_to_trending(client: TestClient, app_settings: Settings, sink: MailSink) -> None:
    store = store_of(client)
    sub, _ = store.save_subscription("fy@example.org", subs.preferences(content="for_you"), None, datetime.now(UTC))
    store.confirm_subscription(sub.id, datetime.now(UTC))
    assert present(store.get_subscription(sub.id)).content == "for_you"
    run.compose(store, mail_settings(app_settings), DAY)
    send_all(client, app_settings)
    [mail] = sink.to("fy@example.org")
    assert "arXiv:2501.00803" in present(mail.message.get_body(("html",))).get_content()
    with pytest.raises(BadRequest, match="content"):
        subs.preferences(content="everything")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the test server's own set-up
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_implicit_tls_and_login(tmp_path: Path, security: Security) -> None:
    """A real TLS handshake (a certificate made for 127.0.0.1 by openssl, trusted through smtp_ca_file) and
    SMTP AUTH; a certificate nobody vouches for is refused (a transient failure: the admin fixes the setting)."""
    import shutil
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from mailsink import Handler
    from paperfeed.digest.send import SmtpSettings, TransientMailError

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(
        server: object, session: object, envelope: object, mechanism: str, auth_data: LoginPassword
    ) -> AuthResult:
        return AuthResult(success=auth_data.login == b"mailer" and auth_data.password == b"s3cret")

    handler, port = Handler(), free_port()
    options: dict[str, Any] = (
        {"ssl_context": context, "auth_require_tls": False}  # aiosmtpd does not see implicit TLS as TLS
        if security == "tls"
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=authenticate,
                            auth_required=True, **options)  # fmt: skip
    controller.start()
    try:
        base = SmtpSettings(port=port, security=security, username="mailer", password="s3cret",
                            ca_file=str(cert), sender="paperfeed <digest@example.org>", timeout=10)  # fmt: skip
        SmtpSender(base).send("ada@example.org", b"Subject: hi\r\n\r\nhello\r\n")
        assert [r.recipient for r in handler.received] == ["ada@example.org"]
        from dataclasses import replace

        with pytest.raises(TransientMailError, match="CERTIFICATE_VERIFY_FAILED"):
            SmtpSender(replace(base, ca_file=None)).send("ada@example.org", b"Subject: x\r\n\r\nx\r\n")
    finally:
        controller.stop()
