"""Kind ``http`` against a real HTTP server on loopback: statuses, conditions, every way to get no answer."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from checks.builtin.http import HttpParams, http
from checks.core.hookspecs import KIND_ATTR
from checks.core.manifest import Manifest
from checks.core.manifest_load import parse_manifest
from checks.core.redact import fingerprint
from checks.core.result import Result
from checks.core.status import Status
from tests.checks.helpers import flood_server, run_kind

HEALTH = {
    "status": "ok",
    "version": "1.2.3",
    "count": 3,
    "ready": True,
    "items": [{"id": "a"}, {"id": "b"}],
    "tags": ["eu", "us"],
}


class Handler(BaseHTTPRequestHandler):
    """Routes on the last path segment, so ``/api.provider.test/ok`` (a stand-in route) is ``ok``."""

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        route = self.path.split("?")[0].rstrip("/").split("/")[-1]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if route == "ok":
            self._json(200, HEALTH)
        elif route == "created":
            self._json(201, {"status": "created"})
        elif route == "500":
            self._json(500, {"error": "boom"})
        elif route == "404":
            self._json(404, {"error": "not found"})
        elif route == "429":
            self.send_response(429)
            self.send_header("Retry-After", "30")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "401":
            self._json(401, {"error": "unauthorized"})
        elif route == "garbage":
            self._raw(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
        elif route == "slow":
            time.sleep(1.5)
            self._json(200, HEALTH)
        elif route == "slowish":
            time.sleep(0.25)
            self._json(200, HEALTH)
        elif route == "redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "echo":
            self._json(
                200,
                {
                    "method": self.command,
                    "x_api_key": self.headers.get("X-Api-Key"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                },
            )
        else:
            self._json(404, {"error": f"no route {route}"})

    def _json(self, code: int, payload: Any) -> None:
        self._raw(code, json.dumps(payload).encode(), "application/json")

    def _raw(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def manifest_text(extra: str = "") -> str:
    """The smallest valid manifest: one area, one item, one contact, plus ``extra`` TOML."""
    return f"""
[release]
story = "STORY-TEST"
title = "Test release"
release_manager = "rm"
assessment_date = 2025-10-01
next_review = 2025-10-08
decision_point = 2025-10-15

[[areas]]
id = "infra"
title = "Infrastructure"
priority = "high"

[[items]]
id = "proxy"
title = "GHL OAuth proxy"
area = "infra"
priority = "high"
owner = "rm"

[contacts.rm]
name = "Release Manager"
{extra}
"""


MANIFEST = parse_manifest(
    manifest_text(
        """
[[env]]
name = "PROBE_SECRET_URL"
type = "url"
item = "proxy"
secret = true

