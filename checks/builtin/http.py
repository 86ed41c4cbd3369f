"""Kind ``http``: a generic endpoint probe in the manner of gatus.

One request, then conditions on what came back: ``[STATUS]``, ``[RESPONSE_TIME]`` and JSON paths.
Could-not-tell answers (timeout, refused, DNS, TLS, 429, 5xx, non-JSON, an answer past the manifest's
``settings.max_response_bytes``) are ``error``; a clear "no" is ``fail``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.redact import fingerprint
from checks.core.result import Condition, Result
from checks.core.status import Status

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpParams", "JsonCondition", "http"]

Op = Literal["==", "!=", "exists", "in", "<", ">", "contains"]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_SECRET_PARAM = re.compile(r"(?i)key|token|secret|sig|pass|auth|code|session|credential")
_MISSING = object()


def parse_path(path: str) -> list[str | int]:
    """``$.items[0].id`` -> ``["items", 0, "id"]``. Raises ValueError naming the bad part."""
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$' (e.g. $.status, $.items[0].id)")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m:
            raise ValueError(f"JSON path {path!r} cannot be read at {path[pos:]!r}: use .key and [index] steps")
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return steps


class JsonCondition(BaseModel):
    """One assertion on the JSON body, e.g. ``{path = "$.status", op = "==", value = "ok"}``."""

    model_config = ConfigDict(extra="forbid")

    path: str
    """``$`` then ``.key`` and ``[index]`` steps."""
    op: Op = "=="
    value: Any = None
    """Compared with what is found: a list for ``in``, a number for ``<`` and ``>``; ``exists`` ignores it."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_path(value)
        return value

    @model_validator(mode="after")
    def _value_fits_op(self) -> JsonCondition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError(f'op \'in\' needs a list value, e.g. value = ["ok", "degraded"] ({self.path})')
        if self.op in ("<", ">") and not _is_number(self.value):
            raise ValueError(f"op {self.op!r} needs a number value ({self.path})")
        return self

    @property
    def name(self) -> str:
        if self.op == "exists":
            return f"{self.path} exists"
        return f"{self.path} {self.op} {json.dumps(self.value, ensure_ascii=False)}"


class HttpParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str | None = None
    """The URL, written in the manifest. Give this or ``url_env``."""
    url_env: str | None = None
    """Environment variable holding the URL (secret if the manifest's ``[[env]]`` says so)."""
    method: str = "GET"
    headers: dict[str, str] = {}
    """Literal header values."""
    header_env: dict[str, str] = {}
    """Header name -> environment variable holding its value. The values are never shown."""
    body: str | None = None
    """Raw request body."""
    json_body: Any = None
    """Request body sent as JSON (exclusive with ``body``)."""
    expect_status: int | list[int] = 200
    max_response_ms: float | None = Field(default=None, gt=0)
    conditions: list[JsonCondition] = Field(default=[], alias="json")
    """Conditions on the JSON body; written ``json = [...]`` in the manifest."""
    follow_redirects: bool = False
    provider: bool = False
    """Route through ``READINESS_STANDINS_URL`` like provider URLs (``ctx.provider_url``)."""

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in _METHODS:
            raise ValueError(f"unknown HTTP method {value!r} (use one of {', '.join(sorted(_METHODS))})")
        return value.upper()

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
        return value

    @field_validator("expect_status")
    @classmethod
    def _codes(cls, value: int | list[int]) -> int | list[int]:
        codes = [value] if isinstance(value, int) else value
        if not codes or any(not 100 <= c <= 599 for c in codes):
            raise ValueError("must be an HTTP status code (100-599) or a non-empty list of them")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> HttpParams:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        if self.body is not None and self.json_body is not None:
            raise ValueError("give at most one of 'body' or 'json_body'")
        both = {h.lower() for h in self.headers} & {h.lower() for h in self.header_env}
        if both:
            raise ValueError(f"header(s) {', '.join(sorted(both))} given in both 'headers' and 'header_env'")
        return self

    @property
    def expected(self) -> list[int]:
        return [self.expect_status] if isinstance(self.expect_status, int) else list(self.expect_status)


