"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives, and can be told to refuse."""

from __future__ import annotations

import email
import socket
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    recipient: str
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)  # the default policy makes EmailMessage
        return parsed


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply such as "550 no such user"
    delay: float = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)  # a slow server, so a kill lands in the middle of a run
        for recipient in envelope.rcpt_tos:
            self.received.append(Received(recipient, bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted"


class MailSink:
    def __init__(self, port: int | None = None) -> None:
        self.handler = Handler()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if r.recipient == recipient]
