"""Kind ``retell`` against the Retell stand-in on loopback: every scenario, both response shapes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.builtin.retell import RetellParams, retell
from checks.core.hookspecs import KIND_ATTR
from checks.core.result import Result
from checks.core.runner import run_checks, user_agent
from checks.core.status import Status
from checks.standins.retell import DEFAULT_AGENTS, DEFAULT_API_KEY, SCENARIOS, Agent, RetellStandin
from checks.standins.server import StandinServer, json_response
from tests.checks.helpers import check_block, make_manifest, run_kind, standin_fixtures

KEY = DEFAULT_API_KEY
ENV = {"RETELL_API_KEY": KEY}
MANIFEST = make_manifest(check_block("x"))
SLOW_TIMEOUT_S = 0.3


running, standin = standin_fixtures(lambda: RetellStandin(slow_s=1.0, retry_after=0))


def run_retell(
    params: dict[str, Any], url: str, *, env: dict[str, str] | None = None, timeout_s: float | None = 5.0
) -> Result:
    validated = RetellParams.model_validate(params)
    return run_kind(
        lambda ctx: retell(validated, ctx),
        kind="retell",
        params=params,
        manifest=MANIFEST,
        env=ENV if env is None else env,
        check_id="sandbox.retell.agents",
        timeout_s=timeout_s,
        standins_url=url,
        client_options={"headers": {"User-Agent": user_agent()}},
    )


def rendered(result: Result) -> str:
    return repr(result) + json.dumps(dataclasses.asdict(result), default=str)


NAMES = ["Readiness test agent", "Appointment reminder (sandbox)"]

# (scenario, status, words the summary must hold: what is wrong and what to do)
TABLE = [
    ("valid", Status.PASS, ["accepts RETELL_API_KEY", "2 agents configured", NAMES[0], NAMES[1]]),
    ("bad_key", Status.FAIL, ["key refused", "401", "Retell dashboard › API Keys"]),
    ("no_agents", Status.FAIL, ["No test agent configured", "create one in the Retell dashboard"]),
    ("v1_only", Status.PASS, ["2 agents configured", NAMES[0]]),
    ("slow", Status.ERROR, ["did not answer within 0.3s", "retry later"]),
    ("500", Status.ERROR, ["answered 500", "retry later"]),
    ("429", Status.ERROR, ["rate limiting (429)", "retry later"]),
    ("garbage", Status.ERROR, ["not a JSON object", "could not tell"]),
]


def test_the_table_covers_every_scenario() -> None:
    assert sorted(s for s, *_ in TABLE) == sorted(SCENARIOS)


@pytest.mark.parametrize(("scenario", "status", "words"), TABLE, ids=[f"agents-{s}" for s, *_ in TABLE])
def test_every_scenario(standin, scenario, status, words) -> None:
    server, provider = standin
    provider.set_scenario(scenario)
    result = run_retell({"probe": "agents"}, server.url, timeout_s=SLOW_TIMEOUT_S if scenario == "slow" else 5.0)
    assert result.status is status, result.summary
    for word in words:
        assert word in result.summary, result.summary
    if status is not Status.PASS:
        assert result.remediation
    assert KEY not in rendered(result)
    assert provider.user_agents and all(ua.startswith("readiness/") for ua in provider.user_agents)


def test_v2_is_tried_first_and_v1_only_after_a_404(standin) -> None:
    server, provider = standin
    assert run_retell({}, server.url).evidence["endpoint"] == "POST /v2/list-agents"
    assert provider.calls == ["POST /v2/list-agents"]
    provider.reset()
    provider.set_scenario("v1_only")
    result = run_retell({}, server.url)
    assert result.evidence["endpoint"] == "GET /list-agents (v2 answered 404)"
    assert provider.calls == ["POST /v2/list-agents", "GET /list-agents"]


def test_v1_lists_each_version_but_agents_are_counted_once(standin) -> None:
    server, provider = standin
    provider.set_scenario("v1_only")
    listed = httpx.get(f"{server.url}/api.retellai.com/list-agents", headers={"Authorization": f"Bearer {KEY}"})
    assert len(listed.json()) == 3  # the first agent has two versions
    assert {"agent_id", "agent_name", "voice_id", "response_engine", "last_modification_timestamp"} <= set(
        listed.json()[0]
    )
    result = run_retell({}, server.url)
    assert result.evidence["agent_count"] == 2
    assert result.evidence["agent_names"] == NAMES


def test_evidence_holds_names_and_the_key_fingerprint_only(standin) -> None:
    server, _ = standin
    result = run_retell({}, server.url)
    assert result.evidence["agent_names"] == NAMES
    assert result.evidence["key_fingerprint"].startswith("fp:")
    assert KEY not in rendered(result)


def test_a_wrong_key_is_refused(standin) -> None:
    server, _ = standin
    wrong = "key_" + "0" * 32
    result = run_retell({}, server.url, env={"RETELL_API_KEY": wrong})
    assert result.status is Status.FAIL
    assert "Retell refused RETELL_API_KEY" in result.summary
    assert wrong not in rendered(result)


def test_fewer_agents_than_needed_fails(standin) -> None:
    server, _ = standin
    result = run_retell({"min_agents": 3}, server.url)
    assert result.status is Status.FAIL
    assert "needs at least 3" in result.summary and "Retell dashboard" in result.summary


def test_a_long_list_reads_as_at_least() -> None:
    agents = tuple(Agent(f"agent_{i:030d}", f"Agent {i}") for i in range(60))
    provider = RetellStandin(agents=agents)
    with StandinServer([provider]) as server:
        result = run_retell({}, server.url)
    assert result.status is Status.PASS
    assert "at least 50 agents" in result.summary
    assert result.evidence["more_pages"] is True
    assert len(result.evidence["agent_names"]) == 20
    assert provider.calls == ["POST /v2/list-agents"]


@pytest.mark.parametrize(
    ("env", "named"),
    [({}, "RETELL_API_KEY is not set"), ({"RETELL_API_KEY": ""}, "RETELL_API_KEY is not set")],
    ids=["unset", "empty"],
)
def test_a_missing_key_fails_naming_it_without_calling(standin, env, named) -> None:
    server, provider = standin
    result = run_retell({}, server.url, env=env)
    assert result.status is Status.FAIL
    assert result.summary.startswith(named)
    assert "Retell dashboard" in result.summary
    assert provider.calls == []


def test_server_errors_are_retried_because_listing_is_read_only(standin) -> None:
    server, provider = standin
    provider.set_scenario("500")
    result = run_retell({}, server.url)
    assert result.status is Status.ERROR
    assert provider.calls == ["POST /v2/list-agents"] * 3


class Scripted:
    """A one-answer stand-in for ``api.retellai.com``, for shapes the named scenarios do not cover."""

    host = "api.retellai.com"

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes):
        return json_response(self.status, self.body)


AGENT = {"agent_id": "agent_1", "agent_name": "Wrapped agent", "voice_id": "11labs-Adrian"}


@pytest.mark.parametrize(
    ("status", "body", "expected", "words"),
    [
        (200, {"agents": [AGENT]}, Status.PASS, "1 agent configured (Wrapped agent)"),
        (200, {"items": [AGENT], "has_more": False}, Status.PASS, "1 agent configured"),
        (200, [AGENT], Status.PASS, "1 agent configured"),
        (200, {"data": []}, Status.ERROR, "without a list of agents"),
        (402, {"status": "error", "message": "Trial has ended, please add payment method."}, Status.FAIL, "Billing"),
        (403, {"status": "error", "message": "Forbidden"}, Status.FAIL, "may not list agents"),
        (400, {"status": "error", "message": "Invalid request format"}, Status.ERROR, "answered 400"),
    ],
    ids=["agents-wrapper", "items-wrapper", "bare-list", "no-list", "trial-ended", "forbidden", "bad-request"],
)
def test_answer_shapes(status, body, expected, words) -> None:
    with StandinServer([Scripted(status, body)]) as server:
        result = run_retell({}, server.url)
    assert result.status is expected, result.summary
    assert words in result.summary


def test_scenarios_switch_over_the_control_surface(standin) -> None:
    server, provider = standin
    control = f"{server.url}/_standins/api.retellai.com"
    assert httpx.post(f"{control}/scenario", json={"name": "no_agents"}).status_code == 200
    assert run_retell({}, server.url).status is Status.FAIL
    state = httpx.get(f"{control}/state").json()
    assert state["scenario"] == "no_agents" and state["agents"] == [a.agent_name for a in DEFAULT_AGENTS]
    assert KEY not in json.dumps(state)
    assert httpx.post(f"{control}/scenario", json={"name": "nope"}).status_code == 400
    assert httpx.post(f"{control}/reset").status_code == 200
    assert provider.scenario == "valid"


def test_the_stand_in_answers_like_retell() -> None:
    provider = RetellStandin()
    with StandinServer([provider]) as server:
        url = f"{server.url}/api.retellai.com/v2/list-agents?limit=1"
        page = httpx.post(url, json={}, headers={"Authorization": f"Bearer {KEY}"}).json()
        refused = httpx.post(url, json={}, headers={"Authorization": "Bearer nope"})
        provider.set_scenario("429")
        limited = httpx.post(url, json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert page["has_more"] is True and page["pagination_key"] == DEFAULT_AGENTS[0].agent_id
    assert set(page["items"][0]) == {"agent_id", "agent_name", "channel", "user_modified_timestamp", "tags"}
    assert refused.status_code == 401
    assert refused.json() == {"status": "error", "message": "API key is missing or invalid."}
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


def test_through_the_runner_with_the_standins_url(standin) -> None:
    server, _ = standin
    manifest = make_manifest(check_block("sandbox.retell.agents", kind="retell", severity="major", probe="agents"))
    [result] = asyncio.run(run_checks(manifest, env=ENV, standins_url=server.url))
    assert result.status is Status.PASS, result.result.summary
    assert KEY not in json.dumps(result.to_dict(), default=str)


@pytest.mark.parametrize(
    "params",
    [{"probe": "calls"}, {"min_agents": -1}, {"key": "x"}],
    ids=["unknown-probe", "negative-min", "unknown-key"],
)
def test_params_are_validated(params) -> None:
    with pytest.raises(ValidationError):
        RetellParams.model_validate(params)


def test_kind_is_marked_and_documented() -> None:
    spec = getattr(retell, KIND_ATTR)
    assert spec.name == "retell"
    assert spec.params is RetellParams
    assert "list-agents" in spec.doc


# Retell's documented refusals, as the release manager reads them: the status, Retell's own message (or the
# status text when the body has none) and the fix, whole.
REFUSED = (
    "A deleted or regenerated key stops working at once; keys of another workspace see none of this workspace's agents"
)
TRIAL = "Retell answers 402 to every call of a workspace whose trial has ended"
OWNER = "Ask the workspace's owner for a key, or for the role that may read agents"
DOCS = "Check https://docs.retellai.com/api-references/list-agents for changes to the endpoint"
REFUSALS = [
    (
        401,
        {"status": "error", "message": "API key is missing or invalid."},
        Status.FAIL,
        "Retell refused RETELL_API_KEY (401 API key is missing or invalid.): key refused; copy a current API key "
        "from the Retell dashboard › API Keys",
        REFUSED,
    ),
    (
        401,
        {},
        Status.FAIL,
        "Retell refused RETELL_API_KEY (401 Unauthorized): key refused; copy a current API key from the Retell "
        "dashboard › API Keys",
        REFUSED,
    ),
    (
        402,
        {"status": "error", "message": "Trial has ended, please add payment method."},
        Status.FAIL,
        "Retell answered 402 (Trial has ended, please add payment method.): the trial has ended; add a payment "
        "method in the Retell dashboard › Billing",
        TRIAL,
    ),
    (
        402,
        "Payment Required",
        Status.FAIL,
        "Retell answered 402 (Payment Required): the trial has ended; add a payment method in the Retell "
        "dashboard › Billing",
        TRIAL,
    ),
    (
        403,
        {"status": "error", "message": "Workspace access denied"},
        Status.FAIL,
        "Retell answered 403 (Workspace access denied): RETELL_API_KEY may not list agents; use a key with access "
        "to the workspace from the Retell dashboard › API Keys",
        OWNER,
    ),
    (
        403,
        {"status": "error", "message": None},
        Status.FAIL,
        "Retell answered 403 (Forbidden): RETELL_API_KEY may not list agents; use a key with access to the "
        "workspace from the Retell dashboard › API Keys",
        OWNER,
    ),
    (
        400,
        {"status": "error", "message": "Invalid request format, please check API reference."},
        Status.ERROR,
        "Retell's list-agents API answered 400 (Invalid request format, please check API reference.): could not tell",
        DOCS,
    ),
    (422, ["not", "an", "object"], Status.ERROR, "Retell's list-agents API answered 422: could not tell", DOCS),
]


@pytest.mark.parametrize(
    ("status", "body", "expected", "summary", "remediation"),
    REFUSALS,
    ids=["401", "401-bare", "402", "402-text", "403", "403-no-message", "400", "422-list"],
)
def test_refusals_say_what_retell_said_and_what_to_do(status, body, expected, summary, remediation) -> None:
    with StandinServer([Scripted(status, body)]) as server:
        result = run_retell({}, server.url)
    message = body.get("message") if isinstance(body, dict) else None
    assert (result.status, result.summary, result.remediation) == (expected, summary, remediation)
    assert result.evidence["status_code"] == status
    assert result.evidence["retell_message"] == (message or "")
    if expected is Status.ERROR:
        assert result.evidence["body_excerpt"] == json.dumps(body)


def test_a_long_retell_message_is_clipped_in_summary_and_evidence() -> None:
    with StandinServer([Scripted(401, {"status": "error", "message": "m" * 300})]) as server:
        result = run_retell({}, server.url)
    assert result.evidence["retell_message"] == "m" * 199 + "…"
    assert f"(401 {'m' * 199}…): key refused" in result.summary


def _agent(n: int, *, named: bool = True) -> dict[str, Any]:
    return {"agent_id": f"agent_{n}", **({"agent_name": f"Agent {n}"} if named else {})}


# (params, v2 answer, status, summary, remediation, evidence: count, more pages, names)
LISTINGS = [
    (
        {},
        {"items": [_agent(1), _agent(2), _agent(3), _agent(4)], "has_more": False},
        Status.PASS,
        "Retell accepts RETELL_API_KEY; 4 agents configured (Agent 1, Agent 2, Agent 3, ...)",
        "",
        (4, False, ["Agent 1", "Agent 2", "Agent 3", "Agent 4"]),
    ),
    (
        {},
        {"items": [_agent(1), _agent(2), _agent(3)]},
        Status.PASS,
        "Retell accepts RETELL_API_KEY; 3 agents configured (Agent 1, Agent 2, Agent 3)",
        "",
        (3, False, ["Agent 1", "Agent 2", "Agent 3"]),
    ),
    (  # an unnamed agent is shown by its id; an entry without an id is not an agent; versions count once
        {},
        {"items": [_agent(1, named=False), {"agent_name": "no id"}, _agent(1)], "has_more": True},
        Status.PASS,
        "Retell accepts RETELL_API_KEY; at least 1 agent configured (agent_1)",
        "",
        (1, True, ["agent_1"]),
    ),
    (
        {"min_agents": 0},
        {"items": []},
        Status.PASS,
        "Retell accepts RETELL_API_KEY; 0 agents configured ()",
        "",
        (0, False, []),
    ),
    (
        {"min_agents": 2},
        {"items": [_agent(1)], "has_more": True},
        Status.FAIL,
        "Retell has at least 1 agent, the sandbox needs at least 2: create the missing test agents in the Retell "
        "dashboard",
        "min_agents in the manifest says how many agents the sandbox's test data needs",
        (1, True, ["Agent 1"]),
    ),
    (
        {"min_agents": 3},
        {"items": [_agent(1), _agent(2)]},
        Status.FAIL,
        "Retell has 2 agents, the sandbox needs at least 3: create the missing test agents in the Retell dashboard",
        "min_agents in the manifest says how many agents the sandbox's test data needs",
        (2, False, ["Agent 1", "Agent 2"]),
    ),
    (
        {},
        {"items": [], "has_more": True},
        Status.FAIL,
        "No test agent configured: Retell accepts RETELL_API_KEY but lists no agents; create one in the Retell "
        "dashboard (Agents › Create an agent)",
        "The sandbox's test data is a mock agent configuration for connection testing",
        (0, True, []),
    ),
]


@pytest.mark.parametrize(
    ("params", "body", "expected", "summary", "remediation", "counted"),
    LISTINGS,
    ids=["four-listed-three-shown", "three", "unnamed-versions", "none-needed", "fewer-more-pages", "fewer", "none"],
)
def test_listings_are_counted_and_shown(params, body, expected, summary, remediation, counted) -> None:
    with StandinServer([Scripted(200, body)]) as server:
        result = run_retell(params, server.url)
    assert (result.status, result.summary, result.remediation) == (expected, summary, remediation)
    ev = result.evidence
    assert (ev["agent_count"], ev["more_pages"], ev["agent_names"]) == counted


class Raw(Scripted):
    """A one-answer stand-in whose body is not JSON (a proxy's or load balancer's page)."""

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes):
        return self.status, {"Content-Type": "text/html"}, self.body


def test_a_refusal_without_a_json_body_reads_as_the_status_text() -> None:
    with StandinServer([Raw(401, b"<html><body>Unauthorized</body></html>")]) as server:
        result = run_retell({}, server.url)
    assert result.summary == (
        "Retell refused RETELL_API_KEY (401 Unauthorized): key refused; copy a current API key from the Retell "
        "dashboard › API Keys"
    )
    assert result.evidence["retell_message"] == ""


def test_an_unexpected_answer_keeps_a_clipped_excerpt_of_its_body() -> None:
    with StandinServer([Raw(418, b"x" * 300)]) as server:
        result = run_retell({}, server.url)
    assert result.summary == "Retell's list-agents API answered 418: could not tell"
    assert result.evidence["body_excerpt"] == "x" * 199 + "…"


def test_a_server_error_names_retells_api(standin) -> None:
    server, provider = standin
    provider.set_scenario("500")
    result = run_retell({}, server.url)
    assert result.summary == "Retell's list-agents API answered 500 (server error): could not tell; retry later"
