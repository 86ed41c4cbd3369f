"""Outbound calls to providers, shared by the provider check kinds.

Every call: the sweep's shared client (its User-Agent names readiness and its version), the provider
URL rerouted by ``READINESS_STANDINS_URL``, the check's timeout, the answer streamed and read up to the
manifest's ``settings.max_response_bytes`` (default 1 MiB; past it: an ``error`` result, the connection
closed), bounded retries with backoff for idempotent calls on 429 and 5xx (honouring ``Retry-After`` only
when it fits in the time the check has left; otherwise no sleep, the answer is returned), and failures
turned into ``error`` results with evidence saying which (timeout, refused, DNS, TLS, too large).
Nothing here ever shows a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import ssl
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx

from checks.core.hookspecs import CheckContext
from checks.core.redact import Scrubber
from checks.core.result import Result
from vault.retry import RETRY_STATUSES, RetryPolicy, retry_after

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "NoAnswer",
    "causes",
    "client_timeout",
    "display_url",
    "fetch",
    "json_body",
    "request",
    "retry_after_s",
    "server_error",
    "transport_failure",
]

_SECRET_PARAM = re.compile(r"(?i)key|token|secret|sig|pass|auth|code|session|credential")
_POLICY = RetryPolicy(base=timedelta(seconds=0.2), rng=random)
"""The one retry policy (:mod:`vault.retry`): full jitter from 0.2 s, doubling per attempt; a provider's
Retry-After when it gives one. ``request`` stops early when the wait would outlast the check's time."""


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
    ``error`` Result when no answer came (timeout, refused, DNS, TLS) or the answer is longer than the
    manifest's ``settings.max_response_bytes`` (see :func:`fetch`). A 429/5xx that persists after the
    retries is returned as the response: the caller decides what it means. So is one whose
    ``Retry-After`` asks for more time than the check has left (``ctx.deadline``): no sleep past it.
    """
    target = ctx.provider_url(url) if provider else url
    if idempotent is None:
        idempotent = method.upper() in ("GET", "HEAD", "OPTIONS")
    if ctx.check.timeout_s and "timeout" not in kwargs:
        kwargs["timeout"] = ctx.check.timeout_s
    import tenacity  # loaded with the first provider call, not with every kind that names NoAnswer

    attempts = 1 + (retries if idempotent else 0)
    shown = display_url(url, ctx.scrubber)
    ends = _ends(ctx)
    loop = asyncio.get_running_loop()
    tried = 0

    async def attempt() -> httpx.Response:
        nonlocal tried
        tried += 1
        return await fetch(ctx, method, target, what=what, shown=shown, **kwargs)

    def asked(state: tenacity.RetryCallState) -> timedelta | None:
        if state.outcome is None or state.outcome.failed:
            return None
        return retry_after(state.outcome.result().headers.get("retry-after"), ctx.clock.now())

    def out_of_time(state: tenacity.RetryCallState) -> bool:  # no sleep past the time the check has left
        return (state.upcoming_sleep or 0.0) >= ends - loop.time()

    retrying = tenacity.AsyncRetrying(
        # stop_any calls each stop with the state; its annotation asks for stop_base, a plain callable does as well
        stop=tenacity.stop_any(tenacity.stop_after_attempt(attempts), cast("tenacity.stop.stop_base", out_of_time)),
        wait=_POLICY.wait(asked),
        retry=tenacity.retry_if_exception_type(httpx.HTTPError)
        | tenacity.retry_if_result(lambda response: response.status_code in RETRY_STATUSES),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,  # the last answer
    )
    try:
        response: httpx.Response = await retrying(attempt)
    except httpx.TimeoutException as exc:
        seconds = ctx.check.timeout_s or client_timeout(ctx.client, exc)
        raise NoAnswer(
            Result.errored(
                f"{what} did not answer within {seconds:g}s: could not tell; retry later",
                remediation="Check the provider's status page and this machine's network; raise timeout_s if slow",
                failure="timeout",
                url=shown,
                attempts=tried,
            )
        ) from None
    except httpx.HTTPError as exc:
        failure, phrase, fix = transport_failure(exc)
        raise NoAnswer(
            Result.errored(
                f"{what}: {phrase}: could not tell",
                remediation=fix,
                failure=failure,
                url=shown,
                attempts=tried,
                detail=ctx.scrubber.clip(f"{type(exc).__name__}: {exc}", 300),
            )
        ) from None
    return response


async def fetch(ctx: CheckContext, method: str, url: str, *, what: str, shown: str, **kwargs: Any) -> httpx.Response:
    """One request on the sweep's client, its body streamed and read up to ``settings.max_response_bytes``,
    then the connection closed. The cap holds for the bytes read off the network and for the bytes they
    decode to (gzip and deflate are decoded here, a bounded step at a time, so a small compressed answer
    cannot expand past it either; no other encoding is offered). Raises :class:`NoAnswer` with an
    ``error`` Result when the answer announces (``Content-Length``) or turns out to be longer: nothing
    past the cap is read. The returned response is fully read (``.content``, ``.text``, ``.json()``
    work); transport errors are ``httpx`` exceptions, as from ``client.request``. ``shown`` is the URL fit
    to show."""
    cap = ctx.manifest.settings.max_response_bytes
    headers = httpx.Headers(kwargs.pop("headers", None))
    headers.setdefault("Accept-Encoding", "gzip, deflate")
    follow = bool(kwargs.pop("follow_redirects", False))
    async with contextlib.AsyncExitStack() as stack:
        response = await stack.enter_async_context(
            ctx.client.stream(method, url, headers=headers, follow_redirects=False, **kwargs)
        )
        hops = 0
        # Followed here, not by httpx: it reads a redirect's whole body, however long, before moving on.
        while follow and response.next_request is not None:
            hops += 1
            if hops > ctx.client.max_redirects:
                raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=response.request)
            following = response.next_request
            await response.aclose()
            response = await ctx.client.send(following, stream=True, follow_redirects=False)
            stack.push_async_callback(response.aclose)
        announced = _content_length(response)
        read = 0
        chunks: list[bytes] = []
        if announced is None or announced <= cap:
            read = await _read_capped(response, cap, chunks)
        if read > cap or (announced is not None and announced > cap):
            raise NoAnswer(_too_large(what, shown, response, read, cap, announced))
        # What ``Response.aread`` does itself; the stream is consumed and closes with this block.
        response._content = b"".join(chunks)
    return response


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


async def _read_capped(response: httpx.Response, cap: int, chunks: list[bytes]) -> int:
    """Append the decoded body to ``chunks`` until it ends or passes ``cap``; return the bytes decoded
    (``cap + 1`` or more when it passed). Raises ``httpx.DecodingError`` for an encoding it cannot read."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    if decoder is None and encoding not in ("", "identity"):
        raise httpx.DecodingError(f"content encoding {encoding[:40]!r} was not offered", request=response.request)
    read = wire = 0
    async for raw in response.aiter_raw():
        wire += len(raw)
        try:  # at most what is left under the cap, plus one byte to tell "past it"
            piece = raw if decoder is None else decoder.decompress(raw, cap + 1 - read)
        except zlib.error as exc:
            raise httpx.DecodingError(f"{encoding} body does not decode: {exc}", request=response.request) from None
        read += len(piece)
        if read > cap or wire > cap:
            return max(read, wire)
        chunks.append(piece)
    if decoder is not None:
        tail = decoder.flush()
        read += len(tail)
        chunks.append(tail)
    return read