@check_kind("http", params=HttpParams)
async def http(params: HttpParams, ctx: CheckContext) -> Result:
    """Sends one HTTP request to a URL (given, or read from an environment variable) and checks the
    status code, the response time and conditions on the JSON body. Fails when the answer is a clear
    "no" (unexpected status, a condition not met); errors when it could not tell (timeout, connection
    refused, DNS, TLS, 429, 5xx, a non-JSON body, an answer too large to read)."""
    import httpx  # the HTTP side loads when a check runs: `readiness validate` needs only the params

    from checks.core.outbound import NoAnswer, fetch
    from checks.core.outbound import client_timeout as _client_timeout
    from checks.core.outbound import display_url as _display_url
    from checks.core.outbound import transport_failure as _transport_failure

    method = params.method
    secret_url = False
    if params.url_env:
        declared = ctx.manifest.env_var(params.url_env)
        secret_url = bool(declared and declared.is_secret)
        url = (ctx.secret(params.url_env) if secret_url else ctx.env.get(params.url_env)) or ""
        if not url.strip():
            return Result.failed(f"{params.url_env} is not set: set it to the service's URL", url_env=params.url_env)
        if not re.match(r"^https?://[^/\s]+", url):
            return Result.failed(
                f"{params.url_env} is not an absolute http(s) URL: fix its value", url_env=params.url_env
            )
    else:
        url = params.url or ""
    if params.provider:
        url = ctx.provider_url(url)
    target = params.url_env if (secret_url and params.url_env) else _display_url(url, ctx.scrubber)
    evidence: dict[str, Any] = {
        "url": fingerprint(url) if secret_url else target,
        "method": method,
    }
    if params.url_env:
        evidence["url_env"] = params.url_env

    headers = dict(params.headers)
    for header, var in params.header_env.items():
        value = ctx.secret(var)
        if not value:
            return Result.failed(
                f"{var} is not set: {method} {target} needs it for the {header} header",
                remediation=f"Set {var} in the environment or the .env file",
                **evidence,
            )
        headers[header] = value

    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": params.follow_redirects}
    if ctx.check.timeout_s:
        kwargs["timeout"] = ctx.check.timeout_s
    if params.body is not None:
        kwargs["content"] = params.body
    elif params.json_body is not None:
        kwargs["json"] = params.json_body

    started = time.perf_counter()
    try:
        response = await fetch(ctx, method, url, what=f"{method} {target}", shown=target, **kwargs)
    except NoAnswer as exc:  # the answer is longer than settings.max_response_bytes
        return replace(exc.result, evidence={**evidence, **exc.result.evidence, "url": evidence["url"]})
    except httpx.TimeoutException as exc:
        seconds = ctx.check.timeout_s or _client_timeout(ctx.client, exc)
        after = f" after {seconds:g}s" if seconds else ""
        return Result.errored(
            f"{method} {target} timed out{after}: could not tell whether it works",
            remediation="Check the service is up and reachable; raise the check's timeout_s if it is slow",
            failure="timeout",
            timeout_s=seconds,
            **evidence,
        )
    except httpx.HTTPError as exc:
        failure, phrase, fix = _transport_failure(exc)
        return Result.errored(
            f"{method} {target}: {phrase}",
            remediation=fix,
            failure=failure,
            detail=ctx.scrubber.clip(f"{type(exc).__name__}: {exc}", 300),
            **evidence,
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    return _judge(params, ctx, response, elapsed_ms, target, evidence)


def _judge(
    params: HttpParams,
    ctx: CheckContext,
    response: httpx.Response,
    elapsed_ms: float,
    target: str,
    evidence: dict[str, Any],
) -> Result:
    """Turn a response into conditions and a result."""
    from checks.core.outbound import display_url as _display_url
    from checks.core.outbound import retry_after_s

    code, method, expected = response.status_code, params.method, params.expected
    content_type = response.headers.get("content-type", "")
    evidence.update(
        status_code=code,
        response_ms=round(elapsed_ms, 1),
        content_type=content_type,
        body_excerpt=ctx.scrubber.clip(response.text, 200),
    )
    if "location" in response.headers:
        evidence["location"] = _display_url(response.headers["location"], ctx.scrubber)

    status_name = f"[STATUS] == {expected[0]}" if len(expected) == 1 else f"[STATUS] in {expected}"
    conditions = [Condition(status_name, code in expected, f"got {code}")]
    if params.max_response_ms is not None:
        fast = elapsed_ms < params.max_response_ms
        conditions.append(Condition(f"[RESPONSE_TIME] < {params.max_response_ms:g}", fast, f"took {elapsed_ms:.0f} ms"))
    document: Any = _MISSING
    if params.conditions:
        try:
            document = response.json()
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError both are
            document = _MISSING
        for cond in params.conditions:
            if document is _MISSING:
                conditions.append(Condition(cond.name, False, "body is not JSON"))
            else:
                passed, detail = _evaluate(cond, document)
                conditions.append(Condition(cond.name, passed, ctx.scrubber.clip(detail, 120)))

    def result(status: Status, summary: str, remediation: str = "") -> Result:
        return Result(status, summary, evidence, remediation, tuple(conditions))

    if code not in expected:
        if code == 429:
            asked = retry_after_s(response, ctx)
            evidence["retry_after_s"] = None if asked is None else round(asked)
            when = f", retry after {asked:.0f} s" if asked is not None else ", retry later"
            return result(
                Status.ERROR,
                f"{method} {target} answered 429: rate-limited{when}: could not tell whether it works",
                _hint(code),
            )
        if code >= 500:
            return result(
                Status.ERROR,
                f"{method} {target} answered {code} (server error): could not tell whether it works",
                "The service is failing: check its logs or status page; this check tells once it answers",
            )
        return result(Status.FAIL, f"{method} {target} answered {code}: {status_name} failed", _hint(code))
    if params.conditions and document is _MISSING:
        return result(
            Status.ERROR,
            f"{method} {target} answered non-JSON ({content_type or 'no content type'}): "
            f"could not evaluate {params.conditions[0].name}",
            "Check the URL points at the JSON API, not a web page or a proxy's error page",
        )
    failing = next((c for c in conditions if not c.passed), None)
    if failing is not None:
        return result(Status.FAIL, f"{method} {target}: {failing.name} failed ({failing.detail})")
    met = f"; {len(params.conditions)} JSON condition(s) met" if params.conditions else ""
    return result(Status.PASS, f"{method} {target} answered {code} in {elapsed_ms:.0f} ms{met}")


def _hint(code: int) -> str:
    """What to look at for an unexpected, non-5xx status."""
    if code in (401, 403):
        return "The credentials were refused: check the headers' environment variables and the key's permissions"
    if code == 404:
        return "Nothing at that path: check the URL"
    if code == 429:
        return "Rate limited: retry later, or lower how often this check runs"
    if 300 <= code < 400:
        return "It redirects (see evidence.location): point the check at the final URL or set follow_redirects"
    return ""


def _evaluate(cond: JsonCondition, document: Any) -> tuple[bool, str]:
    """Whether ``cond`` holds in ``document``, and what was seen (for the condition's detail)."""
    found = _resolve(document, parse_path(cond.path))
    if cond.op == "exists":
        return found is not _MISSING, "present" if found is not _MISSING else "absent"
    if found is _MISSING:
        return False, f"{cond.path} is absent"
    seen = f"got {_short(found)}"
    if cond.op == "==":
        return _same(found, cond.value), seen
    if cond.op == "!=":
        return not _same(found, cond.value), seen
    if cond.op == "in":
        return any(_same(found, v) for v in cond.value), seen
    if cond.op in ("<", ">"):
        if not _is_number(found):
            return False, f"{seen}, not a number"
        return (found < cond.value) if cond.op == "<" else (found > cond.value), seen
    # contains: a substring of a string, an element of a list, a key of an object
    if isinstance(found, str):
        return isinstance(cond.value, str) and cond.value in found, seen
    if isinstance(found, list):
        return any(_same(item, cond.value) for item in found), seen
    if isinstance(found, dict):
        return isinstance(cond.value, str) and cond.value in found, seen
    return False, f"{seen}, which cannot contain anything"


def _resolve(document: Any, steps: list[str | int]) -> Any:
    node = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: Any) -> str:
    """The value as JSON, whole: the caller scrubs, then cuts (:meth:`Scrubber.clip`); cutting here first
    would leave the head of a secret that straddles the cut."""
    return json.dumps(value, ensure_ascii=False)
