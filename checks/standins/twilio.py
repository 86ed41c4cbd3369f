"""Stand-in for Twilio's REST API (``api.twilio.com``), version ``2010-04-01``.

Implements what the ``twilio`` check kind sends, with Twilio's JSON shapes and error bodies
(``{"code", "message", "more_info", "status"}``):

* Fetch Account: ``GET /2010-04-01/Accounts/{Sid}.json``. Like the real resource, the answer carries
  ``auth_token`` (the account's primary token): the kind must never show it;
* List IncomingPhoneNumbers: ``GET /2010-04-01/Accounts/{Sid}/IncomingPhoneNumbers.json``
  (``PageSize``, ``Page``), one page with ``next_page_uri`` when more remain.

Authentication is HTTP Basic with the Account SID as user name and the auth token as password. The
live pair known to the stand-in (the primary token, or the optional secondary one) answers normally; the
*test credentials* pair answers 403 code 20008, as Twilio does for every resource but the three test
ones; anything else answers 401 code 20003. The account resource always shows the *primary* token.

Named scenarios (:data:`SCENARIOS`), set with :meth:`TwilioStandin.set_scenario` or over
``POST /_standins/api.twilio.com/scenario`` ``{"name": "suspended"}``:

``valid`` (a Full, active account with two numbers), ``trial`` (a Trial account, one number),
``bad_credentials`` (401 20003 for everything, as after a token rotation), ``suspended`` and ``closed``
(the account says so; other resources refuse with 401 20003, as Twilio does for an inactive account),
``no_numbers``, ``test_credentials`` (403 20008 for everything), ``no_account`` (404 20404),
``forbidden`` (403 20403 for everything, as for an account Twilio suspended or closed), ``not_active``
(401 20005 "Account not active" for everything),
``slow`` (answers after ``slow_s`` seconds), ``500``, ``429`` (with ``Retry-After``), ``garbage``
(an HTML page with status 200).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Scenarios

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_NUMBERS",
    "DEFAULT_TEST_ACCOUNT_SID",
    "DEFAULT_TEST_AUTH_TOKEN",
    "HOST",
    "SCENARIOS",
    "TwilioStandin",
]

HOST = "api.twilio.com"
API = "/2010-04-01"

DEFAULT_ACCOUNT_SID = "AC" + "5e1f0a2b3c4d5e6f" * 2
DEFAULT_AUTH_TOKEN = "9b8c7d6e5f4a3b2c" * 2
DEFAULT_TEST_ACCOUNT_SID = "AC" + "7e57c0de00aa11bb" * 2
DEFAULT_TEST_AUTH_TOKEN = "7e57" * 8
DEFAULT_NUMBERS: tuple[tuple[str, dict[str, bool]], ...] = (
    ("+14155550142", {"voice": True, "sms": True, "mms": True, "fax": False}),
    ("+14155550199", {"voice": True, "sms": False, "mms": False, "fax": False}),
)
"""(E.164 number, capabilities) of the account's numbers in the ``valid`` scenario."""

SCENARIOS = (
    "valid",
    "trial",
    "bad_credentials",
    "suspended",
    "closed",
    "no_numbers",
    "forbidden",
    "not_active",
    "test_credentials",
    "no_account",
    "slow",
    "500",
    "429",
    "garbage",
)

_CREATED = "Mon, 06 Oct 2025 09:00:00 +0000"
_UPDATED = "Tue, 07 Oct 2025 14:30:00 +0000"
_SUBRESOURCES = (
    "addresses", "conferences", "signing_keys", "transcriptions", "connect_apps", "sip", "authorized_connect_apps",
    "usage", "keys", "applications", "recordings", "short_codes", "calls", "notifications", "incoming_phone_numbers",
    "queues", "messages", "outgoing_caller_ids", "available_phone_numbers", "balance",
)  # fmt: skip
_SUBRESOURCE_PATHS = {"sip": "SIP", "usage": "Usage", "balance": "Balance"}
_ACCOUNT_PATH = re.compile(rf"^{API}/Accounts/([^/]+?)(/IncomingPhoneNumbers)?\.json$")


