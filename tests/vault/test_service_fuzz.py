"""The vault service against its own committed OpenAPI document (``docs/vault-openapi.json``), fuzzed.

Schemathesis draws requests for every operation from the document: valid ones (any tenant, provider and
account the schema allows, bodies of every documented shape) and invalid ones (wrong types, missing fields,
strings where numbers go). Each goes over TLS to a real ``readiness vault serve`` on loopback, as an admin, as
nobody, or with a forged token. Every answer must be one the document promises (status, content type, body
schema, headers), never a server error; a refusal must be JSON with one of the stable codes. A stored access or
refresh token may come back only in a 200 from ``GET /v1/tokens/…``, and a refresh token never does. Runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from vault import Role
from vault.service_app import ERRORS, ServiceSettings
from vault.service_tokens import ServiceTokens

from .service_helpers import ADMIN, OffsetClock, database, make_tls, running_service

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "vault-openapi.json"
SCHEMA = schemathesis.openapi.from_path(str(DOCUMENT))
OPERATIONS = [
    (path, method.upper())
    for path, item in SCHEMA.raw_schema["paths"].items()
    for method in item
    if method in ("get", "put", "post", "delete", "patch")
]


def _runs() -> list:
    """Each operation valid, and invalid where it has something to make invalid (parameters or a body)."""
    runs = []
    for path, method in OPERATIONS:
        op = SCHEMA[path][method]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.POSITIVE or op.path_parameters or op.query or op.body:
                runs.append(pytest.param(path, method, mode, id=f"{method} {path} {mode.value}"))
    return runs


ACCESS = "ya29.a0fuzz-" + secrets.token_urlsafe(24)
REFRESH = "1//0gfuzz-" + secrets.token_urlsafe(24)
FORGED = "rvs_" + secrets.token_urlsafe(32)
EXAMPLES = int(os.environ.get("READINESS_FUZZ_EXAMPLES", "25"))
"""Requests per operation, mode and database: 25 (the same ones every run) in the suite; more, drawn afresh, by
hand (``READINESS_FUZZ_EXAMPLES=500``)."""
OPEN = {"/healthz", "/openapi.json"}
"""The paths that need no identity."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_world(request, tmp_path_factory):
    """A server with limits high enough not to refuse the fuzzer, an unscoped admin, and one Google credential
    (``acme``/``ops@acme.test``) whose tokens the answers are searched for."""
    tls = make_tls(tmp_path_factory.mktemp("tls"))
    clock = OffsetClock()
    limits = ServiceSettings(rate=10_000, burst=10_000, anonymous_rate=10_000, auth_cache_ttl=0)
    with (
        database(request.param, tmp_path_factory.mktemp("db")) as url,
        running_service(url, tls, clock, settings=limits) as svc,
    ):
        admin = ServiceTokens(svc.vault).create(ADMIN, "fuzz-admin", Role.ADMIN).token.reveal()
        svc.vault.put(
            ADMIN, "acme", "google", "ops@acme.test", ACCESS, REFRESH,
            expires_at=clock.now() + timedelta(hours=1), scopes=["openid"],
        )  # fmt: skip
        with httpx.Client(base_url=svc.url, verify=tls.context(), timeout=30) as http:
            yield http, {"admin": f"Bearer {admin}", "forged": f"Bearer {FORGED}", "nobody": None}


def _send(http: httpx.Client, case, authorization: str | None) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=str(http.base_url).rstrip("/"))
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
    if authorization:  # the identity drawn, never one the fuzzer made up from the security scheme
        headers["Authorization"] = authorization
    data = kwargs.get("data")
    return http.request(
        case.method, case.formatted_path, headers=headers, params=kwargs.get("params"),
        content=data if isinstance(data, bytes | str) else None, json=kwargs.get("json"),
    )  # fmt: skip


def _judge(case, response: httpx.Response, who: str) -> None:
    """What every answer owes its caller, beyond the document."""
    body = response.text
    where = f"{case.method} {case.formatted_path} as {who} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: a server error: {body[:200]}"
    assert REFRESH not in body, f"{where}: the refresh token left the service"
    if ACCESS in body:
        assert (who, response.status_code, case.method) == ("admin", 200, "GET"), f"{where}: the access token"
        assert case.operation.path == "/v1/tokens/{tenant}/{provider}/{account}", where
    if who != "admin" and case.operation.path not in OPEN:
        assert response.status_code == 401, f"{where}: served without a valid identity"
    if response.status_code >= 400:
        error = json.loads(body)["error"]
        assert error["code"] in ERRORS, f"{where}: an undocumented code {error['code']!r}"
        assert FORGED not in body and "rvs_" not in body, f"{where}: a service token in the answer"


@pytest.mark.parametrize(("path", "method", "mode"), _runs())
def test_every_answer_is_one_the_document_promises(fuzz_world, path, method, mode):
    http, identities = fuzz_world
    operation = SCHEMA[path][method]

    def drawn(who: str):  # the identity is given to the fuzzer, so that a mutation is never only "no identity"
        header = identities[who]
        cases = operation.as_strategy(generation_mode=mode, headers={"Authorization": header} if header else None)
        return cases.map(lambda case: (who, case))

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES == 25,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    @given(st.sampled_from(sorted(identities)).flatmap(drawn))
    def run(drawn_case):
        who, case = drawn_case
        response = _send(http, case, identities[who])
        _judge(case, response, who)
        # ignored_auth replays the call with its own HTTP client, which does not trust the test CA; what it
        # checks (no identity, no service) is judged in _judge for every call.
        case.validate_response(response, excluded_checks=[schemathesis.checks.ignored_auth])

    run()
