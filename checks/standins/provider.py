"""What a stand-in is: a provider answering requests for one real host, and the shape of its answers.

The server (:mod:`checks.standins.server`) routes to providers; providers and the hostile reflector build
their answers with :func:`json_response`. Importing this imports no stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["Controllable", "Provider", "Response", "json_response"]

Response = tuple[int, Mapping[str, str], bytes]
"""What a provider answers: status, headers, body."""


@runtime_checkable
class Provider(Protocol):
    """A stand-in for one real host. Keeps its own state; must be safe to call from many threads."""

    host: str

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Answer one request as the real service would (status, headers, body)."""
        ...


@runtime_checkable
class Controllable(Protocol):
    """A provider that also takes commands on ``/_standins/HOST/ACTION``."""

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """Apply a control command; answer (status, JSON-serialisable object)."""
        ...


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with the right Content-Type."""
    return status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, json.dumps(obj).encode()