class TwilioStandin:
    """One live account (and its test credentials) behind the Twilio REST API. Thread-safe.

    ``calls`` lists the requests served (``"GET /2010-04-01/..."``); ``user_agents`` the User-Agent of each.
    """

    host = HOST

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        test_account_sid: str = DEFAULT_TEST_ACCOUNT_SID,
        test_auth_token: str = DEFAULT_TEST_AUTH_TOKEN,
        secondary_auth_token: str | None = None,
        friendly_name: str = "Readiness sandbox",
        numbers: tuple[tuple[str, dict[str, bool]], ...] = DEFAULT_NUMBERS,
        scenario: str = "valid",
        slow_s: float = 3.0,
        retry_after: int = 1,
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.test_account_sid, self.test_auth_token = test_account_sid, test_auth_token
        self.secondary_auth_token = secondary_auth_token
        self.friendly_name = friendly_name
        self.numbers = numbers
        self.slow_s = slow_s
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self.scenarios = Scenarios("Twilio", SCENARIOS)
        self.set_scenario(scenario)
        self.calls: list[str] = []
        self.user_agents: list[str] = []

    # -- state helpers ----------------------------------------------------------------------------------------

    @property
    def scenario(self) -> str:
        return self.scenarios.name

    def set_scenario(self, name: str, **options: Any) -> None:
        """Switch to one of :data:`SCENARIOS`; ValueError names them for anything else."""
        self.scenarios.set(name, **options)

    def reset(self) -> None:
        self.scenarios.reset()
        with self._lock:
            self.calls.clear()
            self.user_agents.clear()

    # -- HTTP -------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        with self._lock:
            self.calls.append(f"{method} {path}")
            self.user_agents.append(headers.get("user-agent", ""))
        scenario = self.scenarios.name
        if scenario == "slow":
            time.sleep(self.slow_s)  # outside the lock: other requests go on meanwhile
        elif scenario == "500":
            return _error(500, 20500, "Internal Server Error")
        elif scenario == "429":
            return _error(429, 20429, "Too Many Requests", {"Retry-After": str(self.retry_after)})
        elif scenario == "garbage":
            page = b"<html><head><title>Twilio</title></head><body>Service temporarily unavailable</body></html>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        return self._route(scenario, method, path, query, headers)

    def _route(
        self, scenario: str, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        match = _ACCOUNT_PATH.match(path)
        if method != "GET" or match is None:
            return _not_found(path)
        sid, numbers = match.group(1), bool(match.group(2))
        presented = _basic(headers.get("authorization", ""))
        test = presented == (self.test_account_sid, self.test_auth_token)
        tokens = {self.auth_token, self.secondary_auth_token} - {None}
        live = presented[0] == self.account_sid and presented[1] in tokens
        if scenario == "bad_credentials" or not (test or live):
            return _authenticate()
        if scenario == "forbidden":
            return _error(403, 20403, "Forbidden")
        if scenario == "not_active":
            return _error(401, 20005, "Account not active")
        if test or scenario == "test_credentials":
            return _error(403, 20008, "Resource not accessible with Test Account Credentials")
        if scenario == "no_account" or sid != self.account_sid:
            return _not_found(path)
        if numbers:
            if scenario in ("suspended", "closed"):
                return _authenticate()
            return self._numbers(scenario, query)
        return json_response(200, self._account(scenario))

    def _account(self, scenario: str) -> dict[str, Any]:
        sid = self.account_sid
        base = f"{API}/Accounts/{sid}"
        status = scenario if scenario in ("suspended", "closed") else "active"
        return {
            "auth_token": self.auth_token,
            "date_created": _CREATED,
            "date_updated": _UPDATED,
            "friendly_name": self.friendly_name,
            "owner_account_sid": sid,
            "sid": sid,
            "status": status,
            "subresource_uris": {
                name: f"{base}/{_SUBRESOURCE_PATHS.get(name, _camel(name))}.json" for name in _SUBRESOURCES
            },
            "type": "Trial" if scenario == "trial" else "Full",
            "uri": f"{base}.json",
        }

    def _numbers(self, scenario: str, query: Mapping[str, list[str]]) -> Response:
        try:
            size = min(int(_first(query, "PageSize") or 50), 1000)
            page = int(_first(query, "Page") or 0)
        except ValueError:
            return _error(400, 20001, "Invalid PageSize or Page")
        if size < 1 or page < 0:
            return _error(400, 20001, "Invalid PageSize or Page")
        owned = () if scenario == "no_numbers" else self.numbers[:1] if scenario == "trial" else self.numbers
        items = [self._number(i, number, caps) for i, (number, caps) in enumerate(owned)]
        chunk = items[page * size : (page + 1) * size]
        uri = f"{API}/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        more = (page + 1) * size < len(items)
        return json_response(
            200,
            {
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "incoming_phone_numbers": chunk,
                "next_page_uri": f"{uri}?PageSize={size}&Page={page + 1}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": f"{uri}?PageSize={size}&Page={page - 1}" if page > 0 else None,
                "start": page * size,
                "uri": f"{uri}?PageSize={size}&Page={page}",
            },
        )

    def _number(self, index: int, number: str, caps: dict[str, bool]) -> dict[str, Any]:
        sid = f"PN{index + 1:02d}" + "c0ffee" * 5
        national = f"({number[2:5]}) {number[5:8]}-{number[8:]}"
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": "2010-04-01",
            "beta": False,
            "capabilities": dict(caps),
            "date_created": _CREATED,
            "date_updated": _UPDATED,
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Inactive",
            "friendly_name": national,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "https://demo.twilio.com/welcome/sms/reply",
            "status": "in-use",
            "status_callback": "",
            "status_callback_method": "POST",
            "subresource_uris": {
                "assigned_add_ons": f"{API}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}/AssignedAddOns.json"
            },
            "trunk_sid": None,
            "uri": f"{API}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_receive_mode": "voice",
            "voice_url": "https://demo.twilio.com/welcome/voice/",
            "bundle_sid": None,
        }

    # -- control surface (/_standins/api.twilio.com/ACTION) -------------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``scenario`` (POST {name}: switch; GET: the current one and the choices), ``reset`` (POST),
        ``state`` (GET: scenario, account SID, how many calls were served; never the token)."""
        return self.scenarios.control(
            method, action, payload, apply=self.set_scenario, reset=self.reset, state=self._state
        )

    def _state(self) -> dict[str, Any]:
        with self._lock:
            return {"account_sid": self.account_sid, "calls": len(self.calls)}


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return (user, password) if sep else (None, None)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json_response(status, body, headers)


def _authenticate() -> Response:
    return _error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})


def _not_found(path: str) -> Response:
    return _error(404, 20404, f"The requested resource {path} was not found")
