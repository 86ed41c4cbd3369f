"""Outbound calls to providers, shared by the provider check kinds.

Every call: the sweep's shared client (its User-Agent names readiness and its version), the provider
URL rerouted by ``READINESS_STANDINS_URL``, the check's timeout, bounded retries with backoff for
idempotent calls on 429 (honouring a short ``Retry-After``) and 5xx, and failures turned into ``error``
results with evidence saying which (timeout, refused, DNS, TLS). Nothing here ever shows a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from checks.hookspecs import CheckContext
from checks.redact import Scrubber
from checks.result import Result

__all__ = [
    "NoAnswer",
    "causes",
    "client_timeout",
    "display_url",
    "json_body",
    "request",
    "server_error",
    "transport_failure",
]

_SECRET_PARAM = re.compile(r"(?i)key|token|secret|sig|pass|auth|code|session|credential")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 2.0


class NoAnswer(Exception):
    """The provider gave no usable answer; ``result`` is the ``error`` Result to return."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.summary)
        self.result = result


async def request(
    ctx: CheckContext,
    method: str,
    url: str,
    *,
    what: str,
    retries: int = 2,
    idempotent: bool | None = None,
    provider: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request (retrying idempotent ones on 429/5xx/transport errors) and return the response.

    ``what`` names the call for people ("Google token endpoint"). Raises :class:`NoAnswer` carrying an
    ``error`` Result when no answer came (timeout, refused, DNS, TLS). A 429/5xx that persists after
    the retries is returned as the response: the caller decides what it means.
    """
    target = ctx.provider_url(url) if provider else url
    if idempotent is None:
        idempotent = method.upper() in ("GET", "HEAD", "OPTIONS")
    if ctx.check.timeout_s and "timeout" not in kwargs:
        kwargs["timeout"] = ctx.check.timeout_s
    attempts = 1 + (retries if idempotent else 0)
    shown = display_url(url, ctx.scrubber)
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = await ctx.client.request(method, target, **kwargs)
        except httpx.TimeoutException as exc:
            if not last:
                await _backoff(attempt)
                continue
            seconds = ctx.check.timeout_s or client_timeout(ctx.client, exc)
            raise NoAnswer(
                Result.errored(
                    f"{what} did not answer within {seconds:g}s: could not tell; retry later",
                    remediation="Check the provider's status page and this machine's network; raise timeout_s if slow",
                    failure="timeout",
                    url=shown,
                    attempts=attempt + 1,
                )
            ) from None
        except httpx.HTTPError as exc:
            if not last:
                await _backoff(attempt)
                continue
            failure, phrase, fix = transport_failure(exc)
            raise NoAnswer(
                Result.errored(
                    f"{what}: {phrase}: could not tell",
                    remediation=fix,
                    failure=failure,
                    url=shown,
                    attempts=attempt + 1,
                    detail=ctx.scrubber.clip(f"{type(exc).__name__}: {exc}", 300),
                )
            ) from None
        if response.status_code in RETRY_STATUSES and not last:
            await _backoff(attempt, response.headers.get("retry-after"))
            continue
        return response
    raise AssertionError("unreachable")  # pragma: no cover


async def _backoff(attempt: int, retry_after: str | None = None) -> None:
    delay = random.uniform(0, 0.2 * 2**attempt)  # full jitter
    if retry_after:
        with contextlib.suppress(ValueError):
            delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER_S))
    await asyncio.sleep(delay)


def server_error(response: httpx.Response, what: str, url: str, ctx: CheckContext) -> Result:
    """An ``error`` Result for a 429/5xx that outlasted the retries."""
    code = response.status_code
    evidence = {
        "url": display_url(url, ctx.scrubber),
        "status_code": code,
        "body_excerpt": ctx.scrubber.clip(response.text, 200),
    }
    if code == 429:
        evidence["retry_after"] = response.headers.get("retry-after")
        return Result.errored(
            f"{what} is rate limiting (429): could not tell; retry later",
            remediation="Lower how often the check runs, or wait for the provider's quota window",
            **evidence,
        )
    return Result.errored(
        f"{what} answered {code} (server error): could not tell; retry later",
        remediation="The provider is failing: check its status page",
        **evidence,
    )


def json_body(response: httpx.Response, what: str, url: str, ctx: CheckContext) -> dict[str, Any]:
    """The response's JSON object, or :class:`NoAnswer` with an ``error`` Result for anything else."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise NoAnswer(
            Result.errored(
                f"{what} answered {response.status_code} with a body that is not a JSON object: could not tell",
                remediation="Check the URL reaches the provider and not a proxy or captive portal",
                url=display_url(url, ctx.scrubber),
                status_code=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body_excerpt=ctx.scrubber.clip(response.text, 200),
            )
        )
    return data


def client_timeout(client: httpx.AsyncClient, exc: httpx.TimeoutException) -> float | None:
    timeout = client.timeout
    if isinstance(exc, httpx.ConnectTimeout):
        return timeout.connect
    if isinstance(exc, httpx.WriteTimeout):
        return timeout.write
    if isinstance(exc, httpx.PoolTimeout):
        return timeout.pool
    return timeout.read


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything behind it: causes, contexts, members of exception groups."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        stack.extend(getattr(current, "exceptions", ()))


def transport_failure(exc: httpx.HTTPError) -> tuple[str, str, str]:
    """(failure kind for evidence, phrase for the summary, remediation) for a request that got no answer."""
    chain = list(causes(exc))
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return (
            "tls",
            "TLS handshake failed (certificate not trusted)",
            "The certificate does not verify for this host name: renew or fix it, or use the right host name",
        )
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return (
            "tls",
            "TLS handshake failed",
            "Check the port speaks https (not plain http) and its TLS configuration",
        )
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns", "name does not resolve", "Fix the host name in the URL, or its DNS record"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return (
            "refused",
            "connection refused",
            "Nothing listens there: start the service or fix the URL's port",
        )
    if isinstance(exc, httpx.ConnectError):
        return (
            "connect",
            "could not connect",
            "Check the service is up and reachable from here (firewall, VPN)",
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return (
            "protocol",
            "answered with broken HTTP or closed the connection",
            "Check the URL points at an HTTP service and the service is healthy",
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return "redirects", "redirects in a loop", "Point the check at the final URL"
    return "transport", f"request failed ({type(exc).__name__})", "Check the URL and the service"


def display_url(url: str, scrubber: Scrubber) -> str:
    """``url`` fit to show: no user info, secret-looking query values masked, known secrets scrubbed."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return scrubber(url)
    query = "&".join(
        f"{k}=***" if v and _SECRET_PARAM.search(k) else part
        for part in parsed.query.decode("ascii", "replace").split("&")
        if part
        for k, _, v in [part.partition("=")]
    )
    shown = parsed.copy_with(username=None, password=None, fragment=None, query=None)
    return scrubber(str(shown) + (f"?{query}" if query else ""))
