"""The sweep's connections: one pool and one in-flight limit per provider host.

Every origin (scheme, host, port) the sweep calls gets

* at most ``settings.per_host`` requests in flight at once (a semaphore, taken when a request is sent
  and given back when its answer is closed), so a sweep of many checks never sends one provider more
  than that however high ``settings.concurrency`` is, while other providers' checks go on beside it;
* its own connection pool of that size, which keeps alive as many connections as it may open
  (``max_keepalive_connections == max_connections``): under load no connection is closed only to be
  reopened for the next request.

Why a pool per host behind a semaphore: httpcore's pool, on every request added or finished, walks each
queued request over each of its connections, so one pool with hundreds of requests queued over dozens of
connections spends the sweep's CPU there (quadratic). Here a pool never holds more requests than
connections, and never more connections than ``per_host``.

A request waits for its host's turn at most the client's pool timeout (``httpx.PoolTimeout``); in a
sweep the check's own timeout bounds it as well. With ``READINESS_STANDINS_URL`` set every provider is
the one stand-in server, which then gets one host's share. Requests an environment proxy
(``HTTPS_PROXY``) carries go through httpx's proxy transport, not through these limits.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import AsyncIterator
from typing import cast

import httpx

__all__ = ["HostLimits", "sweep_client"]


class HostLimits(httpx.AsyncBaseTransport):
    """An ``httpx`` transport: a pool and a limit of ``per_host`` requests in flight per origin."""

    def __init__(self, per_host: int, *, keepalive_expiry: float = 5.0, trust_env: bool = True) -> None:
        if per_host < 1:
            raise ValueError(f"per_host must be at least 1, not {per_host}")
        self.per_host = per_host
        self._keepalive_expiry = keepalive_expiry
        self._trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        self._origins: dict[tuple[str, str, int | None], tuple[asyncio.Semaphore, httpx.AsyncHTTPTransport]] = {}

    def _origin(self, url: httpx.URL) -> tuple[asyncio.Semaphore, httpx.AsyncHTTPTransport]:
        key = (url.scheme, url.host, url.port)
        found = self._origins.get(key)
        if found is None:
            if self._ssl is None:
                self._ssl = _tls_context(self._trust_env, *(os.environ.get(v) for v in _TLS_ENV))
            limits = httpx.Limits(
                max_connections=self.per_host,
                max_keepalive_connections=self.per_host,
                keepalive_expiry=self._keepalive_expiry,
            )
            pool = httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits, trust_env=self._trust_env)
            found = self._origins[key] = (asyncio.Semaphore(self.per_host), pool)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate, pool = self._origin(request.url)
        if gate.locked():  # a free slot is taken at once: no timeout to arm
            wait = request.extensions.get("timeout", {}).get("pool")
            try:
                async with asyncio.timeout(wait):
                    await gate.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    f"{request.url.host} still had {self.per_host} requests in flight after {wait:g}s "
                    "(settings.per_host)",
                    request=request,
                ) from None
        else:
            await gate.acquire()
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            gate.release()
            raise
        response.stream = _Releasing(cast(httpx.AsyncByteStream, response.stream), gate)  # an async pool's body
        return response

    async def aclose(self) -> None:
        origins, self._origins = self._origins, {}
        for _, pool in origins.values():
            await pool.aclose()


class _Releasing(httpx.AsyncByteStream):
    """An answer's body that gives its host's slot back when it is closed (once)."""

    def __init__(self, stream: httpx.AsyncByteStream, gate: asyncio.Semaphore) -> None:
        self._stream = stream
        self._gate: asyncio.Semaphore | None = gate

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            gate, self._gate = self._gate, None
            if gate is not None:
                gate.release()


_TLS_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@functools.lru_cache(maxsize=4)
def _tls_context(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """One verifying TLS context per process (and CA location): building one reads the whole CA bundle
    (0.16 s here), which every sweep paid before; a context is safe to share between clients and loops."""
    return httpx.create_ssl_context(trust_env=trust_env)


def sweep_client(per_host: int, timeout_s: float, user_agent: str) -> httpx.AsyncClient:
    """The client one sweep shares: ``user_agent``, ``timeout_s`` for each phase, :class:`HostLimits`."""
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent},
        timeout=timeout_s,
        transport=HostLimits(per_host),
    )