[[env]]
name = "PROBE_URL"
type = "url"
item = "proxy"
"""
    )
)


def run_http(
    params: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    standins_url: str | None = None,
    manifest: Manifest = MANIFEST,
) -> Result:
    validated = HttpParams.model_validate(params)
    return run_kind(
        lambda ctx: http(validated, ctx),
        kind="http",
        params=params,
        manifest=manifest,
        env=env or {},
        check_id="http.probe",
        item="proxy",
        timeout_s=timeout_s,
        standins_url=standins_url,
        client_options={"timeout": 5.0},
    )


def rendered(result: Result) -> str:
    return f"{dataclasses.asdict(result)!r} {result!r}"


ALL_MET = [
    {"path": "$.status", "op": "==", "value": "ok"},
    {"path": "$.status", "op": "!=", "value": "down"},
    {"path": "$.count", "op": ">", "value": 2},
    {"path": "$.count", "op": "<", "value": 10},
    {"path": "$.items[1].id", "op": "==", "value": "b"},
    {"path": "$.tags", "op": "contains", "value": "eu"},
    {"path": "$.version", "op": "contains", "value": "1.2"},
    {"path": "$.version", "op": "in", "value": ["1.2.3", "1.2.4"]},
    {"path": "$.ready", "op": "==", "value": True},
    {"path": "$.items", "op": "exists"},
    {"path": "$", "op": "contains", "value": "status"},
]

CASES = [
    # (id, route, extra params, timeout_s, status, words in the summary, evidence.failure)
    ("200", "ok", {}, None, Status.PASS, "answered 200", None),
    ("200-all-conditions-met", "ok", {"json": ALL_MET}, None, Status.PASS, "11 JSON condition(s) met", None),
    (
        "201-expected-in-list",
        "created",
        {"expect_status": [200, 201]},
        None,
        Status.PASS,
        "answered 201",
        None,
    ),
    ("404-expected", "404", {"expect_status": 404}, None, Status.PASS, "answered 404", None),
    ("404-unexpected", "404", {}, None, Status.FAIL, "answered 404: [STATUS] == 200 failed", None),
    ("401-unexpected", "401", {}, None, Status.FAIL, "[STATUS] == 200 failed", None),
    ("500-server-error", "500", {}, None, Status.ERROR, "answered 500 (server error)", None),
    ("429-rate-limited", "429", {}, None, Status.ERROR, "answered 429: rate-limited, retry after 30 s", None),
    ("429-expected", "429", {"expect_status": 429}, None, Status.PASS, "answered 429", None),
    (
        "500-with-conditions",
        "500",
        {"json": [{"path": "$.status", "value": "ok"}]},
        None,
        Status.ERROR,
        "server error",
        None,
    ),
    (
        "condition-not-met",
        "ok",
        {"json": [{"path": "$.status", "value": "ok"}, {"path": "$.status", "value": "down"}]},
        None,
        Status.FAIL,
        '$.status == "down" failed (got "ok")',
        None,
    ),
    (
        "first-failing-is-named",
        "ok",
        {"json": [{"path": "$.count", "op": ">", "value": 5}, {"path": "$.status", "value": "down"}]},
        None,
        Status.FAIL,
        "$.count > 5 failed (got 3)",
        None,
    ),
    ("path-absent", "ok", {"json": [{"path": "$.nope", "op": "exists"}]}, None, Status.FAIL, "absent", None),
    (
        "true-is-not-1",
        "ok",
        {"json": [{"path": "$.ready", "value": 1}]},
        None,
        Status.FAIL,
        "$.ready == 1 failed",
        None,
    ),
    (
        "order-on-a-string",
        "ok",
        {"json": [{"path": "$.version", "op": ">", "value": 1}]},
        None,
        Status.FAIL,
        "not a number",
        None,
    ),
    (
        "garbage-with-conditions",
        "garbage",
        {"json": [{"path": "$.status", "value": "ok"}]},
        None,
        Status.ERROR,
        "answered non-JSON (text/html)",
        None,
    ),
    ("garbage-without-conditions", "garbage", {}, None, Status.PASS, "answered 200", None),
    ("slow-times-out", "slow", {}, 0.3, Status.ERROR, "timed out after 0.3s", "timeout"),
    (
        "slower-than-allowed",
        "slowish",
        {"max_response_ms": 50},
        None,
        Status.FAIL,
        "[RESPONSE_TIME] < 50 failed",
        None,
    ),
    ("redirect-not-followed", "redirect", {}, None, Status.FAIL, "answered 302", None),
    ("redirect-followed", "redirect", {"follow_redirects": True}, None, Status.PASS, "answered 200", None),
]


@pytest.mark.parametrize(
    ("route", "extra", "timeout_s", "status", "words", "failure"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_answers(base: str, route, extra, timeout_s, status, words, failure) -> None:
    result = run_http({"url": f"{base}/{route}", **extra}, timeout_s=timeout_s)
    assert result.status is status, result.summary
    assert words in result.summary
    assert result.summary.startswith(f"GET {base}/{route}")
    assert result.evidence.get("failure") == failure
    assert result.evidence["url"] == f"{base}/{route}"
    assert result.evidence["method"] == "GET"
    if failure is None:
        assert {"status_code", "response_ms", "content_type", "body_excerpt"} <= set(result.evidence)
        assert result.conditions[0].name.startswith("[STATUS]")
    if status is not Status.PASS:
        assert result.remediation or status is Status.FAIL


def test_conditions_are_kept_each_with_its_outcome(base: str) -> None:
    result = run_http(
        {
            "url": f"{base}/ok",
            "max_response_ms": 5000,
            "json": [{"path": "$.status", "value": "ok"}, {"path": "$.count", "op": "<", "value": 2}],
        }
    )
    assert [(c.name, c.passed) for c in result.conditions] == [
        ("[STATUS] == 200", True),
        ("[RESPONSE_TIME] < 5000", True),
        ('$.status == "ok"', True),
        ("$.count < 2", False),
    ]
    assert result.conditions[3].detail == "got 3"
    assert result.evidence["content_type"] == "application/json"
    assert result.evidence["body_excerpt"].startswith('{"status": "ok"')


def test_redirect_evidence_names_the_location(base: str) -> None:
    result = run_http({"url": f"{base}/redirect"})
    assert result.evidence["status_code"] == 302
    assert result.evidence["location"] == "/ok"
    assert "redirect" in result.remediation


def test_body_excerpt_is_short(base: str) -> None:
    result = run_http({"url": f"{base}/ok", "json": [{"path": "$.status", "value": "ok"}]})
    assert len(result.evidence["body_excerpt"]) <= 200


@pytest.mark.parametrize(
    ("url", "words", "failure"),
    [
        ("http://127.0.0.1:{closed}/ok", "connection refused", "refused"),
        ("http://readiness-probe.invalid/ok", "name does not resolve", "dns"),
        ("https://127.0.0.1:{port}/ok", "TLS handshake failed", "tls"),
    ],
    ids=["refused", "dns", "tls-on-plain-http"],
)
def test_no_answer_is_an_error_that_says_why(base: str, closed_port: int, url, words, failure) -> None:
    port = base.rsplit(":", 1)[1]
    result = run_http({"url": url.format(closed=closed_port, port=port)}, timeout_s=5)
    assert result.status is Status.ERROR
    assert words in result.summary
    assert result.evidence["failure"] == failure
    assert result.remediation
    assert "status_code" not in result.evidence


def test_post_sends_the_json_body(base: str) -> None:
    result = run_http(
        {
            "url": f"{base}/echo",
            "method": "post",
            "json_body": {"ping": 1},
            "json": [
                {"path": "$.method", "value": "POST"},
                {"path": "$.content_type", "value": "application/json"},
                {"path": "$.body", "op": "contains", "value": "ping"},
            ],
        }
    )
    assert result.status is Status.PASS, result.summary
    assert result.evidence["method"] == "POST"


def test_header_values_from_env_never_appear(base: str) -> None:
    secret = "hdr-9f8e7d6c5b4a3f2e1d0c"
    result = run_http(
        {
            "url": f"{base}/echo",
            "header_env": {"X-Api-Key": "PROBE_API_KEY"},
            "json": [
                {"path": "$.x_api_key", "op": "exists"},
                {"path": "$.x_api_key", "value": "something-else"},  # fails, and its detail holds the echo
            ],
        },
        env={"PROBE_API_KEY": secret},
    )
    assert result.status is Status.FAIL
    assert result.conditions[1].passed  # the server did receive the header
    assert secret not in rendered(result)
    assert fingerprint(secret) in result.evidence["body_excerpt"]


def test_header_env_unset_fails_naming_the_variable(base: str) -> None:
    result = run_http({"url": f"{base}/echo", "header_env": {"X-Api-Key": "PROBE_API_KEY"}})
    assert result.status is Status.FAIL
    assert result.summary.startswith("PROBE_API_KEY is not set")
    assert "X-Api-Key" in result.summary


def test_query_secrets_are_scrubbed_from_the_url(base: str) -> None:
    result = run_http({"url": f"{base}/ok?api_key=qs-7a6b5c4d3e2f1a0b&page=2&sig=abcdef123456"})
    assert result.status is Status.PASS
    assert result.evidence["url"] == f"{base}/ok?api_key=***&page=2&sig=***"
    text = rendered(result)
    assert "qs-7a6b5c4d3e2f1a0b" not in text
    assert "abcdef123456" not in text


def test_url_from_a_secret_env_var_is_never_shown(base: str) -> None:
    url = f"{base}/ok?route=hook-5e4d3c2b1a"
    result = run_http({"url_env": "PROBE_SECRET_URL"}, env={"PROBE_SECRET_URL": url})
    assert result.status is Status.PASS, result.summary
    assert result.evidence["url"] == fingerprint(url)
    assert result.summary.startswith("GET PROBE_SECRET_URL answered 200")
    assert "hook-5e4d3c2b1a" not in rendered(result)


def test_url_from_a_plain_env_var_is_shown(base: str) -> None:
    result = run_http({"url_env": "PROBE_URL"}, env={"PROBE_URL": f"{base}/ok"})
    assert result.status is Status.PASS
    assert result.evidence["url"] == f"{base}/ok"
    assert result.evidence["url_env"] == "PROBE_URL"


@pytest.mark.parametrize(
    ("value", "words"),
    [(None, "PROBE_URL is not set"), ("", "PROBE_URL is not set"), ("vault.internal", "not an absolute")],
    ids=["unset", "empty", "not-a-url"],
)
def test_url_env_problems_fail(value, words) -> None:
    result = run_http({"url_env": "PROBE_URL"}, env={} if value is None else {"PROBE_URL": value})
    assert result.status is Status.FAIL
    assert words in result.summary


def test_provider_urls_go_through_the_standins(base: str) -> None:
    result = run_http({"url": "https://api.provider.test/v1/ok", "provider": True}, standins_url=base)
    assert result.status is Status.PASS, result.summary
    assert result.evidence["url"] == f"{base}/api.provider.test/v1/ok"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"url": "https://a.test/", "url_env": "PROBE_URL"},
        {"url": "a.test/health"},
        {"url": "https://a.test/", "method": "FETCH"},
        {"url": "https://a.test/", "expect_status": 999},
        {"url": "https://a.test/", "expect_status": []},
        {"url": "https://a.test/", "json": [{"path": "status", "value": "ok"}]},
        {"url": "https://a.test/", "json": [{"path": "$.items[x]", "value": "ok"}]},
        {"url": "https://a.test/", "json": [{"path": "$.status", "op": "in", "value": "ok"}]},
        {"url": "https://a.test/", "json": [{"path": "$.count", "op": "<", "value": "3"}]},
        {"url": "https://a.test/", "json": [{"path": "$.status", "op": "~=", "value": "ok"}]},
        {"url": "https://a.test/", "body": "x", "json_body": {"a": 1}},
        {"url": "https://a.test/", "headers": {"X-Key": "1"}, "header_env": {"x-key": "K"}},
        {"url": "https://a.test/", "timeout": 3},
    ],
    ids=[
        "no-url",
        "both-urls",
        "relative-url",
        "bad-method",
        "bad-status",
        "empty-status-list",
        "path-without-dollar",
        "path-bad-index",
        "in-needs-list",
        "order-needs-number",
        "unknown-op",
        "two-bodies",
        "header-twice",
        "unknown-key",
    ],
)
def test_params_are_validated(params) -> None:
    with pytest.raises(ValidationError):
        HttpParams.model_validate(params)


def test_json_conditions_are_written_json_in_the_manifest() -> None:
    manifest = parse_manifest(
        manifest_text(
            """
