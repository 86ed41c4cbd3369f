"""Kind ``ghl`` against the GHL proxy stand-in on loopback: both probes through every scenario."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.builtin.ghl import GhlParams, ghl
from checks.core.hookspecs import KIND_ATTR
from checks.core.manifest import Manifest
from checks.core.redact import Scrubber, fingerprint
from checks.core.result import Condition, Result
from checks.core.runner import run_checks, user_agent
from checks.core.status import Status
from checks.standins.ghl import DEFAULT_API_KEY, DEFAULT_COMPANY_ID, DEFAULT_LOCATIONS, HOST, SCENARIOS, GhlProxyStandin
from checks.standins.server import StandinServer, json_response
from tests.checks.helpers import check_block, make_manifest, run_kind, standin_fixtures

KEY = DEFAULT_API_KEY
FIRST, SECOND = (loc.id for loc in DEFAULT_LOCATIONS)
IDS = f"{FIRST},{SECOND}"
MANIFEST = make_manifest(check_block("x"))
SLOW_TIMEOUT_S = 0.3


running, standin = standin_fixtures(lambda: GhlProxyStandin(slow_s=1.0, retry_after=0))


def proxy_env(server: StandinServer, **overrides: str) -> dict[str, str]:
    env = {"GHL_PROXY_URL": f"{server.url}/{HOST}", "GHL_PROXY_API_KEY": KEY, "GHL_TEST_LOCATION_IDS": IDS}
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


def run_ghl(
    params: dict[str, Any],
    env: dict[str, str],
    *,
    standins_url: str | None = None,
    timeout_s: float | None = 5.0,
    scrubber: Scrubber | None = None,
    manifest: Manifest = MANIFEST,
) -> Result:
    validated = GhlParams.model_validate(params)
    return run_kind(
        lambda ctx: ghl(validated, ctx),
        kind="ghl",
        params=params,
        manifest=manifest,
        env=env,
        check_id="oauth.ghl.proxy",
        timeout_s=timeout_s,
        standins_url=standins_url,
        scrubber=scrubber,
        client_options={"headers": {"User-Agent": user_agent()}},
    )


def rendered(result: Result) -> str:
    return repr(result) + json.dumps(dataclasses.asdict(result), default=str)


def assert_no_key(result: Result, key: str = KEY) -> None:
    text = rendered(result)
    assert key not in text
    assert key[6:] not in text  # not even without its prefix


# (scenario, probe, status, words the summary must hold: what is wrong and what to do)
TABLE = [
    ("valid", "proxy", Status.PASS, ["is up", "refuses requests without GHL_PROXY_API_KEY", "accepts it"]),
    ("open_proxy", "proxy", Status.FAIL, ["serves GHL data without an API key", "lock it down"]),
    ("wrong_key", "proxy", Status.FAIL, ["refuses GHL_PROXY_API_KEY (401)", "the key the proxy expects"]),
    ("no_access", "proxy", Status.PASS, ["is up"]),
    ("wrong_scope", "proxy", Status.PASS, ["accepts it"]),
    ("user_type_mismatch", "proxy", Status.PASS, ["accepts it"]),
    ("token_expired", "proxy", Status.PASS, ["accepts it"]),
    ("strips_version", "proxy", Status.PASS, ["accepts it"]),
    ("missing_location", "proxy", Status.PASS, ["is up"]),
    ("slow", "proxy", Status.ERROR, ["did not answer within 0.3s", "retry later"]),
    ("500", "proxy", Status.ERROR, ["GET /health with 500", "running but failing", "could not tell", "check its logs"]),
    ("429", "proxy", Status.ERROR, ["rate limiting (429)", "retry later"]),
    ("garbage", "proxy", Status.ERROR, ["body that is not JSON", "could not tell", "points at the proxy"]),
    ("down", "proxy", Status.ERROR, ["GET /health with 503", "reports itself unhealthy", "could not tell"]),
    (
        "valid",
        "locations",
        Status.PASS,
        ["All 2 GHL test locations are readable", f"Readiness Test Location ({FIRST})"],
    ),
    ("open_proxy", "locations", Status.PASS, ["All 2 GHL test locations are readable"]),
    ("wrong_key", "locations", Status.FAIL, ["refuses GHL_PROXY_API_KEY (401)", "ask its owner"]),
    (
        "no_access",
        "locations",
        Status.FAIL,
        [f"not readable through the proxy: {SECOND}", "1 of 2", "does not cover it", "reinstall) the app"],
    ),
    ("wrong_scope", "locations", Status.FAIL, ["2 of 2", f"{FIRST}, {SECOND}", "lacks the locations.readonly"]),
    (
        "user_type_mismatch",
        "locations",
        Status.FAIL,
        ["token's class (Company/agency vs Location", "authClass type", "POST /oauth/locationToken"],
    ),
    ("token_expired", "locations", Status.FAIL, ["'Invalid JWT'", "reconnect (reinstall) the app"]),
    ("strips_version", "locations", Status.FAIL, ["Version header", "'version header was not found.'"]),
    ("missing_location", "locations", Status.FAIL, [f"{SECOND}: GHL has no such location", "fix the id"]),
    ("slow", "locations", Status.ERROR, ["did not answer within 0.3s", "retry later"]),
    ("500", "locations", Status.ERROR, ["answered 500", "retry later"]),
    ("429", "locations", Status.ERROR, ["rate limiting (429)", "retry later"]),
    ("garbage", "locations", Status.ERROR, ["not a JSON object", "could not tell"]),
    ("down", "locations", Status.ERROR, ["answered 503", "retry later"]),
]


def test_the_table_covers_every_scenario_for_every_probe() -> None:
    for probe in ("proxy", "locations"):
        assert sorted(s for s, p, *_ in TABLE if p == probe) == sorted(SCENARIOS)


@pytest.mark.parametrize(
    ("scenario", "probe", "status", "words"), TABLE, ids=[f"{probe}-{scenario}" for scenario, probe, *_ in TABLE]
)
def test_every_probe_through_every_scenario(standin, scenario, probe, status, words) -> None:
    server, provider = standin
    provider.set_scenario(scenario)
    timeout = SLOW_TIMEOUT_S if scenario == "slow" else 5.0
    # The stand-ins URL is set too: the proxy's URL must be used as given, not rerouted through it.
    result = run_ghl({"probe": probe}, proxy_env(server), standins_url=server.url, timeout_s=timeout)
    assert result.status is status, result.summary
    for word in words:
        assert word in result.summary, result.summary
    if status is not Status.PASS:
        assert result.remediation
    assert_no_key(result)
    assert provider.calls, "the proxy's URL was rerouted instead of used as given"
    assert all(ua.startswith("readiness/") for ua in provider.user_agents)


def test_a_healthy_proxy_keeps_three_passing_conditions(standin) -> None:
    server, provider = standin
    result = run_ghl({"probe": "proxy"}, proxy_env(server))
    assert [(c.name, c.passed) for c in result.conditions] == [
        ("reachable", True),
        ("refuses a request without the key", True),
        ("accepts a request with the key", True),
    ]
    assert provider.calls == ["GET /health", f"GET /locations/{FIRST}", f"GET /locations/{FIRST}"]
    assert provider.keyed == [False, False, True]  # the key goes only where it is needed
    assert provider.versions[1:] == ["2021-07-28", "2021-07-28"]
    assert result.evidence["key_fingerprint"] == fingerprint(KEY)
    assert result.evidence["location_probed"] == FIRST
    assert (result.evidence["health_status"], result.evidence["without_key_status"]) == (200, 401)


def test_an_open_proxy_is_a_security_finding_in_its_condition(standin) -> None:
    server, provider = standin
    provider.set_scenario("open_proxy")
    result = run_ghl({"probe": "proxy"}, proxy_env(server))
    assert result.status is Status.FAIL
    refused = [c for c in result.conditions if c.name == "refuses a request without the key"]
    assert refused and not refused[0].passed and "answered 200" in refused[0].detail
    assert "Security" in result.remediation


def test_an_open_proxy_that_forwards_to_ghl_is_caught_even_without_test_locations(standin) -> None:
    server, provider = standin
    provider.set_scenario("open_proxy")
    result = run_ghl({"probe": "proxy"}, proxy_env(server, GHL_TEST_LOCATION_IDS=""))
    assert result.status is Status.FAIL
    assert "forwards requests without an API key to GHL" in result.summary
    assert result.evidence["location_probed"] == "probe"
    assert provider.calls[1] == "GET /locations/probe"


def test_a_proxy_refusing_with_invalid_jwt_is_not_taken_for_ghl(standin) -> None:
    server, provider = standin
    provider.set_scenario("open_proxy")
    provider.set_location(FIRST, access="token_expired")  # GHL's "Invalid JWT" comes back without a key
    result = run_ghl({"probe": "proxy"}, proxy_env(server))
    refused = result.conditions[1]
    assert refused.passed, refused.detail  # a JWT-keyed proxy answers the same words: not proof of forwarding


def test_a_forwarded_ghl_refusal_counts_as_the_key_accepted(standin) -> None:
    server, provider = standin
    provider.set_scenario("wrong_scope")
    result = run_ghl({"probe": "proxy"}, proxy_env(server))
    accepted = result.conditions[2]
    assert accepted.passed and "The token is not authorized for this scope." in accepted.detail
    assert result.evidence["ghl_message"] == "The token is not authorized for this scope."


def test_the_proxy_probe_without_a_key_still_checks_the_lock(standin) -> None:
    server, provider = standin
    result = run_ghl({"probe": "proxy"}, proxy_env(server, GHL_PROXY_API_KEY=""))
    assert result.status is Status.FAIL
    assert result.summary.startswith("GHL_PROXY_API_KEY is not set")
    assert [c.passed for c in result.conditions] == [True, True, False]
    assert provider.keyed == [False, False]


def test_the_key_never_shows_when_the_proxy_echoes_it(standin) -> None:
    server, provider = standin
    echoed = httpx.get(
        f"{server.url}/{HOST}/locations/{FIRST}", headers={"Authorization": "Bearer nope-nope-nope", "Version": "x"}
    ).json()
    assert echoed["received"] == {"authorization": "Bearer nope-nope-nope"}  # the stand-in does echo
    provider.set_scenario("wrong_key")
    for probe in ("proxy", "locations"):
        result = run_ghl({"probe": probe}, proxy_env(server))
        assert result.status is Status.FAIL
        assert_no_key(result)
    assert '"authorization": "Bearer ***"' in result.evidence["body_excerpt"]  # masked, name kept


@pytest.mark.parametrize(
    ("header", "scheme"), [("Authorization", "Bearer"), ("X-API-Key", "")], ids=["bearer", "x-api-key-no-scheme"]
)
def test_the_key_never_shows_in_a_500_that_echoes_request_headers(standin, header, scheme) -> None:
    server, provider = standin
    provider.set_scenario("500")
    params = {"probe": "locations", "auth_header": header, "auth_scheme": scheme}
    scrubber = Scrubber()
    result = run_ghl(params, proxy_env(server), scrubber=scrubber)
    assert result.status is Status.ERROR
    assert header.lower() in result.evidence["body_excerpt"]  # the echo reached the evidence, masked
    assert_no_key(result)
    assert KEY not in scrubber(f"key={KEY}")  # registered: no other check of the sweep can show it


def test_the_key_can_go_in_another_header_without_a_scheme(standin) -> None:
    server, _ = standin
    params = {"probe": "locations", "auth_header": "X-API-Key", "auth_scheme": ""}
    assert run_ghl(params, proxy_env(server)).status is Status.PASS
    proxy = run_ghl({**params, "probe": "proxy"}, proxy_env(server))
    assert proxy.status is Status.PASS, proxy.summary


def test_a_wrong_auth_header_reads_as_the_key_refused_and_names_the_params(standin) -> None:
    server, _ = standin
    result = run_ghl({"probe": "proxy", "auth_header": "X-Proxy-Token"}, proxy_env(server))
    assert result.status is Status.FAIL
    assert "refuses GHL_PROXY_API_KEY" in result.summary
    assert "auth_header/auth_scheme" in result.remediation


def test_each_location_outcome_is_in_the_evidence(standin) -> None:
    server, provider = standin
    provider.set_scenario("no_access")
    result = run_ghl({"probe": "locations"}, proxy_env(server))
    first, second = result.evidence["locations"]
    assert first == {
        "id": FIRST,
        "status_code": 200,
        "outcome": "ok",
        "name": "Readiness Test Location",
        "company_id": DEFAULT_COMPANY_ID,
    }
    assert second["outcome"] == "no_access" and second["status_code"] == 403
    assert second["ghl_message"] == "The token does not have access to this location."
    assert [(c.name, c.passed) for c in result.conditions] == [
        (f"location {FIRST} readable", True),
        (f"location {SECOND} readable", False),
    ]
    assert all(v == "2021-07-28" for v in provider.versions)
    assert "GHL_TEST_LOCATION_IDS" in result.remediation


def test_several_reasons_each_name_their_ids_and_what_to_do(standin) -> None:
    server, provider = standin
    provider.set_location("Qw8eR5tY2uI9oP3aS7dF", "Agency-only location", access="agency_token")
    provider.set_location(SECOND, access="no_access")
    env = proxy_env(server, GHL_TEST_LOCATION_IDS=f"{FIRST}, {SECOND},Qw8eR5tY2uI9oP3aS7dF,unknownLocation1")
    result = run_ghl({"probe": "locations"}, env)
    assert result.status is Status.FAIL
    assert result.summary.startswith("3 of 4 GHL test locations not readable")
    assert f"{SECOND}, unknownLocation1: the app's OAuth install does not cover it" in result.summary
    assert "Qw8eR5tY2uI9oP3aS7dF: the token's class" in result.summary
    assert '"Token\'s user type mismatch!"' in result.summary
    assert [o["outcome"] for o in result.evidence["locations"]] == ["ok", "no_access", "user_type", "no_access"]


@pytest.mark.parametrize(
    ("access", "outcome"),
    [
        ("company_token", "user_type"),
        ("agency_token", "user_type"),
        ("wrong_scope", "wrong_scope"),
        ("token_expired", "token_invalid"),
        ("missing", "missing"),
        ("no_access", "no_access"),
    ],
    ids=["company-token", "agency-token", "scope", "expired", "missing", "no-access"],
)
def test_ghl_refusals_are_told_apart(standin, access, outcome) -> None:
    server, provider = standin
    provider.set_location(FIRST, access=access)
    result = run_ghl({"probe": "locations"}, proxy_env(server, GHL_TEST_LOCATION_IDS=FIRST))
    assert result.status is Status.FAIL
    assert result.evidence["locations"][0]["outcome"] == outcome
    assert result.summary.startswith(f"1 of 1 GHL test location not readable through the proxy: {FIRST}: ")


def test_a_wrong_location_path_says_to_set_it(standin) -> None:
    server, _ = standin
    result = run_ghl({"probe": "locations", "location_path": "/ghl/v2/locations/{id}"}, proxy_env(server))
    assert result.status is Status.FAIL
    assert "the proxy has no such route" in result.summary and "location_path" in result.summary
    assert {o["outcome"] for o in result.evidence["locations"]} == {"no_route"}


def test_duplicate_and_blank_ids_are_asked_once(standin) -> None:
    server, provider = standin
    env = proxy_env(server, GHL_TEST_LOCATION_IDS=f" {FIRST},,{FIRST} ,")
    result = run_ghl({"probe": "locations"}, env)
    assert result.status is Status.PASS
    assert result.summary == f"The GHL test location is readable through the proxy: Readiness Test Location ({FIRST})"
    assert provider.calls == [f"GET /locations/{FIRST}"]


@pytest.mark.parametrize(
    ("probe", "unset", "named"),
    [
        ("proxy", "GHL_PROXY_URL", "GHL_PROXY_URL is not set"),
        ("locations", "GHL_PROXY_URL", "GHL_PROXY_URL is not set"),
        ("locations", "GHL_PROXY_API_KEY", "GHL_PROXY_API_KEY is not set"),
        ("locations", "GHL_TEST_LOCATION_IDS", "GHL_TEST_LOCATION_IDS is not set"),
    ],
    ids=["proxy-no-url", "locations-no-url", "locations-no-key", "locations-no-ids"],
)
def test_missing_variables_fail_naming_them_without_calling(standin, probe, unset, named) -> None:
    server, provider = standin
    result = run_ghl({"probe": probe}, proxy_env(server, **{unset: ""}))
    assert result.status is Status.FAIL
    assert result.summary.startswith(named)
    assert result.evidence["missing"] == [unset]
    assert provider.calls == []


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://ghl-proxy.example.com", "uses plain http:// off loopback (ghl-proxy.example.com)"),
        ("ghl-proxy.example.com", "is not an absolute http(s) URL"),
        ("https://ghl-proxy.example.com/?key=abc", "has a query string"),
        ("https://ghl-proxy.example.com:99999", "does not parse as a URL"),
    ],
    ids=["http-off-loopback", "no-scheme", "query", "bad-port"],
)
def test_an_unusable_url_fails_before_any_call(url, words) -> None:
    env = {"GHL_PROXY_URL": url, "GHL_PROXY_API_KEY": KEY, "GHL_TEST_LOCATION_IDS": IDS}
    for probe in ("proxy", "locations"):
        result = run_ghl({"probe": probe}, env)
        assert result.status is Status.FAIL
        assert result.summary.startswith(f"GHL_PROXY_URL {words}"), result.summary
        assert result.conditions[0].name == "https off loopback" and not result.conditions[0].passed
        assert_no_key(result)


def test_a_refused_connection_is_an_error_saying_so() -> None:
    provider = GhlProxyStandin()
    with StandinServer([provider]) as server:
        env = proxy_env(server)
    result = run_ghl({"probe": "proxy"}, env, timeout_s=2.0)  # the server is stopped: nothing listens
    assert result.status is Status.ERROR
    assert "connection refused" in result.summary
    assert result.evidence["failure"] == "refused"


def test_server_errors_are_retried_then_reported(standin) -> None:
    server, provider = standin
    provider.set_scenario("500")
    result = run_ghl({"probe": "locations"}, proxy_env(server))
    assert result.status is Status.ERROR
    assert len(provider.calls) == 3  # one call and two retries: the read is idempotent
    assert result.evidence["status_code"] == 500


def test_rate_limit_evidence_keeps_retry_after(standin) -> None:
    server, provider = standin
    provider.set_scenario("429")
    result = run_ghl({"probe": "locations"}, proxy_env(server))
    assert result.evidence["retry_after"] == "0"


def test_variable_names_come_from_the_manifests_ghl_proxy_section(standin) -> None:
    server, _ = standin
    section = """
