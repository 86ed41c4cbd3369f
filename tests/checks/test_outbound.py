"""Outbound calls: retries for idempotent calls on 429/5xx, none for others, failures as error results."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from checks.clock import FixedClock
from checks.hookspecs import CheckContext
from checks.outbound import NoAnswer, json_body, request, server_error
from checks.status import Status
from tests.checks.helpers import check_block, make_manifest


class Script(BaseHTTPRequestHandler):
    """Answers from a per-server script of (status, body, headers); counts requests."""

    def _answer(self) -> None:
        srv = self.server
        with srv.lock:
            srv.calls += 1
            status, body, headers = srv.script[min(srv.calls, len(srv.script)) - 1]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    srv.lock, srv.calls, srv.script = threading.Lock(), 0, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def call(url, method="GET", **kw):
    m = make_manifest(check_block("x"))

    async def go():
        async with httpx.AsyncClient() as client:
            ctx = CheckContext(
                check=m.checks[0],
                client=client,
                clock=FixedClock(datetime(2025, 10, 6, tzinfo=UTC)),
                env={},
                manifest=m,
            )
            return await request(ctx, method, url, what="The test API", provider=False, **kw), ctx

    return asyncio.run(go())


def url_of(srv):
    return f"http://127.0.0.1:{srv.server_address[1]}/v1/thing"


def test_idempotent_call_retries_5xx_then_succeeds(server):
    server.script = [(503, b"busy", {}), (502, b"bad", {}), (200, b'{"ok": true}', {})]
    response, ctx = call(url_of(server))
    assert response.status_code == 200 and server.calls == 3
    assert json_body(response, "The test API", url_of(server), ctx) == {"ok": True}


def test_429_honours_retry_after(server):
    import time

    server.script = [(429, b"{}", {"Retry-After": "1"}), (200, b"{}", {})]
    t0 = time.perf_counter()
    response, _ = call(url_of(server))
    assert response.status_code == 200 and time.perf_counter() - t0 >= 0.95


def test_retries_are_bounded_and_persisting_5xx_is_an_error(server):
    server.script = [(500, b"oops", {})]
    response, ctx = call(url_of(server), retries=2)
    assert server.calls == 3 and response.status_code == 500
    result = server_error(response, "The test API", url_of(server), ctx)
    assert result.status is Status.ERROR and "answered 500" in result.summary


def test_post_is_not_retried_unless_marked_idempotent(server):
    server.script = [(503, b"", {}), (200, b"{}", {})]
    response, _ = call(url_of(server), method="POST")
    assert response.status_code == 503 and server.calls == 1
    server.calls = 0
    response, _ = call(url_of(server), method="POST", idempotent=True)
    assert response.status_code == 200 and server.calls == 2


def test_refused_connection_is_an_error_result(server):
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(NoAnswer) as exc:
        call(f"http://127.0.0.1:{port}/x", retries=0)
    assert exc.value.result.status is Status.ERROR
    assert exc.value.result.evidence["failure"] == "refused"


def test_garbage_body_is_an_error_result(server):
    server.script = [(200, b"<html>captive portal</html>", {"Content-Type": "text/html"})]
    response, ctx = call(url_of(server))
    with pytest.raises(NoAnswer) as exc:
        json_body(response, "The test API", url_of(server), ctx)
    assert "not a JSON object" in exc.value.result.summary
    assert exc.value.result.evidence["content_type"] == "text/html"
