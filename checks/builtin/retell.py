"""Kind ``retell``: the Retell API key works and the sandbox has a test agent configured.

Lists agents with ``POST /v2/list-agents`` (read-only, so retried like a GET), falling back to the older
``GET /list-agents`` when v2 answers 404. v2 wraps the agents in ``{"items": [...], "has_more", ...}``
(``agents`` is accepted too); the older endpoint answers a bare list with one entry per agent version,
so agents are counted by ``agent_id``. Agent names are not secret and are shown; the key never is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.redact import fingerprint
from checks.core.result import Result

if TYPE_CHECKING:
    import httpx

__all__ = ["RetellParams", "retell"]

V2_URL = "https://api.retellai.com/v2/list-agents"
V1_URL = "https://api.retellai.com/list-agents"
WHAT = "Retell's list-agents API"
DASHBOARD = "the Retell dashboard"
_SHOWN_NAMES = 20


class RetellParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["agents"] = "agents"
    """``agents``: the key is accepted and at least ``min_agents`` agents exist."""
    key_env: str = Field(default="RETELL_API_KEY", min_length=1)
    """Variable holding the API key, sent as ``Authorization: Bearer``. Never shown."""
    min_agents: int = Field(default=1, ge=0)
    """How many agents the sandbox's test data needs."""


@check_kind("retell", params=RetellParams)
async def retell(params: RetellParams, ctx: CheckContext) -> Result:
    """Calls Retell's list-agents API with the bearer API key (``POST /v2/list-agents``, falling back to
    ``GET /list-agents`` when v2 answers 404): passes when the key is accepted and at least
    ``min_agents`` agents are configured, showing their count and names; fails when the key is refused
    (401), the trial has ended (402) or no test agent exists; 429/5xx after retries and non-JSON answers
    are errors. Never shows the key (its fingerprint is in the evidence)."""
    from checks.core.outbound import NoAnswer, request  # the HTTP side loads when a check runs

    key = ctx.secret(params.key_env)
    if not key:
        return Result.failed(
            f"{params.key_env} is not set: copy an API key from {DASHBOARD} › API Keys",
            remediation=f"Set {params.key_env} in the process environment or the .env file",
            missing=[params.key_env],
            probe=params.probe,
        )
    headers = {"Authorization": f"Bearer {key}"}
    evidence: dict[str, Any] = {"probe": params.probe, "key_fingerprint": fingerprint(key)}
    limit = min(max(params.min_agents, 50), 1000)
    url = V2_URL
    try:
        response = await request(
            ctx, "POST", url, what=WHAT, headers=headers, params={"limit": limit}, json={}, idempotent=True
        )
        evidence["endpoint"] = "POST /v2/list-agents"
        if response.status_code == 404:
            url = V1_URL
            response = await request(ctx, "GET", url, what=WHAT, headers=headers, idempotent=True)
            evidence["endpoint"] = "GET /list-agents (v2 answered 404)"
        if response.status_code == 200:
            return _judge(_agents(response, url, ctx), params, evidence)
    except NoAnswer as exc:
        return exc.result
    return _refused(response, params, ctx, url, evidence)


def _agents(response: httpx.Response, url: str, ctx: CheckContext) -> tuple[list[dict[str, Any]], bool]:
    """(agents, more pages) from either shape; :class:`NoAnswer` for anything else."""
    from checks.core.outbound import NoAnswer, display_url, json_body

    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if isinstance(data, list):
        return [a for a in data if isinstance(a, dict)], False
    data = json_body(response, WHAT, url, ctx)  # a JSON object, or NoAnswer with an error result
    listed = data.get("items", data.get("agents"))
    if not isinstance(listed, list):
        raise NoAnswer(
            Result.errored(
                f"{WHAT} answered 200 without a list of agents (no 'items' or 'agents'): could not tell",
                remediation="Check the URL reaches Retell and not a proxy",
                url=display_url(url, ctx.scrubber),
                keys=sorted(str(k) for k in data)[:20],
            )
        )
    return [a for a in listed if isinstance(a, dict)], bool(data.get("has_more"))


def _judge(found: tuple[list[dict[str, Any]], bool], params: RetellParams, evidence: dict[str, Any]) -> Result:
    listed, more = found
    names: dict[str, str] = {}
    for agent in listed:  # one entry per agent version on the older endpoint
        agent_id = str(agent.get("agent_id") or "")
        if agent_id and agent_id not in names:
            names[agent_id] = str(agent.get("agent_name") or agent_id)
    count = len(names)
    evidence.update(agent_count=count, more_pages=more, agent_names=list(names.values())[:_SHOWN_NAMES])
    shown = f"{'at least ' if more else ''}{count} agent{'s' if count != 1 else ''}"
    if count == 0 and params.min_agents > 0:
        return Result.failed(
            f"No test agent configured: Retell accepts {params.key_env} but lists no agents; create one in "
            f"{DASHBOARD} (Agents › Create an agent)",
            remediation="The sandbox's test data is a mock agent configuration for connection testing",
            **evidence,
        )
    if count < params.min_agents:
        return Result.failed(
            f"Retell has {shown}, the sandbox needs at least {params.min_agents}: create the missing test "
            f"agents in {DASHBOARD}",
            remediation="min_agents in the manifest says how many agents the sandbox's test data needs",
            **evidence,
        )
    listing = ", ".join(list(names.values())[:3]) + (", ..." if count > 3 else "")
    return Result.passed(f"Retell accepts {params.key_env}; {shown} configured ({listing})", **evidence)


def _refused(
    response: httpx.Response, params: RetellParams, ctx: CheckContext, url: str, evidence: dict[str, Any]
) -> Result:
    from checks.core.outbound import server_error

    status = response.status_code
    if status == 429 or status >= 500:
        return server_error(response, WHAT, url, ctx)
    message = _message(response, ctx)
    evidence.update(status_code=status, retell_message=message)
    if status == 401:
        return Result.failed(
            f"Retell refused {params.key_env} (401 {message or 'Unauthorized'}): key refused; copy a current "
            f"API key from {DASHBOARD} › API Keys",
            remediation="A deleted or regenerated key stops working at once; keys of another workspace see "
            "none of this workspace's agents",
            **evidence,
        )
    if status == 402:
        return Result.failed(
            f"Retell answered 402 ({message or 'Payment Required'}): the trial has ended; add a payment method in "
            f"{DASHBOARD} › Billing",
            remediation="Retell answers 402 to every call of a workspace whose trial has ended",
            **evidence,
        )
    if status == 403:
        return Result.failed(
            f"Retell answered 403 ({message or 'Forbidden'}): {params.key_env} may not list agents; use a key "
            f"with access to the workspace from {DASHBOARD} › API Keys",
            remediation="Ask the workspace's owner for a key, or for the role that may read agents",
            **evidence,
        )
    return Result.errored(
        f"{WHAT} answered {status}{f' ({message})' if message else ''}: could not tell",
        remediation="Check https://docs.retellai.com/api-references/list-agents for changes to the endpoint",
        body_excerpt=ctx.scrubber.clip(response.text, 200),
        **evidence,
    )


def _message(response: httpx.Response, ctx: CheckContext) -> str:
    """Retell's ``{"status": "error", "message": ...}``, scrubbed; empty when the body is not that."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return ctx.scrubber.clip(str(message), 200) if message else ""
