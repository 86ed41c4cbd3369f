"""Small manifests built in code for engine tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from checks.core.manifest import Manifest
from checks.core.manifest_load import parse_manifest

HEAD = """
schema = 1
[release]
story = "TEST-1"
title = "Test release"
release_manager = "rm"
assessment_date = 2025-10-06
next_review = 2025-10-11
decision_point = 2025-10-13

[[areas]]
id = "a"
title = "Area A"
priority = "high"

[[areas]]
id = "b"
title = "Area B"
priority = "low"

[[items]]
id = "a.one"
title = "Item one"
area = "a"
priority = "critical"
owner = "platform"
blocks = ["#65"]

[[items]]
id = "b.two"
title = "Item two"
area = "b"
priority = "low"
owner = "platform"

[contacts.platform]
name = "Platform Team"

[[milestones]]
id = "week1"
title = "Week 1"
"""


def check_block(
    id: str,
    kind: str = "fixed",
    item: str = "a.one",
    severity: str = "blocking",
    depends_on: list[str] | None = None,
    timeout_s: float | None = None,
    **params: object,
) -> str:
    lines = ["[[checks]]", f'id = "{id}"', f'kind = "{kind}"', f'item = "{item}"', f'severity = "{severity}"']
    if depends_on:
        lines.append("depends_on = [" + ", ".join(f'"{d}"' for d in depends_on) + "]")
    if timeout_s is not None:
        lines.append(f"timeout_s = {timeout_s}")
    if params:
        lines.append("[checks.params]")
        for k, v in params.items():
            lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    return "\n".join(lines) + "\n"


def make_manifest(*blocks: str, extra: str = "") -> Manifest:
    return parse_manifest(HEAD + extra + "\n" + "\n".join(blocks), source="test.toml")


class _Flood(BaseHTTPRequestHandler):
    """Answers ``/announced/...`` with a Content-Length and ``/unannounced/...`` without one (the body ends
    when the connection closes), ``server.size`` bytes of a JSON-looking body, 64 KiB at a time;
    ``/redirect/...`` is a 302 to ``/small`` (a 16-byte JSON answer) carrying such a body."""

    def do_GET(self) -> None:  # noqa: N802
        srv: Any = self.server
        if self.path.startswith("/small"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "16")
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')
            return
        if self.path.startswith("/redirect"):  # a redirect whose own body is the flood
            self.send_response(302)
            self.send_header("Location", "/small")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.startswith("/announced"):
            self.send_header("Content-Length", str(srv.size))
        self.end_headers()
        block = b"a" * 65536
        left = srv.size
        try:
            self.wfile.write(b'{"status": "ok", "pad": "')
            while left > 0:
                self.wfile.write(block[: min(len(block), left)])
                left -= len(block)
        except OSError:
            pass  # the client stopped reading: what a capped client does

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def flood_server(size: int) -> Iterator[str]:
    """A loopback HTTP server whose every answer is ``size`` bytes long; yields its base URL."""
    srv: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    srv.daemon_threads, srv.size = True, size
    srv.handle_error = lambda *a: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
