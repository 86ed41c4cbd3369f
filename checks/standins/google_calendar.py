"""Stand-in for the Google Calendar API v3 on ``www.googleapis.com``: the events list of test accounts
(``GET /calendar/v3/calendars/ID/events``): ``{"kind": "calendar#events", "items": [...]}`` for a known bearer
token, 401 otherwise. Its scenarios are in :mod:`checks.standins.google`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.standins.google import CALENDAR_HOST, UNAUTHENTICATED, GoogleStandin, first_value, google_error
from checks.standins.provider import Response, json_response

__all__ = ["DEFAULT_ACCOUNT", "SAMPLE_EVENTS", "CalendarStandin"]

# -------------------------------------------------------------------------------------------- www.googleapis.com

SAMPLE_EVENTS: tuple[dict[str, Any], ...] = (
    {
        "id": "readiness0sample0discovery",
        "summary": "Sample: discovery call",
        "start": {"dateTime": "2025-10-07T10:00:00Z"},
        "end": {"dateTime": "2025-10-07T10:30:00Z"},
    },
    {
        "id": "readiness0sample0demo",
        "summary": "Sample: product demo",
        "start": {"dateTime": "2025-10-08T15:00:00Z"},
        "end": {"dateTime": "2025-10-08T16:00:00Z"},
    },
    {
        "id": "readiness0sample0followup",
        "summary": "Sample: follow-up",
        "start": {"dateTime": "2025-10-09T09:00:00Z"},
        "end": {"dateTime": "2025-10-09T09:15:00Z"},
    },
)
DEFAULT_ACCOUNT = "sandbox.tester@maxai-sandbox.test"


@dataclass
class _Calendar:
    account: str
    events: list[dict[str, Any]] = field(default_factory=list)


class CalendarStandin(GoogleStandin):
    """``www.googleapis.com``: the Calendar API v3 events list of test accounts."""

    host = CALENDAR_HOST

    def __init__(
        self, accounts: Mapping[str, str] | None = None, events: Mapping[str, Iterable[Mapping[str, Any]]] | None = None
    ) -> None:
        """``accounts``: bearer token -> account (``None``: any token is :data:`DEFAULT_ACCOUNT`);
        ``events``: account -> its primary calendar's events (default: :data:`SAMPLE_EVENTS`)."""
        super().__init__()
        self._accounts = dict(accounts) if accounts is not None else None
        self._initial: dict[str, _Calendar] = {}
        for account in {*(self._accounts or {}).values(), *(events or {}), DEFAULT_ACCOUNT}:
            given = (events or {}).get(account)
            items = [dict(e) for e in given] if given is not None else [copy.deepcopy(e) for e in SAMPLE_EVENTS]
            self._initial[account] = _Calendar(account, items)
        self._calendars = copy.deepcopy(self._initial)

    def add_account(self, account: str, token: str, events: Iterable[Mapping[str, Any]] | None = None) -> None:
        """Accept ``token`` for ``account``, whose calendar holds ``events`` (default: the samples)."""
        with self._lock:
            if self._accounts is None:
                self._accounts = {}
            self._accounts[token] = account
            items = [dict(e) for e in events] if events is not None else [copy.deepcopy(e) for e in SAMPLE_EVENTS]
            self._initial[account] = _Calendar(account, items)
            self._calendars[account] = copy.deepcopy(self._initial[account])

    def _restore(self) -> None:
        self._calendars = copy.deepcopy(self._initial)

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        if name == "no_events":
            for calendar in self._calendars.values():
                calendar.events.clear()

    def _writes(self) -> dict[str, Callable[[Any], Any]]:
        return {"add_account": lambda p: self.add_account(str(p["account"]), str(p["token"]), p.get("events"))}

    def _state(self) -> dict[str, Any]:
        counts = {a: len(c.events) for a, c in self._calendars.items()}
        return {**super()._state(), "events": counts}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 5 or parts[:3] != ["calendar", "v3", "calendars"] or parts[4] != "events":
            return self._not_found(method, path)
        account = self._account(token)
        if account is None:
            return google_error(
                401,
                UNAUTHENTICATED,
                errors=[
                    {
                        "message": "Invalid Credentials",
                        "domain": "global",
                        "reason": "authError",
                        "location": "Authorization",
                        "locationType": "header",
                    }
                ],
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        calendar_id = parts[3]
        calendar = self._calendars.get(account if calendar_id == "primary" else calendar_id)
        if calendar is None or (calendar_id != "primary" and calendar.account != account):
            return google_error(
                404, "Not Found", errors=[{"domain": "global", "reason": "notFound", "message": "Not Found"}]
            )
        try:
            limit = max(1, min(2500, int(first_value(query, "maxResults") or 250)))
        except ValueError:
            return google_error(400, "Invalid value for: maxResults")
        return json_response(
            200,
            {
                "kind": "calendar#events",
                "etag": '"p33c9fjtq3n8o80o"',
                "summary": calendar.account,
                "description": "",
                "updated": "2025-10-06T08:00:00.000Z",
                "timeZone": "UTC",
                "accessRole": "owner",
                "defaultReminders": [],
                "items": [
                    {
                        "kind": "calendar#event",
                        "etag": f'"{i}"',
                        "status": "confirmed",
                        "htmlLink": "",
                        **event,
                        "creator": {"email": calendar.account, "self": True},
                        "organizer": {"email": calendar.account, "self": True},
                    }
                    for i, event in enumerate(calendar.events[:limit])
                ],
            },
        )

    def _account(self, token: str | None) -> str | None:
        if not token or self._tokens_expired:
            return None
        if self._accounts is None:
            return DEFAULT_ACCOUNT
        return self._accounts.get(token)
