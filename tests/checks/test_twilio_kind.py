"""Kind ``twilio`` against the Twilio stand-in on loopback: both probes through every scenario."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.builtin.twilio import TwilioParams, twilio
from checks.core.hookspecs import KIND_ATTR
from checks.core.redact import Scrubber
from checks.core.result import Result
from checks.core.runner import run_checks, user_agent
from checks.core.status import Status
from checks.standins.server import StandinServer, json_response
from checks.standins.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_TEST_ACCOUNT_SID,
    DEFAULT_TEST_AUTH_TOKEN,
    SCENARIOS,
    TwilioStandin,
)
from tests.checks.helpers import check_block, make_manifest, run_kind, standin_fixtures

SID, TOKEN = DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
ENV = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}
MANIFEST = make_manifest(check_block("x"))
SLOW_TIMEOUT_S = 0.3


running, standin = standin_fixtures(lambda: TwilioStandin(slow_s=1.0, retry_after=0))


def run_twilio(
    params: dict[str, Any],
    url: str,
    *,
    env: dict[str, str] | None = None,
    timeout_s: float | None = 5.0,
    scrubber: Scrubber | None = None,
) -> Result:
    validated = TwilioParams.model_validate(params)
    return run_kind(
        lambda ctx: twilio(validated, ctx),
        kind="twilio",
        params=params,
        manifest=MANIFEST,
        env=ENV if env is None else env,
        check_id="sandbox.twilio.probe",
        timeout_s=timeout_s,
        standins_url=url,
        scrubber=scrubber,
        client_options={"headers": {"User-Agent": user_agent()}},
    )


def rendered(result: Result) -> str:
    return repr(result) + json.dumps(dataclasses.asdict(result), default=str)


def assert_no_secret(result: Result, *secrets: str) -> None:
    text = rendered(result)
    for secret in (TOKEN, *secrets):
        assert secret not in text
    assert "auth_token" not in result.evidence


# (scenario, probe, status, words the summary must hold: what is wrong and what to do)
TABLE = [
    ("valid", "account", Status.PASS, ["'Readiness sandbox'", "is active", "(Full)"]),
    ("trial", "account", Status.PASS, ["is active", "Trial", "verified numbers only"]),
    ("bad_credentials", "account", Status.FAIL, ["bad credentials", "20003", "Twilio Console › Account Info"]),
    ("suspended", "account", Status.FAIL, ["is suspended", "Billing", "Twilio support"]),
    ("closed", "account", Status.FAIL, ["is closed", "create a new account", "TWILIO_AUTH_TOKEN"]),
    ("no_numbers", "account", Status.PASS, ["is active"]),
    ("test_credentials", "account", Status.FAIL, ["20008", "Test Credentials", "use the live Account SID"]),
    ("no_account", "account", Status.FAIL, ["no account", "20404", "Account Info into TWILIO_ACCOUNT_SID"]),
    ("forbidden", "account", Status.FAIL, ["403 code 20403", "suspended or closed", "Twilio support", "Billing"]),
    ("not_active", "account", Status.FAIL, ["code 20005", "not active", "Twilio support", "Billing"]),
    ("slow", "account", Status.ERROR, ["did not answer within 0.3s", "retry later"]),
    ("500", "account", Status.ERROR, ["answered 500", "retry later"]),
    ("429", "account", Status.ERROR, ["rate limiting (429)", "retry later"]),
    ("garbage", "account", Status.ERROR, ["not a JSON object", "could not tell"]),
    ("valid", "numbers", Status.PASS, ["2 phone numbers", "2 voice, 1 SMS"]),
    ("trial", "numbers", Status.PASS, ["1 phone number", "1 voice, 1 SMS"]),
    ("bad_credentials", "numbers", Status.FAIL, ["bad credentials", "Twilio Console › Account Info"]),
    ("suspended", "numbers", Status.FAIL, ["suspended or closed", "Twilio Console › Account Info"]),
    ("closed", "numbers", Status.FAIL, ["suspended or closed", "Twilio Console › Account Info"]),
    ("no_numbers", "numbers", Status.FAIL, ["no phone numbers", "Phone Numbers › Buy a number"]),
    ("test_credentials", "numbers", Status.FAIL, ["20008", "cannot read the account or list its numbers"]),
    ("no_account", "numbers", Status.FAIL, ["no account", "TWILIO_ACCOUNT_SID"]),
    ("forbidden", "numbers", Status.FAIL, ["403 code 20403", "suspended or closed", "Twilio support"]),
    ("not_active", "numbers", Status.FAIL, ["code 20005", "not active", "Twilio support"]),
    ("slow", "numbers", Status.ERROR, ["did not answer within 0.3s", "retry later"]),
    ("500", "numbers", Status.ERROR, ["answered 500", "retry later"]),
    ("429", "numbers", Status.ERROR, ["rate limiting (429)", "retry later"]),
    ("garbage", "numbers", Status.ERROR, ["not a JSON object", "could not tell"]),
]


def test_the_table_covers_every_scenario_for_every_probe() -> None:
    for probe in ("account", "numbers"):
        assert sorted(s for s, p, *_ in TABLE if p == probe) == sorted(SCENARIOS)


@pytest.mark.parametrize(
    ("scenario", "probe", "status", "words"), TABLE, ids=[f"{probe}-{scenario}" for scenario, probe, *_ in TABLE]
)
def test_every_probe_through_every_scenario(standin, scenario, probe, status, words) -> None:
    server, provider = standin
    provider.set_scenario(scenario)
    result = run_twilio({"probe": probe}, server.url, timeout_s=SLOW_TIMEOUT_S if scenario == "slow" else 5.0)
    assert result.status is status, result.summary
    for word in words:
        assert word in result.summary, result.summary
    if status is not Status.PASS:
        assert result.remediation
    assert_no_secret(result)
    assert provider.user_agents and all(ua.startswith("readiness/") for ua in provider.user_agents)


def test_account_evidence_shows_type_and_name_but_never_the_echoed_token(standin) -> None:
    server, provider = standin
    account = httpx.get(f"{server.url}/api.twilio.com/2010-04-01/Accounts/{SID}.json", auth=(SID, TOKEN)).json()
    assert account["auth_token"] == TOKEN  # the real resource echoes it, and so does the stand-in
    result = run_twilio({"probe": "account"}, server.url)
    assert result.evidence["type"] == "Full"
    assert result.evidence["status"] == "active"
    assert result.evidence["friendly_name"] == "Readiness sandbox"
    assert result.evidence["account_sid"] == SID
    assert result.evidence["token_fingerprint"].startswith("fp:")
    assert_no_secret(result)


def test_the_primary_token_echoed_to_a_secondary_token_is_never_shown() -> None:
    primary, secondary = "a1" * 16, "b2" * 16
    provider = TwilioStandin(auth_token=primary, secondary_auth_token=secondary)
    scrubber = Scrubber()
    with StandinServer([provider]) as server:
        env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": secondary}
        result = run_twilio({"probe": "account"}, server.url, env=env, scrubber=scrubber)
    assert result.status is Status.PASS, result.summary
    assert_no_secret(result, primary, secondary)
    assert primary not in scrubber(f"token {primary}")  # registered, so no other check can show it either


def test_numbers_are_masked_to_their_last_four_digits(standin) -> None:
    server, _ = standin
    result = run_twilio({"probe": "numbers"}, server.url)
    assert result.evidence["numbers"] == [
        {"number": "…0142", "voice": True, "sms": True},
        {"number": "…0199", "voice": True, "sms": False},
    ]
    assert result.evidence["count"] == 2
    text = rendered(result)
    for whole in ("+14155550142", "4155550142", "(415) 555-0142", "555-0199"):
        assert whole not in text


def test_fewer_numbers_than_the_sandbox_needs_fails(standin) -> None:
    server, _ = standin
    result = run_twilio({"probe": "numbers", "min_numbers": 3}, server.url)
    assert result.status is Status.FAIL
    assert "2 phone numbers (the sandbox's test data needs at least 3)" in result.summary
    assert "Buy a number" in result.summary


def test_numbers_without_sms_warn() -> None:
    provider = TwilioStandin(numbers=(("+14155550111", {"voice": True, "sms": False}),))
    with StandinServer([provider]) as server:
        result = run_twilio({"probe": "numbers"}, server.url)
    assert result.status is Status.WARN
    assert "none SMS-capable" in result.summary
    assert "Buy a number" in result.summary


def test_a_second_page_reads_as_at_least() -> None:
    numbers = tuple((f"+1415555{i:04d}", {"voice": True, "sms": True}) for i in range(60))
    provider = TwilioStandin(numbers=numbers)
    with StandinServer([provider]) as server:
        result = run_twilio({"probe": "numbers"}, server.url)
    assert result.status is Status.PASS
    assert "at least 50 phone numbers" in result.summary
    assert result.evidence["more_pages"] is True
    assert provider.calls == ["GET /2010-04-01/Accounts/" + SID + "/IncomingPhoneNumbers.json"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TWILIO_AUTH_TOKEN": TOKEN}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": SID}, "TWILIO_AUTH_TOKEN is not set"),
        ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set"),
        ({}, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"),
    ],
    ids=["no-sid", "no-token", "empty-token", "neither"],
)
def test_missing_variables_fail_naming_them_without_calling(standin, env, named) -> None:
    server, provider = standin
    result = run_twilio({"probe": "account"}, server.url, env=env)
    assert result.status is Status.FAIL
    assert result.summary.startswith(named)
    assert "Twilio Console › Account Info" in result.summary
    assert provider.calls == []


def test_custom_variable_names_are_used(standin) -> None:
    server, _ = standin
    env = {"TW_SID": SID, "TW_TOKEN": TOKEN}
    assert run_twilio({"sid_env": "TW_SID", "token_env": "TW_TOKEN"}, server.url, env=env).status is Status.PASS
    missing = run_twilio({"sid_env": "TW_SID", "token_env": "TW_TOKEN"}, server.url, env={"TW_SID": SID})
    assert missing.summary.startswith("TW_TOKEN is not set")


@pytest.mark.parametrize(
    ("sid", "words"),
    [
        ("SK" + "0" * 32, "starts with SK (an API key SID), but the Account SID starts with AC"),
        ("f0" * 16, "TWILIO_ACCOUNT_SID starts with neither AC, but the Account SID starts with AC"),
        ("AC" + "9" * 32, "bad credentials"),
    ],
    ids=["api-key-sid", "pasted-token", "other-account"],
)
def test_refused_credentials_say_what_is_wrong_with_the_sid(standin, sid, words) -> None:
    server, _ = standin
    result = run_twilio({"probe": "account"}, server.url, env={"TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": TOKEN})
    assert result.status is Status.FAIL
    assert words in result.summary
    assert result.evidence["twilio_code"] == 20003
    if not sid.startswith("AC"):
        assert sid not in rendered(result)  # it may be a token pasted in the wrong variable


def test_the_test_credentials_pair_is_told_apart(standin) -> None:
    server, _ = standin
    env = {"TWILIO_ACCOUNT_SID": DEFAULT_TEST_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": DEFAULT_TEST_AUTH_TOKEN}
    result = run_twilio({"probe": "numbers"}, server.url, env=env)
    assert result.status is Status.FAIL
    assert "Test Credentials" in result.summary
    assert_no_secret(result, DEFAULT_TEST_AUTH_TOKEN)


def test_server_errors_are_retried_then_reported(standin) -> None:
    server, provider = standin
    provider.set_scenario("500")
    result = run_twilio({"probe": "account"}, server.url)
    assert result.status is Status.ERROR
    assert len(provider.calls) == 3  # one call and two retries: the fetch is idempotent
    assert result.evidence["status_code"] == 500


def test_rate_limit_evidence_keeps_retry_after(standin) -> None:
    server, provider = standin
    provider.set_scenario("429")
    result = run_twilio({"probe": "account"}, server.url)
    assert result.evidence["retry_after"] == "0"
    assert '"code": 20429' in result.evidence["body_excerpt"]


def test_the_stand_in_answers_like_twilio() -> None:
    provider = TwilioStandin()
    with StandinServer([provider]) as server:
        base = f"{server.url}/api.twilio.com/2010-04-01/Accounts/{SID}"
        account = httpx.get(f"{base}.json", auth=(SID, TOKEN)).json()
        refused = httpx.get(f"{base}.json", auth=(SID, "0" * 32))
        provider.set_scenario("429")
        limited = httpx.get(f"{base}.json", auth=(SID, TOKEN))
    assert {"sid", "friendly_name", "status", "type", "date_created", "owner_account_sid", "uri"} <= set(account)
    assert account["uri"] == f"/2010-04-01/Accounts/{SID}.json"
    assert account["subresource_uris"]["incoming_phone_numbers"].endswith("/IncomingPhoneNumbers.json")
    assert parsedate_to_datetime(account["date_created"]).tzinfo is not None  # RFC 2822
    assert refused.status_code == 401
    assert refused.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


def test_scenarios_switch_over_the_control_surface(standin) -> None:
    server, provider = standin
    control = f"{server.url}/_standins/api.twilio.com"
    assert httpx.post(f"{control}/scenario", json={"name": "suspended"}).status_code == 200
    assert provider.scenario == "suspended"
    assert run_twilio({"probe": "account"}, server.url).status is Status.FAIL
    state = httpx.get(f"{control}/state").json()
    assert state["scenario"] == "suspended" and "slow" in state["scenarios"]
    assert TOKEN not in json.dumps(state)
    unknown = httpx.post(f"{control}/scenario", json={"name": "exploded"})
    assert unknown.status_code == 400 and "valid" in unknown.json()["error"]
    assert httpx.post(f"{control}/reset").status_code == 200
    assert provider.scenario == "valid"


def test_unknown_scenarios_are_refused_in_python() -> None:
    with pytest.raises(ValueError, match="no_numbers"):
        TwilioStandin(scenario="nope")


def test_through_the_runner_with_the_standins_url(standin) -> None:
    server, _ = standin
    manifest = make_manifest(
        check_block("sandbox.twilio.account", kind="twilio", severity="major", probe="account"),
        check_block(
            "sandbox.twilio.numbers",
            kind="twilio",
            severity="major",
            depends_on=["sandbox.twilio.account"],
            probe="numbers",
        ),
    )
    results = asyncio.run(run_checks(manifest, env=ENV, standins_url=server.url))
    assert [(r.id, r.status) for r in results] == [
        ("sandbox.twilio.account", Status.PASS),
        ("sandbox.twilio.numbers", Status.PASS),
    ]
    assert TOKEN not in json.dumps([r.to_dict() for r in results], default=str)


@pytest.mark.parametrize(
    "params",
    [{"probe": "balance"}, {"min_numbers": -1}, {"token": "x"}],
    ids=["unknown-probe", "negative-min", "unknown-key"],
)
def test_params_are_validated(params) -> None:
    with pytest.raises(ValidationError):
        TwilioParams.model_validate(params)


def test_kind_is_marked_and_documented() -> None:
    spec = getattr(twilio, KIND_ATTR)
    assert spec.name == "twilio"
    assert spec.params is TwilioParams
    assert "20003" in spec.doc


# What the release manager reads for each of Twilio's documented answers, whole: the summary, the fix and
# Twilio's error code in the evidence.
BOTH = "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
SETTLE = (
    "someone must settle it with Twilio: the account owner checks Twilio Console › Billing (a balance to pay, a "
    "depleted Trial) or contacts Twilio support (a compliance hold)"
)
BAD_CREDENTIALS = (
    "Twilio refused the credentials (401, code 20003): bad credentials, or the account is suspended or closed; copy "
    f"the Account SID and Auth Token from Twilio Console › Account Info into {BOTH}",
    "Twilio also answers 20003 when the token was rotated, when test credentials are used for the live account, or "
    "when the account is suspended or closed",
)
FORBIDDEN = (
    f"Twilio answered 403 code 20403 (Forbidden): the account is suspended or closed; {SETTLE}",
    "Twilio answers 20403 for every request of an account it suspended or closed; only the account owner and Twilio "
    f"support can lift it (a closed account cannot be reopened: create a new one and set {BOTH})",
)
NOT_ACTIVE = (
    f"Twilio answered 401 code 20005: the account is not active (suspended or closed); {SETTLE}",
    f"Once it is reactivated nothing changes here; for a new account set {BOTH}",
)
TEST_CREDENTIALS = (
    f"Twilio answered 403 code 20008: {BOTH} are the account's Test Credentials, which cannot read the account or "
    "list its numbers; use the live Account SID and Auth Token from Twilio Console › Account Info",
    "Test credentials only buy magic numbers and send test messages and calls; keep them for those tests, not for "
    "this check",
)
NO_ACCOUNT = (
    f"Twilio has no account {SID} (404, code 20404): copy the Account SID from Twilio Console › Account Info into "
    "TWILIO_ACCOUNT_SID",
    "A subaccount's resources are read with its own SID; check it was not deleted",
)
NAMED = "Twilio account 'Readiness sandbox'"

# (scenario, probe, status, (summary, remediation), Twilio's code)
WHOLE = [
    ("valid", "account", Status.PASS, (f"{NAMED} is active (Full)", ""), None),
    (
        "trial",
        "account",
        Status.PASS,
        (f"{NAMED} is active (Trial: calls and messages reach verified numbers only; upgrade for more)", ""),
        None,
    ),
    (
        "suspended",
        "account",
        Status.FAIL,
        (
            f"{NAMED} is suspended: calls, messages and API access stop until it is reactivated; ask the account "
            "owner to settle it in Twilio Console › Billing or contact Twilio support",
            "Twilio suspends accounts for unpaid balance, a depleted Trial or a compliance hold",
        ),
        None,
    ),
    (
        "closed",
        "account",
        Status.FAIL,
        (
            f"{NAMED} is closed and cannot be reopened: create a new account (or subaccount) and set {BOTH} to its "
            "credentials",
            "Copy the new Account SID and Auth Token from Twilio Console › Account Info",
        ),
        None,
    ),
    ("valid", "numbers", Status.PASS, ("The Twilio account has 2 phone numbers (2 voice, 1 SMS)", ""), None),
    ("trial", "numbers", Status.PASS, ("The Twilio account has 1 phone number (1 voice, 1 SMS)", ""), None),
    (
        "no_numbers",
        "numbers",
        Status.FAIL,
        (
            "The Twilio account has no phone numbers: buy a voice- and SMS-capable number in Twilio Console › Phone "
            "Numbers › Buy a number",
            "A Trial account gets one free number; test SMS and calls need a number the account owns",
        ),
        None,
    ),
    *[
        (scenario, probe, Status.FAIL, texts, code)
        for probe in ("account", "numbers")
        for scenario, texts, code in [
            ("bad_credentials", BAD_CREDENTIALS, 20003),
            ("forbidden", FORBIDDEN, 20403),
            ("not_active", NOT_ACTIVE, 20005),
            ("test_credentials", TEST_CREDENTIALS, 20008),
            ("no_account", NO_ACCOUNT, 20404),
        ]
    ],
    ("suspended", "numbers", Status.FAIL, BAD_CREDENTIALS, 20003),  # an inactive account's other resources: 20003
    ("closed", "numbers", Status.FAIL, BAD_CREDENTIALS, 20003),
]


@pytest.mark.parametrize(
    ("scenario", "probe", "status", "texts", "code"), WHOLE, ids=[f"{p}-{s}" for s, p, *_ in WHOLE]
)
def test_what_the_release_manager_reads_for_each_answer(standin, scenario, probe, status, texts, code) -> None:
    server, provider = standin
    provider.set_scenario(scenario)
    result = run_twilio({"probe": probe}, server.url)
    assert (result.status, (result.summary, result.remediation)) == (status, texts)
    assert result.evidence.get("twilio_code") == code
    if code is not None:
        assert result.evidence["status_code"] == {20003: 401, 20005: 401, 20404: 404}.get(code, 403)
        assert result.evidence["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert result.evidence["twilio_message"]


class Scripted:
    """A one-answer stand-in for ``api.twilio.com``, for shapes the named scenarios do not cover."""

    host = "api.twilio.com"

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body

    def handle(self, method, path, query, headers, body):
        return json_response(self.status, self.body)


def _number(digits: str | None, **caps: bool) -> dict[str, Any]:
    return {"phone_number": digits, "capabilities": caps}


# (params, status code, body, status, summary, remediation, evidence subset)
SHAPES = [
    (
        {"probe": "account"},
        200,
        {"status": "pending", "sid": SID},
        Status.ERROR,
        "Twilio's Accounts API answered 200 with account status 'pending': could not tell whether it is usable",
        "Look at the account in Twilio Console; the expected statuses are active, suspended, closed",
        {"status": "pending", "type": None, "friendly_name": None, "subaccount": False},
    ),
    (
        {"probe": "account"},
        200,
        {"status": "active", "type": "Full", "sid": SID, "owner_account_sid": "AC" + "1" * 32, "date_created": "d"},
        Status.PASS,
        "The Twilio account is active (Full)",
        "",
        {"subaccount": True, "date_created": "d", "friendly_name": None},
    ),
    (
        {"probe": "account"},
        200,
        {"status": "active", "type": "Full", "sid": SID, "owner_account_sid": SID, "friendly_name": 7},
        Status.PASS,
        "The Twilio account is active (Full)",
        "",
        {"subaccount": False, "friendly_name": None},
    ),
    (
        {"probe": "numbers"},
        200,
        {"incoming_phone_numbers": None, "b": 1, "a": 2},
        Status.ERROR,
        "Twilio's IncomingPhoneNumbers API answered 200 without an incoming_phone_numbers list: could not tell",
        "Check the URL reaches Twilio and not a proxy",
        {"keys": ["a", "b", "incoming_phone_numbers"]},
    ),
    (
        {"probe": "numbers"},
        200,
        {"incoming_phone_numbers": [_number("+1 415 555 0100", SMS=True, Voice=False), "not a number"]},
        Status.WARN,
        "The Twilio account has 1 phone number, none voice-capable: buy a number with voice in Twilio Console › "
        "Phone Numbers › Buy a number to test it",
        "",
        {
            "count": 1,
            "voice_capable": 0,
            "sms_capable": 1,
            "numbers": [{"number": "…0100", "voice": False, "sms": True}],
        },
    ),
    (
        {"probe": "numbers", "min_numbers": 0},
        200,
        {"incoming_phone_numbers": []},
        Status.PASS,
        "The Twilio account has 0 phone numbers (0 voice, 0 SMS)",
        "",
        {"count": 0, "more_pages": False},
    ),
    (
        {"probe": "numbers", "min_numbers": 2},
        200,
        {"incoming_phone_numbers": [_number(None)], "next_page_uri": "/2010-04-01/next"},
        Status.FAIL,
        "The Twilio account has at least 1 phone number (the sandbox's test data needs at least 2): buy a voice- and "
        "SMS-capable number in Twilio Console › Phone Numbers › Buy a number",
        "A Trial account gets one free number; test SMS and calls need a number the account owns",
        {"count": 1, "more_pages": True, "numbers": [{"number": "?", "voice": False, "sms": False}]},
    ),
    (
        {"probe": "account"},
        400,
        {"code": 20001, "message": "Invalid", "more_info": "https://www.twilio.com/docs/errors/20001", "status": 400},
        Status.ERROR,
        "Twilio's Accounts API answered 400 (code 20001: Invalid): could not tell",
        "See https://www.twilio.com/docs/errors/20001",
        {"status_code": 400, "twilio_code": 20001, "twilio_message": "Invalid"},
    ),
    (
        {"probe": "account"},
        400,
        ["not", "an", "object"],
        Status.ERROR,
        "Twilio's Accounts API answered 400: could not tell",
        "See https://www.twilio.com/docs/errors",
        {"status_code": 400, "twilio_code": None, "twilio_message": "", "more_info": None},
    ),
    (  # the codes that decide go with their own status: 20404 on a 403, 20008 on a 404 are not told apart
        {"probe": "account"},
        403,
        {"code": 20404},
        Status.ERROR,
        "Twilio's Accounts API answered 403 (code 20404: ): could not tell",
        "See https://www.twilio.com/docs/errors",
        {"status_code": 403, "twilio_code": 20404},
    ),
    (
        {"probe": "account"},
        404,
        {"code": 20008, "message": "x"},
        Status.ERROR,
        "Twilio's Accounts API answered 404 (code 20008: x): could not tell",
        "See https://www.twilio.com/docs/errors",
        {"status_code": 404, "twilio_code": 20008},
    ),
    (  # the account-state codes decide whatever the HTTP status
        {"probe": "numbers"},
        400,
        {"code": 20005, "message": "Account not active"},
        Status.FAIL,
        NOT_ACTIVE[0].replace("401", "400"),
        NOT_ACTIVE[1],
        {"status_code": 400, "twilio_code": 20005},
    ),
]


@pytest.mark.parametrize(
    ("params", "code", "body", "status", "summary", "remediation", "evidence"),
    SHAPES,
    ids=[
        "unknown-status",
        "subaccount",
        "own-account-unnamed",
        "no-list",
        "sms-only",
        "none-needed",
        "fewer-more-pages",
        "400-coded",
        "400-not-an-object",
        "20404-on-403",
        "20008-on-404",
        "20005-on-400",
    ],
)
def test_answer_shapes(params, code, body, status, summary, remediation, evidence) -> None:
    with StandinServer([Scripted(code, body)]) as server:
        result = run_twilio(params, server.url)
    assert (result.status, result.summary, result.remediation) == (status, summary, remediation)
    assert {k: result.evidence[k] for k in evidence} == evidence


def test_a_long_twilio_message_is_clipped() -> None:
    with StandinServer([Scripted(400, {"code": 20001, "message": "m" * 300})]) as server:
        result = run_twilio({"probe": "account"}, server.url)
    assert result.evidence["twilio_message"] == "m" * 199 + "…"