[ghl_proxy]
item = "a.one"
url_env = "MY_PROXY"
api_key_env = "MY_PROXY_KEY"
location_ids_env = "MY_LOCATIONS"
"""
    manifest = make_manifest(check_block("x"), extra=section)
    env = {"MY_PROXY": f"{server.url}/{HOST}", "MY_PROXY_KEY": KEY, "MY_LOCATIONS": FIRST}
    assert run_ghl({"probe": "locations"}, env, manifest=manifest).status is Status.PASS
    missing = run_ghl({"probe": "locations"}, {"MY_PROXY": env["MY_PROXY"]}, manifest=manifest)
    assert missing.summary.startswith("MY_PROXY_KEY and MY_LOCATIONS are not set")
    explicit = run_ghl({"probe": "proxy", "url_env": "OTHER_URL"}, env, manifest=manifest)
    assert explicit.summary.startswith("OTHER_URL is not set")


def test_the_stand_in_answers_like_ghl_behind_the_proxy() -> None:
    provider = GhlProxyStandin()
    with StandinServer([provider]) as server:
        base = f"{server.url}/{HOST}"
        key = {"Authorization": f"Bearer {KEY}"}
        health = httpx.get(f"{base}/health")
        location = httpx.get(f"{base}/locations/{FIRST}", headers={**key, "Version": "2021-07-28"})
        no_version = httpx.get(f"{base}/locations/{FIRST}", headers=key)
        bad_version = httpx.get(f"{base}/locations/{FIRST}", headers={**key, "Version": "2020-01-01"})
        no_key = httpx.get(f"{base}/locations/{FIRST}", headers={"Version": "2021-07-28"})
        by_header = httpx.get(f"{base}/locations/{FIRST}", headers={"X-API-Key": KEY, "Version": "2021-04-15"})
        unknown = httpx.get(f"{base}/locations/someoneElses1", headers={**key, "Version": "2021-07-28"})
        route = httpx.get(f"{base}/contacts/", headers={**key, "Version": "2021-07-28"})
        provider.set_scenario("429")
        limited = httpx.get(f"{base}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    body = location.json()["location"]
    assert {"id", "name", "companyId", "timezone", "address", "email", "settings"} <= set(body)
    assert (body["id"], body["companyId"]) == (FIRST, DEFAULT_COMPANY_ID)
    assert (no_version.status_code, no_version.json()) == (
        401,
        {"statusCode": 401, "message": "version header was not found."},
    )
    assert bad_version.json() == {"statusCode": 401, "message": "version header is invalid"}
    assert no_key.status_code == 401 and no_key.json()["error"] == "unauthorized"
    assert by_header.status_code == 200
    assert unknown.status_code == 403
    assert unknown.json()["message"] == "The token does not have access to this location."
    assert route.json() == {"statusCode": 404, "message": "Cannot GET /contacts/", "error": "Not Found"}
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


def test_scenarios_and_locations_switch_over_the_control_surface(standin) -> None:
    server, provider = standin
    control = f"{server.url}/_standins/{HOST}"
    assert httpx.post(f"{control}/scenario", json={"name": "open_proxy"}).status_code == 200
    assert provider.scenario == "open_proxy"
    assert httpx.post(f"{control}/location", json={"id": "NewLoc123", "access": "wrong_scope"}).status_code == 200
    state = httpx.get(f"{control}/state").json()
    assert state["scenario"] == "open_proxy" and "down" in state["scenarios"]
    assert {"id": "NewLoc123", "name": "NewLoc123", "access": "wrong_scope"} in state["locations"]
    assert KEY not in json.dumps(state)
    unknown = httpx.post(f"{control}/scenario", json={"name": "exploded"})
    assert unknown.status_code == 400 and "valid" in unknown.json()["error"]
    bad_access = httpx.post(f"{control}/location", json={"id": "x", "access": "sometimes"})
    assert bad_access.status_code == 400 and "accessible" in bad_access.json()["error"]
    assert httpx.post(f"{control}/reset").status_code == 200
    assert provider.scenario == "valid" and "NewLoc123" not in provider.location_ids


def test_unknown_scenarios_are_refused_in_python() -> None:
    with pytest.raises(ValueError, match="open_proxy"):
        GhlProxyStandin(scenario="nope")


def test_through_the_runner_with_the_standins_url(standin) -> None:
    server, _ = standin
    manifest = make_manifest(
        check_block("oauth.ghl.proxy", kind="ghl", probe="proxy"),
        check_block("sandbox.ghl.locations", kind="ghl", severity="major", depends_on=["oauth.ghl.proxy"],
                    probe="locations"),
    )  # fmt: skip
    results = asyncio.run(run_checks(manifest, env=proxy_env(server), standins_url=server.url))
    assert [(r.id, r.status) for r in results] == [
        ("oauth.ghl.proxy", Status.PASS),
        ("sandbox.ghl.locations", Status.PASS),
    ]
    assert KEY not in json.dumps([r.to_dict() for r in results], default=str)


@pytest.mark.parametrize(
    "params",
    [
        {"probe": "contacts"},
        {"location_path": "/locations/"},
        {"health_path": "health"},
        {"auth_header": "Bad Header"},
        {"key": "x"},
    ],
    ids=["unknown-probe", "path-without-id", "relative-health", "header-with-space", "unknown-key"],
)
def test_params_are_validated(params) -> None:
    with pytest.raises(ValidationError):
        GhlParams.model_validate(params)


def test_kind_is_marked_and_documented() -> None:
    spec = getattr(ghl, KIND_ATTR)
    assert spec.name == "ghl"
    assert spec.params is GhlParams
    assert "does not have access to this location" in spec.doc


# What the release manager reads for each scenario, whole: the summary, the fix and, for the proxy probe, each
# condition ({where} is the proxy's URL; {first} and {second} the test locations).
LOCATIONS_FIX = (
    "Location ids come from GHL_TEST_LOCATION_IDS; a sub-account's id is in Settings › Business Profile and in its URL "
    "after /location/"
)
# Both test locations read through a proxy that answers them (the valid and the open proxy alike).
ALL_READABLE = (
    Status.PASS,
    (
        "All 2 GHL test locations are readable through the proxy: Readiness Test Location ({first}), Readiness "
        "Test Location (Workflows) ({second})"
    ),
    "",
    [
        ("location {first} readable", True, "200 'Readiness Test Location'"),
        ("location {second} readable", True, "200 'Readiness Test Location (Workflows)'"),
    ],
)
WHOLE = [
    (
        "valid",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            ("accepts a request with the key", True, "with the key answered 200"),
        ],
    ),
    ("valid", "locations", *ALL_READABLE),
    (
        "open_proxy",
        "proxy",
        Status.FAIL,
        (
            "{where} serves GHL data without an API key (200 for /locations/{first}): lock it down: require the API "
            "key on every route before anything is forwarded to GHL"
        ),
        (
            "Security: anyone who can reach the proxy reads the sub-accounts' data; rotate the proxy's GHL tokens if "
            "it was exposed"
        ),
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", False, "GET /locations/{first} without the key answered 200"),
            ("accepts a request with the key", True, "with the key answered 200"),
        ],
    ),
    ("open_proxy", "locations", *ALL_READABLE),
    (
        "wrong_key",
        "proxy",
        Status.FAIL,
        "{where} refuses GHL_PROXY_API_KEY (401): set it to the key the proxy expects (ask its owner)",
        (
            "The key goes in the Authorization header as 'Bearer <key>'; set the check's auth_header/auth_scheme if "
            "the proxy wants another (e.g. X-API-Key, no scheme)"
        ),
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            ("accepts a request with the key", False, "with the key answered 401"),
        ],
    ),
    (
        "wrong_key",
        "locations",
        Status.FAIL,
        "{where} refuses GHL_PROXY_API_KEY (401): set it to the key the proxy expects (ask its owner)",
        (
            "The key goes in the Authorization header; set the check's auth_header/auth_scheme if the proxy wants "
            "another (e.g. X-API-Key, no scheme)"
        ),
        [],
    ),
    (
        "no_access",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            ("accepts a request with the key", True, "with the key answered 200"),
        ],
    ),
    (
        "no_access",
        "locations",
        Status.FAIL,
        (
            "1 of 2 GHL test locations not readable through the proxy: {second}: the app's OAuth install does not "
            "cover it (GHL: 'The token does not have access to this location.'); install (or reinstall) the app on "
            "that sub-account so the proxy gets a token for it"
        ),
        LOCATIONS_FIX,
        [
            ("location {first} readable", True, "200 'Readiness Test Location'"),
            ("location {second} readable", False, "403 'The token does not have access to this location.'"),
        ],
    ),
    (
        "wrong_scope",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            (
                "accepts a request with the key",
                True,
                "with the key answered 401: accepted, GHL answered 'The token is not authorized for this scope.'",
            ),
        ],
    ),
    (
        "wrong_scope",
        "locations",
        Status.FAIL,
        (
            "2 of 2 GHL test locations not readable through the proxy: {first}, {second}: the app's token lacks the "
            "locations.readonly scope (GHL: 'The token is not authorized for this scope.'); add locations.readonly to "
            "the app's scopes (Marketplace › your app › Auth) and reinstall it on the location"
        ),
        LOCATIONS_FIX,
        [
            ("location {first} readable", False, "401 'The token is not authorized for this scope.'"),
            ("location {second} readable", False, "401 'The token is not authorized for this scope.'"),
        ],
    ),
    (
        "user_type_mismatch",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            (
                "accepts a request with the key",
                True,
                (
                    "with the key answered 401: accepted, GHL answered 'This authClass type is not allowed to access "
                    "this "
                    "scope. Please verify your IAM…'"
                ),
            ),
        ],
    ),
    (
        "user_type_mismatch",
        "locations",
        Status.FAIL,
        (
            "2 of 2 GHL test locations not readable through the proxy: {first}, {second}: the token's class "
            "(Company/agency vs Location/sub-account) does not fit the route (GHL: 'This authClass type is not allowed "
            "to access this scope. Please verify your IAM configuration if this is not the case.'); make the proxy "
            "call location routes with a Location token (POST /oauth/locationToken exchanges a Company token for one), "
            "or install the app from inside the sub-account"
        ),
        LOCATIONS_FIX,
        [
            (
                "location {first} readable",
                False,
                (
                    "401 'This authClass type is not allowed to access this scope. Please verify your IAM "
                    "configuration if "
                    "this is not the case.'"
                ),
            ),
            (
                "location {second} readable",
                False,
                (
                    "401 'This authClass type is not allowed to access this scope. Please verify your IAM "
                    "configuration if "
                    "this is not the case.'"
                ),
            ),
        ],
    ),
    (
        "token_expired",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            ("accepts a request with the key", True, "with the key answered 401: accepted, GHL answered 'Invalid JWT'"),
        ],
    ),
    (
        "token_expired",
        "locations",
        Status.FAIL,
        (
            "2 of 2 GHL test locations not readable through the proxy: {first}, {second}: the proxy's GHL token is "
            "expired or revoked (GHL: 'Invalid JWT'); the proxy's refresh failed: reconnect (reinstall) the app on "
            "that location and check the proxy's refresh logs"
        ),
        LOCATIONS_FIX,
        [
            ("location {first} readable", False, "401 'Invalid JWT'"),
            ("location {second} readable", False, "401 'Invalid JWT'"),
        ],
    ),
    (
        "strips_version",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            (
                "accepts a request with the key",
                True,
                "with the key answered 401: accepted, GHL answered 'version header was not found.'",
            ),
        ],
    ),
    (
        "strips_version",
        "locations",
        Status.FAIL,
        (
            "2 of 2 GHL test locations not readable through the proxy: {first}, {second}: the proxy does not forward "
            "the Version header unchanged (GHL: 'version header was not found.'); make the proxy forward the Version "
            "header (GHL wants Version: 2021-07-28 on this route)"
        ),
        LOCATIONS_FIX,
        [
            ("location {first} readable", False, "401 'version header was not found.'"),
            ("location {second} readable", False, "401 'version header was not found.'"),
        ],
    ),
    (
        "missing_location",
        "proxy",
        Status.PASS,
        "{where} is up, refuses requests without GHL_PROXY_API_KEY and accepts it",
        "",
        [
            ("reachable", True, "GET /health answered 200"),
            ("refuses a request without the key", True, "GET /locations/{first} without the key answered 401"),
            ("accepts a request with the key", True, "with the key answered 200"),
        ],
    ),
    (
        "missing_location",
        "locations",
        Status.FAIL,
        (
            "1 of 2 GHL test locations not readable through the proxy: {second}: GHL has no such location (GHL: "
            "'Location not found'); fix the id (the sub-account's Settings › Business Profile, or the id after "
            "/location/ in its URL)"
        ),
        LOCATIONS_FIX,
        [
            ("location {first} readable", True, "200 'Readiness Test Location'"),
            ("location {second} readable", False, "404 'Location not found'"),
        ],
    ),
    (
        "500",
        "proxy",
        Status.ERROR,
        (
            "{where} answers GET /health with 500: it is running but failing: could not tell whether it works; check "
            "its logs and its connection to GHL (and 2 more: see the conditions)"
        ),
        (
            "A 503 usually means the proxy cannot reach GHL or its token store; a 502/504 that nothing listens behind "
            "the load balancer"
        ),
        [
            ("reachable", False, "GET /health answered 500"),
            ("refuses a request without the key", False, "GET /locations/{first} without the key answered 500"),
            ("accepts a request with the key", False, "with the key answered 500"),
        ],
    ),
    (
        "500",
        "locations",
        Status.ERROR,
        "The GHL proxy (location {first}) answered 500 (server error): could not tell; retry later",
        "The provider is failing: check its status page",
        [],
    ),
    (
        "429",
        "proxy",
        Status.ERROR,
        (
            "The GHL proxy is rate limiting (429): rate-limited, retry after 0 s: could not tell; retry later (and 2 "
            "more: see the conditions)"
        ),
        "Lower how often the check runs, or wait for the provider's quota window",
        [
            ("reachable", False, "GET /health answered 429"),
            ("refuses a request without the key", False, "GET /locations/{first} without the key answered 429"),
            ("accepts a request with the key", False, "with the key answered 429"),
        ],
    ),
    (
        "429",
        "locations",
        Status.ERROR,
        (
            "The GHL proxy (location {first}) is rate limiting (429): rate-limited, retry after 0 s: could not tell; "
            "retry later"
        ),
        "Lower how often the check runs, or wait for the provider's quota window",
        [],
    ),
    (
        "garbage",
        "proxy",
        Status.ERROR,
        (
            "{where} answered 200 without an API key, with a body that is not JSON: could not tell whether it serves "
            "GHL data; check the URL points at the proxy and not a web page"
        ),
        "A sign-in page or captive portal answers 200 with HTML; the proxy should answer 401/403 with JSON",
        [
            ("reachable", True, "GET /health answered 200"),
            (
                "refuses a request without the key",
                False,
                "GET /locations/{first} without the key answered 200 with a body that is not JSON",
            ),
            ("accepts a request with the key", True, "with the key answered 200"),
        ],
    ),
    (
        "garbage",
        "locations",
        Status.ERROR,
        "The GHL proxy (location {first}) answered 200 with a body that is not a JSON object: could not tell",
        "Check the URL reaches the provider and not a proxy or captive portal",
        [],
    ),
    (
        "down",
        "proxy",
        Status.ERROR,
        (
            "{where} answers GET /health with 503: it is running but reports itself unhealthy: could not tell whether "
            "it works; check its logs and its connection to GHL (and 2 more: see the conditions)"
        ),
        (
            "A 503 usually means the proxy cannot reach GHL or its token store; a 502/504 that nothing listens behind "
            "the load balancer"
        ),
        [
            ("reachable", False, "GET /health answered 503"),
            ("refuses a request without the key", False, "GET /locations/{first} without the key answered 503"),
            ("accepts a request with the key", False, "with the key answered 503"),
        ],
    ),
    (
        "down",
        "locations",
        Status.ERROR,
        "The GHL proxy (location {first}) answered 503 (server error): could not tell; retry later",
        "The provider is failing: check its status page",
        [],
    ),
]


@pytest.mark.parametrize(
    ("scenario", "probe", "status", "summary", "remediation", "conditions"),
    WHOLE,
    ids=[f"{probe}-{scenario}" for scenario, probe, *_ in WHOLE],
)
def test_what_the_release_manager_reads(standin, scenario, probe, status, summary, remediation, conditions) -> None:
    server, provider = standin
    provider.set_scenario(scenario)
    result = run_ghl({"probe": probe}, proxy_env(server))

    def filled(text: str) -> str:
        return text.format(where=f"The GHL proxy at {server.url}/{HOST}", first=FIRST, second=SECOND)

    assert (result.status, result.summary, result.remediation) == (status, filled(summary), filled(remediation))
    assert [(c.name, c.passed, c.detail) for c in result.conditions] == [
        (filled(n), passed, filled(d)) for n, passed, d in conditions
    ]


# -- answers the stand-in's scenarios do not give: one request answered otherwise, the rest as the stand-in does --


class AnsweringProxy:
    """The GHL proxy stand-in with some answers replaced: ``answers`` maps (path, sent with the key) to
    (status, JSON body); every other request is the stand-in's."""

    host = HOST

    def __init__(self, answers: dict[tuple[str, bool], tuple[int, Any]]) -> None:
        self.standin = GhlProxyStandin(retry_after=0)
        self.answers = answers

    def handle(self, method, path, query, headers, body):
        keyed = "authorization" in headers or "x-api-key" in headers
        answer = self.answers.get((path, keyed))
        if answer is None:
            return self.standin.handle(method, path, query, headers, body)
        status, obj = answer
        return json_response(status, obj, {"Retry-After": "0"} if status == 429 else None)


