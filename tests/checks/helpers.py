"""Small manifests built in code for engine tests, and the kinds' tests' shared harness: one check of a kind
run as the runner runs it (:func:`run_kind`), and a stand-in server per test file (:func:`standin_fixtures`)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from checks.core.clock import Clock, FixedClock
from checks.core.facts import Attestation
from checks.core.hookspecs import CheckContext
from checks.core.manifest import CheckSpec, Manifest
from checks.core.manifest_load import parse_manifest
from checks.core.redact import Scrubber
from checks.core.result import Result

HEAD = """
schema = 1
[release]
story = "TEST-1"
title = "Test release"
release_manager = "rm"
assessment_date = 2025-10-06
next_review = 2025-10-11
decision_point = 2025-10-13

[[areas]]
id = "a"
title = "Area A"
priority = "high"

[[areas]]
id = "b"
title = "Area B"
priority = "low"

[[items]]
id = "a.one"
title = "Item one"
area = "a"
priority = "critical"
owner = "platform"
blocks = ["#65"]

[[items]]
id = "b.two"
title = "Item two"
area = "b"
priority = "low"
owner = "platform"

[contacts.platform]
name = "Platform Team"

[[milestones]]
id = "week1"
title = "Week 1"
"""


def check_block(
    id: str,
    kind: str = "fixed",
    item: str = "a.one",
    severity: str = "blocking",
    depends_on: list[str] | None = None,
    timeout_s: float | None = None,
    **params: object,
) -> str:
    lines = ["[[checks]]", f'id = "{id}"', f'kind = "{kind}"', f'item = "{item}"', f'severity = "{severity}"']
    if depends_on:
        lines.append("depends_on = [" + ", ".join(f'"{d}"' for d in depends_on) + "]")
    if timeout_s is not None:
        lines.append(f"timeout_s = {timeout_s}")
    if params:
        lines.append("[checks.params]")
        for k, v in params.items():
            lines.append(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"')
    return "\n".join(lines) + "\n"


def make_manifest(*blocks: str, extra: str = "") -> Manifest:
    return parse_manifest(HEAD + extra + "\n" + "\n".join(blocks), source="test.toml")


class _Flood(BaseHTTPRequestHandler):
    """Answers ``/announced/...`` with a Content-Length and ``/unannounced/...`` without one (the body ends
    when the connection closes), ``server.size`` bytes of a JSON-looking body, 64 KiB at a time;
    ``/redirect/...`` is a 302 to ``/small`` (a 16-byte JSON answer) carrying such a body."""

    def do_GET(self) -> None:  # noqa: N802
        srv: Any = self.server
        if self.path.startswith("/small"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "16")
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')
            return
        if self.path.startswith("/redirect"):  # a redirect whose own body is the flood
            self.send_response(302)
            self.send_header("Location", "/small")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.startswith("/announced"):
            self.send_header("Content-Length", str(srv.size))
        self.end_headers()
        block = b"a" * 65536
        left = srv.size
        try:
            self.wfile.write(b'{"status": "ok", "pad": "')
            while left > 0:
                self.wfile.write(block[: min(len(block), left)])
                left -= len(block)
        except OSError:
            pass  # the client stopped reading: what a capped client does

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def flood_server(size: int) -> Iterator[str]:
    """A loopback HTTP server whose every answer is ``size`` bytes long; yields its base URL."""
    srv: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Flood)
    srv.daemon_threads, srv.size = True, size
    srv.handle_error = lambda *a: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


# --- the kinds' tests -----------------------------------------------------------------------------------------

KINDS_NOW = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
"""The instant the kinds' tests run at unless they pass a clock (the conftest ``clock`` fixture's)."""


def run_kind(
    call: Callable[[CheckContext], Awaitable[Result]],
    *,
    manifest: Manifest,
    kind: str = "",
    params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    check_id: str = "x",
    item: str = "a.one",
    check: CheckSpec | None = None,
    timeout_s: float | None = None,
    clock: Clock | None = None,
    standins_url: str | None = None,
    scrubber: Scrubber | None = None,
    extras: dict[str, Any] | None = None,
    attestations: Mapping[str, Attestation] | None = None,
    client: httpx.AsyncClient | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> Result:
    """One check of a kind, called as the runner calls it: ``call(ctx)`` (the test's own call of the kind
    function, e.g. ``lambda ctx: ghl(validated, ctx)``) with a :class:`CheckContext` on ``manifest`` and ``env``,
    a fixed clock at :data:`KINDS_NOW` unless ``clock`` is given, and an httpx client that ignores the
    process's proxy variables (``client_options``: e.g. a User-Agent header or a timeout), closed afterwards;
    or ``client``, left open for the caller to reuse. The check is ``check``, else one of ``kind`` built from
    ``check_id``, ``item``, ``timeout_s`` and ``params``."""
    if check is None:
        check = CheckSpec(id=check_id, item=item, kind=kind, timeout_s=timeout_s, params=dict(params or {}))

    async def go(http: httpx.AsyncClient) -> Result:
        ctx = CheckContext(
            check=check,
            client=http,
            clock=clock or FixedClock(KINDS_NOW),
            env=env if env is not None else {},
            manifest=manifest,
            attestations=attestations or {},
            scrubber=scrubber or Scrubber(),
            standins_url=standins_url,
            extras=extras if extras is not None else {},
        )
        return await call(ctx)

    async def with_own_client() -> Result:
        async with httpx.AsyncClient(trust_env=False, **(client_options or {})) as http:
            return await go(http)

    return asyncio.run(go(client) if client is not None else with_own_client())


def standin_fixtures(make: Callable[[], Any]) -> tuple[Any, Any]:
    """The fixtures of a kind's test file that talks to one stand-in (a ``checks.standins`` provider):
    ``running``, one loopback server for the whole file, and ``standin``, the same ``(server, provider)``
    with the provider reset before and after each test. Bind both at module level:
    ``running, standin = standin_fixtures(lambda: RetellStandin(slow_s=1.0, retry_after=0))``."""
    from checks.standins.server import StandinServer

    @pytest.fixture(scope="module", name="running")
    def running() -> Iterator[tuple[Any, Any]]:
        provider = make()
        with StandinServer([provider]) as server:
            yield server, provider

    @pytest.fixture(name="standin")
    def standin(running: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
        running[1].reset()
        yield running
        running[1].reset()

    return running, standin