def _too_large(what: str, shown: str, response: httpx.Response, read: int, cap: int, announced: int | None) -> Result:
    said = f"announced {announced} bytes" if not read else f"read {read} bytes before stopping"
    return Result.errored(
        f"{what} answered {response.status_code} with an answer too large: {said}, past the cap of {cap} bytes: "
        "could not tell",
        remediation="Check the URL reaches the provider's API and not a download or a proxy's error page; raise "
        "settings.max_response_bytes in the manifest only if the provider really answers that much",
        failure="too_large",
        url=shown,
        status_code=response.status_code,
        bytes_read=read,
        max_response_bytes=cap,
        content_length=announced,
        content_type=response.headers.get("content-type", ""),
    )


def _content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _ends(ctx: CheckContext) -> float:
    """When this check must be done, on the loop's clock: ``ctx.deadline`` in a sweep, else its timeout."""
    if ctx.deadline is not None:
        return ctx.deadline
    timeout = ctx.check.timeout_s or ctx.manifest.settings.timeout_s
    return asyncio.get_running_loop().time() + timeout


def retry_after_s(response: httpx.Response, ctx: CheckContext) -> float | None:
    """The response's ``Retry-After`` in seconds (delta-seconds, or an HTTP-date against ``ctx.clock``), as the
    one retry policy reads it (:func:`vault.retry.retry_after`: capped at a day); None when absent or unreadable."""
    wait = retry_after(response.headers.get("retry-after"), ctx.clock.now())
    return None if wait is None else wait.total_seconds()


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
        asked = retry_after_s(response, ctx)
        evidence["retry_after_s"] = None if asked is None else round(asked)
        when = f": rate-limited, retry after {asked:.0f} s" if asked is not None else ""
        return Result.errored(
            f"{what} is rate limiting (429){when}: could not tell; retry later",
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
