"""Stand-in for Retell AI's REST API (``api.retellai.com``): listing voice agents.

Implements what the ``retell`` check kind sends, with Retell's JSON shapes and error bodies
(``{"status": "error", "message": ...}``), authenticated with ``Authorization: Bearer <API key>``:

* List Voice Agents, v2: ``POST /v2/list-agents`` (query ``limit``, default 50, and ``pagination_key``;
  optional JSON body ``{"filter_criteria": ...}``) answers ``{"items": [...], "has_more": ...,
  "pagination_key": ...}``, one summary per agent (``agent_id``, ``agent_name``, ``channel``,
  ``user_modified_timestamp``, ``tags``);
* List Agents, the older ``GET /list-agents``: a bare JSON list of full agent objects (``agent_id``,
  ``version``, ``agent_name``, ``voice_id``, ``response_engine``, ``last_modification_timestamp``, ...),
  one per agent *version*, so an agent edited once appears twice.

Named scenarios (:data:`SCENARIOS`), set with :meth:`RetellStandin.set_scenario` or over
``POST /_standins/api.retellai.com/scenario`` ``{"name": "no_agents"}``:

``valid`` (two agents, one of them with two versions), ``bad_key`` (401 for every key, as after the
key was deleted), ``no_agents``, ``v1_only`` (``/v2/list-agents`` answers 404, as an older deployment
would), ``slow`` (answers after ``slow_s`` seconds), ``500``, ``429`` (with ``Retry-After``),
``garbage`` (an HTML page with status 200).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Scenarios

__all__ = ["DEFAULT_AGENTS", "DEFAULT_API_KEY", "HOST", "SCENARIOS", "Agent", "RetellStandin"]

HOST = "api.retellai.com"
DEFAULT_API_KEY = "key_" + "3f9a1c7e5b2d4068" * 2


@dataclass(frozen=True)
class Agent:
    """One voice agent as the stand-in keeps it."""

    agent_id: str
    agent_name: str
    voice_id: str = "11labs-Adrian"
    llm_id: str = "llm_234sdertfsdsfsdfsdf"
    versions: int = 1
    """How many versions ``GET /list-agents`` lists (one entry each)."""
    modified_ms: int = 1759741200000


DEFAULT_AGENTS: tuple[Agent, ...] = (
    Agent("agent_1ffdb9717444d0e77346838911", "Readiness test agent", versions=2),
    Agent("agent_5c1e0b3f8d2a4e6b9c7d1a2b3c", "Appointment reminder (sandbox)", voice_id="openai-Alloy"),
)

SCENARIOS = ("valid", "bad_key", "no_agents", "v1_only", "slow", "500", "429", "garbage")

_ERRORS = {
    401: "API key is missing or invalid.",
    404: "Not Found",
    429: "Account rate limited, please throttle your requests.",
    500: "An unexpected server error occurred.",
}


class RetellStandin:
    """One Retell workspace (an API key and its agents) behind the list-agents endpoints. Thread-safe.

    ``calls`` lists the requests served (``"POST /v2/list-agents"``); ``user_agents`` the User-Agent of each.
    """

    host = HOST

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        agents: tuple[Agent, ...] = DEFAULT_AGENTS,
        scenario: str = "valid",
        slow_s: float = 3.0,
        retry_after: int = 1,
    ) -> None:
        self.api_key = api_key
        self.agents = agents
        self.slow_s = slow_s
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self.scenarios = Scenarios("Retell", SCENARIOS)
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
            return _error(500)
        elif scenario == "429":
            return _error(429, {"Retry-After": str(self.retry_after)})
        elif scenario == "garbage":
            return (
                200,
                {"Content-Type": "text/html"},
                b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
            )
        route = (method, path.rstrip("/"))
        if route not in (("POST", "/v2/list-agents"), ("GET", "/list-agents")) or (
            scenario == "v1_only" and route[0] == "POST"
        ):
            return _error(404)
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scenario == "bad_key" or scheme.lower() != "bearer" or key.strip() != self.api_key:
            return _error(401)
        agents = () if scenario == "no_agents" else self.agents
        if route[0] == "GET":
            return json_response(200, [self._full(a, v) for a in agents for v in range(a.versions)])
        return self._list_v2(agents, query, body)

    def _list_v2(self, agents: tuple[Agent, ...], query: Mapping[str, list[str]], body: bytes) -> Response:
        try:
            payload = json.loads(body) if body.strip() else {}
            limit = int(_first(query, "limit") or (payload.get("limit") if isinstance(payload, dict) else 0) or 50)
        except (ValueError, TypeError, AttributeError):
            return _error(400, message="Invalid request format, please check API reference.")
        if not isinstance(payload, dict) or not 1 <= limit <= 1000:
            return _error(400, message="Invalid request format, please check API reference.")
        ids = [a.agent_id for a in agents]
        after = _first(query, "pagination_key")
        start = ids.index(after) + 1 if after in ids else 0
        page = agents[start : start + limit]
        answer: dict[str, Any] = {"items": [self._summary(a) for a in page], "has_more": start + limit < len(agents)}
        if answer["has_more"]:
            answer["pagination_key"] = page[-1].agent_id
        return json_response(200, answer)

    @staticmethod
    def _summary(agent: Agent) -> dict[str, Any]:
        return {
            "agent_id": agent.agent_id,
            "agent_name": agent.agent_name,
            "channel": "voice",
            "user_modified_timestamp": agent.modified_ms,
            "tags": {},
        }

    @staticmethod
    def _full(agent: Agent, version: int) -> dict[str, Any]:
        return {
            "agent_id": agent.agent_id,
            "version": version,
            "is_published": version < agent.versions - 1,  # the newest version is the draft
            "response_engine": {"type": "retell-llm", "llm_id": agent.llm_id, "version": version},
            "agent_name": agent.agent_name,
            "voice_id": agent.voice_id,
            "voice_model": "eleven_turbo_v2",
            "voice_temperature": 1,
            "voice_speed": 1,
            "volume": 1,
            "responsiveness": 1,
            "interruption_sensitivity": 1,
            "enable_backchannel": True,
            "backchannel_frequency": 0.9,
            "backchannel_words": ["yeah", "uh-huh"],
            "reminder_trigger_ms": 10000,
            "reminder_max_count": 2,
            "ambient_sound": None,
            "language": "en-US",
            "webhook_url": None,
            "boosted_keywords": [],
            "opt_out_sensitive_data_storage": False,
            "normalize_for_speech": True,
            "end_call_after_silence_ms": 600000,
            "max_call_duration_ms": 3600000,
            "enable_voicemail_detection": False,
            "begin_message_delay_ms": 1000,
            "ring_duration_ms": 30000,
            "stt_mode": "fast",
            "denoising_mode": "noise-cancellation",
            "last_modification_timestamp": agent.modified_ms + version * 60_000,
        }

    # -- control surface (/_standins/api.retellai.com/ACTION) -----------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``scenario`` (POST {name}: switch; GET: the current one and the choices), ``reset`` (POST),
        ``state`` (GET: scenario, agent names, how many calls were served; never the key)."""
        return self.scenarios.control(
            method, action, payload, apply=self.set_scenario, reset=self.reset, state=self._state
        )

    def _state(self) -> dict[str, Any]:
        with self._lock:
            return {"agents": [a.agent_name for a in self.agents], "calls": len(self.calls)}


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _error(status: int, headers: Mapping[str, str] | None = None, *, message: str | None = None) -> Response:
    return json_response(status, {"status": "error", "message": message or _ERRORS[status]}, headers)
