"""Outbound calls: retries for idempotent calls on 429/5xx, none for others, failures as error results."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from checks.core.clock import FixedClock
from checks.core.hookspecs import CheckContext
from checks.core.outbound import NoAnswer, json_body, request, server_error
from checks.core.status import Status
from tests.checks.helpers import check_block, flood_server, make_manifest


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


@pytest.fixture
def sleeps(monkeypatch):
    """The pauses the retry loop takes, in seconds: tenacity sleeps through ``asyncio.sleep`` (looked up at each
    pause), so recording it shows whether a call waited, without timing the test. The pause still happens."""
    taken: list[float] = []
    real = asyncio.sleep

    def recorded(delay, *args, **kwargs):
        taken.append(delay)
        return real(delay, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    return taken


def call(url, method="GET", *, settings="", timeout_s=None, **kw):
    m = make_manifest(check_block("x", timeout_s=timeout_s), extra=f"[settings]\n{settings}\n" if settings else "")

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


def test_429_honours_retry_after(server, sleeps):
    server.script = [(429, b"{}", {"Retry-After": "1"}), (200, b"{}", {})]
    response, _ = call(url_of(server))
    assert (response.status_code, server.calls, sleeps) == (200, 2, [1.0])


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


# --- bounded work on hostile answers (issue #9, section 4) ---------------------------------------------------

CAP = "max_response_bytes = 4096"


@pytest.mark.parametrize("mode", ["announced", "unannounced"])
def test_answer_past_the_cap_is_not_read_and_is_an_error(mode):
    with flood_server(20 << 20) as base, pytest.raises(NoAnswer) as exc:
        call(f"{base}/{mode}/v1/thing", settings=CAP)
    result = exc.value.result
    assert result.status is Status.ERROR
    assert "too large" in result.summary and "4096" in result.summary, result.summary
    evidence = result.evidence
    assert evidence["failure"] == "too_large" and evidence["max_response_bytes"] == 4096
    assert evidence["status_code"] == 200
    # stopped at the cap: one network chunk past it at most, never the 20 MiB
    assert evidence["bytes_read"] <= 4096 + 256 * 1024, evidence
    if mode == "announced":
        assert evidence["content_length"] == 20 << 20 and evidence["bytes_read"] == 0
    else:
        assert evidence["bytes_read"] > 4096
        assert f"read {evidence['bytes_read']} bytes" in result.summary


def test_answer_at_the_cap_is_read_whole(server):
    body = b'{"ok": "' + b"a" * (4096 - 10) + b'"}'
    assert len(body) == 4096
    server.script = [(200, body, {"Content-Type": "application/json"})]
    response, ctx = call(url_of(server), settings=CAP)
    assert json_body(response, "The test API", url_of(server), ctx)["ok"].startswith("aaa")


def test_default_cap_is_one_mebibyte():
    with flood_server((1 << 20) + 1) as base, pytest.raises(NoAnswer) as exc:
        call(f"{base}/unannounced/x")
    assert exc.value.result.evidence["max_response_bytes"] == 1 << 20


@pytest.mark.parametrize("retry_after", ["30", "http-date"])
def test_429_asking_for_more_than_the_time_left_is_rate_limited_without_sleeping(server, retry_after, sleeps):
    from email.utils import format_datetime

    from checks.core.clock import FixedClock as _Clock

    if retry_after == "http-date":  # 30 s after the test clock's now
        now = _Clock(datetime(2025, 10, 6, tzinfo=UTC)).now()
        retry_after = format_datetime(now.replace(second=30), usegmt=True)
    server.script = [(429, b'{"error": "slow down"}', {"Retry-After": retry_after}), (200, b"{}", {})]
    response, ctx = call(url_of(server), timeout_s=0.3)
    assert (response.status_code, server.calls, sleeps) == (429, 1, [])
    result = server_error(response, "The test API", url_of(server), ctx)
    assert result.status is Status.ERROR
    assert "rate-limited, retry after 30 s" in result.summary, result.summary
    assert result.evidence["retry_after_s"] == 30


def test_5xx_retry_after_past_the_time_left_stops_retrying(server, sleeps):
    server.script = [(503, b"down", {"Retry-After": "30"}), (200, b"{}", {})]
    response, _ = call(url_of(server), timeout_s=0.3)
    assert (response.status_code, server.calls, sleeps) == (503, 1, [])


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, 9)


def test_compressed_answer_is_capped_on_the_decoded_bytes(server):
    bomb = _gzip(b'{"pad": "' + b"a" * (50 << 20) + b'"}')  # ~50 KB on the wire, 50 MiB decoded
    assert len(bomb) < 65536  # under the cap on the wire
    server.script = [(200, bomb, {"Content-Encoding": "gzip", "Content-Type": "application/json"})]
    with pytest.raises(NoAnswer) as exc:
        call(url_of(server), settings="max_response_bytes = 65536")
    evidence = exc.value.result.evidence
    assert evidence["failure"] == "too_large" and evidence["bytes_read"] == 65537, evidence  # not 64 MiB at once


def test_compressed_answer_within_the_cap_is_decoded(server):
    server.script = [(200, _gzip(b'{"ok": true}'), {"Content-Encoding": "gzip"})]
    response, ctx = call(url_of(server), settings=CAP)
    assert json_body(response, "The test API", url_of(server), ctx) == {"ok": True}
