"""Stand-in for the token vault service's health endpoint (``token-vault.standin.local``), for ``TOKEN_VAULT_URL``.

``GET /health`` (also ``/healthz``, ``/readyz``) answers ``{"status": "ok", "service": "token-vault", ...}``
in the ``valid`` scenario and 503 ``{"status": "down"}`` with ``Retry-After`` in ``down``; set them with
:meth:`VaultServiceStandin.set_scenario` or ``POST /_standins/token-vault.standin.local/scenario``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Scenarios

__all__ = ["SCENARIOS", "VAULT_SERVICE_HOST", "VaultServiceStandin"]

VAULT_SERVICE_HOST = "token-vault.standin.local"
"""Host name of the token vault service's stand-in (``TOKEN_VAULT_URL`` = ``{url}/token-vault.standin.local``)."""
SCENARIOS = ("valid", "down")


class VaultServiceStandin:
    """``token-vault.standin.local``: the token vault service's health endpoint (``GET /health``), for
    ``TOKEN_VAULT_URL``. Down (503) until :meth:`set_scenario` ``valid``; ``down`` takes it down again."""

    host = VAULT_SERVICE_HOST

    def __init__(self, live: bool = True) -> None:
        self.scenarios = Scenarios("the token vault", SCENARIOS)
        self.live = live

    @property
    def live(self) -> bool:
        return self.scenarios.name == "valid"

    @live.setter
    def live(self, on: bool) -> None:
        self.scenarios.set("valid" if on else "down")

    def set_scenario(self, name: str, **options: Any) -> None:
        self.scenarios.set(name, **options)

    def reset(self) -> None:
        self.scenarios.reset()

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        if method not in ("GET", "HEAD") or path.rstrip("/") not in ("/health", "/healthz", "/readyz"):
            return json_response(404, {"error": "not_found", "path": path})
        if not self.live:
            return json_response(503, {"status": "down"}, {"Retry-After": "30"})
        return json_response(200, {"status": "ok", "service": "token-vault", "checked_at": _now()})

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``scenario`` (POST {name}), ``reset`` (POST), ``state`` (GET: the scenario, whether it is live)."""
        return self.scenarios.control(
            method, action, payload, apply=self.set_scenario, reset=self.reset, state=lambda: {"live": self.live}
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