def run_answering(answers: dict[tuple[str, bool], tuple[int, Any]], probe: str) -> tuple[Result, str]:
    """The probe against :class:`AnsweringProxy`; also the ``where`` its summaries start with."""
    with StandinServer([AnsweringProxy(answers)]) as server:
        return run_ghl({"probe": probe}, proxy_env(server)), f"The GHL proxy at {server.url}/{HOST}"


LOCATION = f"/locations/{FIRST}"


@pytest.mark.parametrize("code", [401, 403])
def test_a_health_route_that_wants_the_key_counts_as_up(code) -> None:
    result, _ = run_answering({("/health", False): (code, {"error": "unauthorized"})}, "proxy")
    assert result.status is Status.PASS, result.summary
    assert result.conditions[0] == Condition(
        "reachable", True, f"GET /health answered {code} (the health route wants the key: it is up)"
    )


def test_a_health_route_the_proxy_does_not_have_says_to_set_health_path(standin) -> None:
    server, _ = standin
    result = run_ghl({"probe": "proxy", "health_path": "/healthz"}, proxy_env(server))  # the stand-in has /health
    assert (result.status, result.summary, result.remediation) == (
        Status.FAIL,
        f"The GHL proxy at {server.url}/{HOST} has no /healthz route (404): set the check's health_path to the "
        "proxy's health route, or check the URL points at the proxy",
        "GHL_PROXY_URL is the proxy's base URL; health_path is appended to it",
    )
    assert result.conditions[0] == Condition("reachable", False, "GET /healthz answered 404")
    assert [c.passed for c in result.conditions[1:]] == [True, True]


