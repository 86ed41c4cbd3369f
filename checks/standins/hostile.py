"""The hostile scenario: a provider that reflects whatever it receives, to prove nothing we send leaks back.

Switched on for a whole :class:`~checks.standins.server.StandinServer` (``server.hostile = True``, or
``POST /_standins/hostile {"on": true}``): every provider request except the OAuth token endpoints is
answered with a reflection of the request's headers, query string and body, each value in every form a
careless or malicious service could echo it in (raw, base64, URL-encoded, JSON-escaped, hex, and the
decoded ``Basic`` pair), after a filler whose length differs from probe to probe so that the values
straddle any cut a check makes (80, 100, 200, 300, 500 characters). The answer rotates through the
shapes a check must read: an OAuth error (``error``/``error_description``), a Google/Graph error object
(``error.code``/``error.message``), Twilio's (``code``/``message``), HTML and plain text, with statuses
400, 401, 403, 404, 429 (no Retry-After), 500 and 200.

Which filler, status and shape a request draws depends only on the probe (host, path, the names of its
query parameters) and on how many times that probe was asked before, never on the order in which
concurrent checks happen to arrive: every run of the same sweep reflects the same way, so a test that
looks for a reflection in one check's summary finds it every time.

Token endpoints keep answering as the provider would, so flows go on to send the tokens they obtained
(a Microsoft token to Graph, a vault-revealed token to a calendar) and those are reflected too.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import threading
import zlib
from collections.abc import Mapping
from urllib.parse import quote

from checks.standins.provider import Response, json_response

__all__ = ["HostileReflector", "forms_reflected"]

_FILLERS = (0, 10, 35, 60, 75, 95, 150, 185, 190, 196, 290)
_STATUSES = (400, 401, 403, 404, 500, 200, 429)
_SHAPES = ("oauth", "google", "twilio", "html", "text", "graph", "retell")
_PASS_THROUGH = ("/token", "/oauth2/token", "/oauth2/v2.0/token", "/o/oauth2/token", "/oauth/token")


def forms_reflected(value: str) -> list[str]:
    """Every form of ``value`` the hostile stand-in echoes (the tests assert none reaches an output)."""
    forms = [
        value,
        base64.b64encode(value.encode()).decode(),
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        value.encode().hex(),
    ]
    scheme, _, rest = value.partition(" ")
    if scheme.lower() in ("basic", "bearer") and rest:
        forms.append(rest)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(rest, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            if pair:
                forms += [pair, pair.partition(":")[2], quote(pair, safe="")]
    return forms


class HostileReflector:
    """Builds the reflecting answers; one per server, safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked: dict[str, int] = {}
        self.reflected = 0

    @staticmethod
    def passes_through(path: str) -> bool:
        """Token endpoints answer as the provider would (see the module docstring)."""
        return path.rstrip("/").endswith(_PASS_THROUGH)

    def answer(
        self, host: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        probe = "\n".join([host.lower(), path.rstrip("/"), *sorted(query)])
        with self._lock:
            count = self._asked.get(probe, 0)
            self._asked[probe] = count + 1
            self.reflected += 1
        n = zlib.crc32(probe.encode()) + count
        echoed: list[str] = []
        boring = ("host", "content-length", "accept-encoding", "connection", "user-agent", "accept", "content-type")
        # what carries credentials first, so even a short excerpt holds them
        for name, value in sorted(headers.items(), key=lambda kv: kv[0] != "authorization"):
            if name not in boring:
                echoed += [f"{name}: {form}" for form in forms_reflected(value)]
        for name, values in query.items():
            for value in values:
                echoed += [f"{name}={form}" for form in forms_reflected(value)]
        if body:
            text = body.decode("utf-8", "replace")
            echoed += forms_reflected(text)
        filler = "x" * _FILLERS[n % len(_FILLERS)]
        reflection = filler + " you sent: " + " | ".join(echoed) if echoed else filler + " you sent nothing"
        status = _STATUSES[n % len(_STATUSES)]
        shape = _SHAPES[(n // len(_STATUSES)) % len(_SHAPES)]
        if shape == "html":
            page = (
                f"<html><body><h1>Error {status}</h1><pre>{html.escape(reflection)}</pre>"
                f"<!-- {reflection} --></body></html>"
            )
            return status, {"Content-Type": "text/html; charset=UTF-8"}, page.encode()
        if shape == "text":
            return status, {"Content-Type": "text/plain; charset=UTF-8"}, reflection.encode()
        if shape == "google":
            obj: object = {
                "error": {
                    "code": status,
                    "message": reflection,
                    "status": "INVALID_ARGUMENT",
                    "errors": [{"message": reflection, "reason": reflection[-40:]}],
                }
            }
        elif shape == "graph":
            obj = {
                "error": {
                    "code": "InvalidAuthenticationToken",
                    "message": reflection,
                    "innerError": {"request-id": reflection[:64]},
                }
            }
        elif shape == "twilio":
            obj = {"code": 20003, "message": reflection, "more_info": reflection, "status": status}
        elif shape == "retell":
            obj = {"status": "error", "message": reflection}
        else:
            obj = {
                "error": "invalid_request",
                "error_description": reflection,
                "error_codes": [],
                "message": reflection,
                "received": dict(headers),
            }
        return json_response(status, obj)