[[checks]]
id = "proxy.health"
item = "proxy"
kind = "http"
params = { url = "https://proxy.acme.test/health", json = [{ path = "$.status", value = "ok" }] }
"""
        )
    )
    params = HttpParams.model_validate(manifest.checks_by_id["proxy.health"].params)
    assert [c.name for c in params.conditions] == ['$.status == "ok"']


def test_kind_is_marked_and_documented() -> None:
    spec = getattr(http, KIND_ATTR)
    assert spec.name == "http"
    assert spec.params is HttpParams
    assert "HTTP request" in spec.doc


@pytest.mark.parametrize("mode", ["announced", "unannounced"])
def test_answer_past_the_cap_is_an_error_not_a_pass(mode: str) -> None:
    capped = parse_manifest(manifest_text("[settings]\nmax_response_bytes = 4096\n"))
    with flood_server(20 << 20) as base:
        result = run_http({"url": f"{base}/{mode}/health"}, manifest=capped)
    assert result.status is Status.ERROR, result.summary
    assert "too large" in result.summary and "4096 bytes" in result.summary
    assert result.summary.startswith(f"GET {base}/{mode}/health")
    assert result.evidence["failure"] == "too_large" and result.evidence["max_response_bytes"] == 4096
    assert result.evidence["bytes_read"] <= 4096 + 256 * 1024
    assert result.evidence["method"] == "GET" and result.remediation


def test_redirect_bodies_are_not_read_when_following() -> None:
    with flood_server(1 << 30) as base:  # a 1 GiB body on the 302: httpx itself would read it all
        result = run_http({"url": f"{base}/redirect/x", "follow_redirects": True}, timeout_s=2)
    assert result.status is Status.PASS, result.summary
    assert result.evidence["status_code"] == 200 and result.evidence["response_ms"] < 1500
