"""What the watcher's tests share: a manifest with one Twilio check the stand-in can flip, loopback receivers
(SMTP through aiosmtpd, an HTTP webhook), free ports, and polling without long sleeps."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.checks.helpers import HEAD, check_block

WATCH_TOML = (
    HEAD
    + """
[[escalations]]
id = "twilio-down"
title = "Twilio account unusable"
checks = ["tw"]
when = { status = ["fail", "error"] }
contact = "platform"

[notify]
dashboard_url = "http://127.0.0.1:8501"
waiver_days = 3
decision_days = 3
[notify.channels.hook]
url_env = "READINESS_NOTIFY_HOOK"
[notify.channels.mail]
url_env = "READINESS_NOTIFY_MAIL"
[[notify.routes]]
events = ["verdict", "decision_point", "waiver_expiring", "sweep_failed", "vault_health"]
channels = ["hook"]
[[notify.routes]]
events = ["escalation"]
contacts = ["platform"]
channels = ["mail"]

"""
    + check_block("tw", kind="twilio")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s")


class Webhook:
    """A loopback HTTP receiver for Apprise's ``json://`` URLs; ``messages`` holds each JSON body."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.messages.append(json.loads(body))
                outer.arrived.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd); ``mails`` holds each message's bytes."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.mails: list[bytes] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.mails.append(envelope.content)
                return "250 OK"

        port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        self.url = f"mailto://127.0.0.1:{port}?from=watch@example.org&to=platform@example.org"

    def subjects(self) -> list[str]:
        import email

        return [str(email.message_from_bytes(m)["Subject"]) for m in self.mails]

    def close(self) -> None:
        self.controller.stop()
