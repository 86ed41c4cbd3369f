"""The sweep's connections: at most ``settings.per_host`` requests in flight to one provider host, hosts
side by side, connections kept alive and reused; the settings validated and documented."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from checks.core.errors import ManifestError
from checks.core.manifest import Settings
from checks.core.outbound_pool import HostLimits
from checks.core.registry import get_registry
from checks.core.runner import run_checks
from tests.checks.helpers import check_block, make_manifest

ROOT = Path(__file__).resolve().parents[2]


class Room:
    """What the servers of one test share: requests in flight now (all hosts), the peak, and when to answer."""

    def __init__(self, together: int, hold_s: float) -> None:
        self.cond = threading.Condition()
        self.total = self.peak = 0
        self.together = together  # hold each request until this many are in flight over all hosts
        self.hold_s = hold_s  # or this long


class Counting(BaseHTTPRequestHandler):
    """Counts connections and requests in flight per server (one server = one host); answers 200 JSON."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        srv = self.server
        with srv.room.cond:
            srv.connections += 1

    def do_GET(self) -> None:  # noqa: N802
        srv, room = self.server, self.server.room
        with room.cond:
            srv.now += 1
            srv.requests += 1
            room.total += 1
            srv.peak = max(srv.peak, srv.now)
            room.peak = max(room.peak, room.total)
            room.cond.notify_all()
            room.cond.wait_for(lambda: room.total >= room.together, timeout=room.hold_s)
        time.sleep(0.1)  # room for a request past the limit to arrive, were one sent
        with room.cond:  # counted out before answering: the client may send the next one once it has the answer
            srv.now -= 1
            room.total -= 1
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def start(host: str, room: Room) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer((host, 0), Counting)
    srv.daemon_threads = True
    srv.room, srv.now, srv.peak, srv.requests, srv.connections = room, 0, 0, 0, 0
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def servers(request):
    started: list[ThreadingHTTPServer] = []

    def make(hosts: list[str], together: int, hold_s: float = 5.0) -> list[ThreadingHTTPServer]:
        room = Room(together, hold_s)
        started.extend(start(h, room) for h in hosts)
        return started

    yield make
    for srv in started:
        srv.shutdown()
        srv.server_close()


def url(srv: ThreadingHTTPServer, n: int) -> str:
    host, port = srv.server_address[:2]
    return f"http://{host}:{port}/thing/{n}"


def sweep(manifest):
    return asyncio.run(run_checks(manifest, registry=get_registry(load_plugins=False)))


def test_a_sweep_sends_one_host_at_most_per_host_requests_and_other_hosts_go_on_beside_it(servers):
    a, b = servers(["127.0.0.1", "127.0.0.2"], together=4)  # two providers' hosts
    blocks = [check_block(f"c{n}", kind="http", url=url((a, b)[n % 2], n)) for n in range(12)]
    results = sweep(make_manifest(*blocks, extra="[settings]\nper_host = 2\n"))
    assert [r.status.value for r in results] == ["pass"] * 12
    assert (a.requests, b.requests) == (6, 6)
    assert (a.peak, b.peak) == (2, 2), "each host: never more than per_host in flight, and that many"
    assert a.room.peak == 4, "both hosts had their share in flight at the same time"


def test_the_per_host_limit_is_per_port_too(servers):
    one, other = servers(["127.0.0.1", "127.0.0.1"], together=2)  # two services on one machine
    blocks = [check_block(f"c{n}", kind="http", url=url((one, other)[n % 2], n)) for n in range(4)]
    results = sweep(make_manifest(*blocks, extra="[settings]\nper_host = 1\n"))
    assert [r.status.value for r in results] == ["pass"] * 4
    assert (one.peak, other.peak, one.room.peak) == (1, 1, 2)


def test_connections_are_kept_alive_and_reused_across_the_sweep_s_checks(servers):
    (srv,) = servers(["127.0.0.1"], together=1)
    blocks = [check_block(f"c{n}", kind="http", url=url(srv, n)) for n in range(50)]
    manifest = make_manifest(*blocks)
    results = sweep(manifest)
    assert [r.status.value for r in results] == ["pass"] * 50
    assert srv.requests == 50 and srv.peak <= manifest.settings.per_host
    assert srv.connections <= manifest.settings.per_host, f"{srv.connections} connections opened for 50 requests"


def test_a_request_that_cannot_get_its_host_s_turn_in_time_is_a_pool_timeout_naming_the_setting(servers):
    (srv,) = servers(["127.0.0.1"], together=2, hold_s=1.0)  # holds the first request waiting for a second

    async def go() -> tuple[httpx.Response | BaseException, ...]:
        timeout = httpx.Timeout(10.0, pool=0.3)
        async with httpx.AsyncClient(transport=HostLimits(per_host=1), timeout=timeout) as client:
            first = asyncio.ensure_future(client.get(url(srv, 1)))
            for _ in range(500):  # until the server holds it: the first has the host's one slot
                if srv.requests:
                    break
                await asyncio.sleep(0.01)
            second = await asyncio.gather(client.get(url(srv, 2)), return_exceptions=True)
            return (await first, *second)

    first, second = asyncio.run(go())
    assert isinstance(first, httpx.Response) and first.status_code == 200
    assert isinstance(second, httpx.PoolTimeout)
    assert "127.0.0.1 still had 1 requests in flight after 0.3s (settings.per_host)" in str(second)
    assert srv.requests == 1, "the one past the limit was never sent"


def test_a_slot_is_given_back_when_the_request_fails():
    async def go() -> list[str]:
        async with httpx.AsyncClient(transport=HostLimits(per_host=1), timeout=2.0) as client:
            failures = []
            for _ in range(3):  # nothing listens on port 9 here: each attempt is refused; none may keep the slot
                try:
                    await client.get("http://127.0.0.1:9/")
                except httpx.HTTPError as exc:
                    failures.append(type(exc).__name__)
            return failures

    assert asyncio.run(go()) == ["ConnectError"] * 3, "a leaked slot makes the next one a PoolTimeout"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0", "greater than or equal to 1"),
        ("101", "less than or equal to 100"),
        ('"eight"', "a valid integer, unable to parse string as an integer"),
        ("2.5", "a valid integer, got a number with a fractional part"),
    ],
    ids=["zero", "past-100", "text", "fraction"],
)
def test_a_bad_per_host_is_refused_naming_the_field(value, words):
    with pytest.raises(ManifestError) as caught:
        make_manifest(extra=f"[settings]\nper_host = {value}\n")
    assert f"settings.per_host: Input should be {words}" in str(caught.value)


def test_the_defaults_are_the_ones_the_docs_state():
    table = (ROOT / "docs" / "checks.md").read_text()
    documented = {
        name: int(found.group(1))
        for name in ("concurrency", "per_host")
        if (found := re.search(rf"^\| `{name}` \| (\d+) \|", table, re.M))
    }
    defaults = Settings()
    assert (
        documented
        == {"concurrency": defaults.concurrency, "per_host": defaults.per_host}
        == {
            "concurrency": 64,
            "per_host": 16,
        }
    )