def test_a_health_route_answering_something_else_says_to_check_the_url() -> None:
    result, where = run_answering({("/health", False): (400, {"error": "bad request"})}, "proxy")
    assert (result.status, result.summary, result.remediation) == (
        Status.FAIL,
        f"{where} answers GET /health with 400: check the URL points at the proxy",
        "GHL_PROXY_URL is the proxy's base URL; health_path is appended to it",
    )
    assert result.conditions[0] == Condition("reachable", False, "GET /health answered 400")


def test_a_proxy_answering_other_than_401_403_without_the_key_did_not_refuse_it() -> None:
    # A proxy that validates the request before it checks the key: a 400, not a refusal.
    result, where = run_answering({(LOCATION, False): (400, {"error": "bad request"})}, "proxy")
    assert (result.status, result.summary, result.remediation) == (
        Status.FAIL,
        f"{where} did not refuse a request without an API key (answered 400, not 401/403): lock it down: require "
        "the API key on every route before anything is forwarded to GHL",
        "Security: a proxy that evaluates a request before checking its key may serve data on another route",
    )
    assert result.conditions[1] == Condition(
        "refuses a request without the key", False, f"GET {LOCATION} without the key answered 400"
    )
    assert [c.passed for c in result.conditions] == [True, False, True]


@pytest.mark.parametrize(
    ("keyed", "code", "summary", "remediation"),
    [
        (False, 502, "The GHL proxy answered 502 (server error): could not tell; retry later",
         "The provider is failing: check its status page"),
        (False, 429, "The GHL proxy is rate limiting (429): rate-limited, retry after 0 s: could not tell; retry later",
         "Lower how often the check runs, or wait for the provider's quota window"),
        (True, 503, "The GHL proxy answered 503 (server error): could not tell; retry later",
         "The provider is failing: check its status page"),
    ],
    ids=["without-key-502", "without-key-429", "with-key-503"],
)  # fmt: skip
def test_a_server_error_on_one_request_of_a_healthy_proxy_is_that_requests(keyed, code, summary, remediation) -> None:
    answer = (code, {"statusCode": code, "message": "Service Unavailable"})
    result, _ = run_answering({(LOCATION, keyed): answer}, "proxy")
    assert (result.status, result.summary, result.remediation) == (Status.ERROR, summary, remediation)
    without, accepted = (code, 200) if not keyed else (401, code)
    assert [(c.passed, c.detail) for c in result.conditions] == [
        (True, "GET /health answered 200"),
        (keyed, f"GET {LOCATION} without the key answered {without}"),  # the request that erred did not pass
        (not keyed, f"with the key answered {accepted}"),
    ]


@pytest.mark.parametrize(("code", "message"), [(400, "Location not found"), (422, "Location Not Found")])
def test_a_location_not_found_in_a_400_or_422_is_no_such_location(code, message) -> None:
    body = {"statusCode": code, "message": message}
    result, _ = run_answering({(LOCATION, True): (code, body)}, "locations")
    assert result.status is Status.FAIL
    assert result.summary.startswith(
        f"1 of 2 GHL test locations not readable through the proxy: {FIRST}: GHL has no such location "
        f"(GHL: {message!r}); fix the id"
    ), result.summary
    assert result.evidence["locations"][0]["outcome"] == "missing"


def test_ghls_words_in_a_400_are_told_apart_too() -> None:
    body = {"statusCode": 400, "message": "version header is invalid"}
    result, _ = run_answering({(LOCATION, True): (400, body)}, "locations")
    assert result.status is Status.FAIL
    assert result.summary.startswith(
        f"1 of 2 GHL test locations not readable through the proxy: {FIRST}: the proxy does not forward the Version "
        "header unchanged"
    ), result.summary
    assert result.evidence["locations"][0]["outcome"] == "version_header"


def test_answers_that_say_nothing_known_cannot_tell_and_are_listed_as_given() -> None:
    answers = {
        (LOCATION, True): (200, {"locations": []}),
        (f"/locations/{SECOND}", True): (409, {"statusCode": 409, "message": "Conflict in the proxy"}),
    }
    result, _ = run_answering(answers, "locations")
    assert (result.status, result.summary) == (
        Status.ERROR,
        f"2 of 2 GHL test locations not readable through the proxy: {FIRST}, {SECOND}: answered 200, Conflict in the "
        "proxy (could not tell why)",
    )
    assert [o["outcome"] for o in result.evidence["locations"]] == ["unexpected", "unexpected"]
    assert [c.detail for c in result.conditions] == ["200 without a location object", "409 'Conflict in the proxy'"]


def test_a_known_reason_and_an_unknown_answer_are_both_told_and_the_known_one_fails() -> None:
    answers = {(f"/locations/{SECOND}", True): (409, {"statusCode": 409, "message": "Conflict in the proxy"})}
    with StandinServer([proxy := AnsweringProxy(answers)]) as server:
        proxy.standin.set_location(FIRST, access="wrong_scope")
        result = run_ghl({"probe": "locations"}, proxy_env(server))
    assert (result.status, result.summary) == (
        Status.FAIL,
        f"2 of 2 GHL test locations not readable through the proxy: {FIRST}: the app's token lacks the "
        "locations.readonly scope (GHL: 'The token is not authorized for this scope.'); add locations.readonly to "
        f"the app's scopes (Marketplace › your app › Auth) and reinstall it on the location | {SECOND}: answered "
        "Conflict in the proxy (could not tell why)",
    )
