"""Benchmark the runner at the manifest's DEFAULT settings. Prints one JSON object.

The shape. A real sweep calls several provider hosts at once: Google's (``accounts.google.com``,
``oauth2.googleapis.com``, ``www.googleapis.com``, ``serviceusage.googleapis.com``, Business Profile),
Microsoft's (``login.microsoftonline.com``, ``graph.microsoft.com``), the GHL proxy, Twilio, Retell and
the vault service: about ten. Here ten loopback addresses, ``127.0.0.1`` .. ``127.0.0.10``, stand for
ten provider hosts, each its own origin (own connection pool, own per-host limit), served by one
separate process (as providers run on their own machines: sharing the GIL with the client would
measure the server, not the runner) that answers every ``GET`` after ``DELAY_S`` (200 ms). Checks are
given to hosts round robin (check ``i`` calls host ``i % hosts``).

Figures, each min/median/max over rounds (a ratio is taken per round, against a baseline measured in
that same round):

a. 50 slow ``http`` checks over the ten hosts against one such check alone (aim: at most 1.5;
   sequential would be 50). The single-host case beside it: the same 50 checks all calling one host,
   which the per-host limit (``settings.per_host``) lets through that many at a time. And the floor of the
   ratio on this machine: the same 50 GETs as a bare ``asyncio.gather`` on one plain ``httpx`` client,
   against one GET (what httpx's own CPU a request costs, not the runner).
b. 500 ``http`` checks over the ten hosts against a bare ``asyncio.gather`` of 500 ``httpx`` GETs to the
   same URLs, bounded by a semaphore at the same limit (``settings.concurrency``), on one client whose
   pool keeps alive as many connections as it opens (aim: at most 1.1); and, the stricter floor, the
   same gather on one plain client per host, each pool of ``per_host`` (the best bare httpx does). Wall
   time and the process's CPU time of each.
c. Engine cost: 500 checks of a kind that does nothing, against a bare ``asyncio.gather`` of the same
   500 coroutine calls (the floor).

Run: ``python tests/bench/sweep.py``. ``--concurrency N`` / ``--per-host N`` override the defaults (stated
in the output's ``settings``); ``--rounds N`` changes the rounds of (a) and (b) (stated as well).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from checks.core.hookspecs import CheckContext, check_kind  # noqa: E402
from checks.core.manifest import Settings  # noqa: E402
from checks.core.registry import Registry, get_registry  # noqa: E402
from checks.core.result import Result  # noqa: E402
from checks.core.runner import run_checks  # noqa: E402
from tests.checks.helpers import check_block, make_manifest  # noqa: E402

DELAY_S = 0.2
HOSTS = 10
ROUNDS = 5
ROUNDS_500 = 3
ROUNDS_NOOP = 7

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n" + b'{"status": "ok"}'


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive: every request (no body) answered 200 after ``DELAY_S``."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            await asyncio.sleep(DELAY_S)
            writer.write(_ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve(hosts: int, port_out: multiprocessing.Queue[int]) -> None:
    async def main() -> None:
        first = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        for n in range(2, hosts + 1):
            await asyncio.start_server(_answer, f"127.0.0.{n}", port, backlog=1024)
        port_out.put(port)
        await asyncio.Event().wait()

    asyncio.run(main())


@check_kind("noop")
async def noop(params: BaseModel, ctx: CheckContext) -> Result:
    """Does nothing."""
    return Result.passed("ok")


def urls(n: int, port: int, hosts: int) -> list[str]:
    return [f"http://127.0.0.{i % hosts + 1}:{port}/{i}" for i in range(n)]


def http_manifest(targets: list[str], settings: str):
    blocks = [check_block(f"h{i}", kind="http", url=url) for i, url in enumerate(targets)]
    return make_manifest(*blocks, extra=f"[settings]\n{settings}" if settings else "")


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def timed(run: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one ``asyncio.run``."""
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())  # type: ignore[arg-type]
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, help="override settings.concurrency")
    parser.add_argument("--per-host", type=int, help="override settings.per_host")
    parser.add_argument("--rounds", type=int, help=f"rounds of (a) and (b) (default {ROUNDS} and {ROUNDS_500})")
    args = parser.parse_args()
    overrides: dict[str, object] = {}
    lines = ""
    if args.concurrency is not None:
        overrides["concurrency"] = args.concurrency
        lines += f"concurrency = {args.concurrency}\n"
    if args.per_host is not None:
        overrides["per_host"] = args.per_host
        lines += f"per_host = {args.per_host}\n"
    if args.rounds is not None:
        overrides["rounds"] = args.rounds
    rounds = args.rounds or ROUNDS
    rounds_500 = args.rounds or ROUNDS_500

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    proc = multiprocessing.Process(target=serve, args=(HOSTS, ports), daemon=True)
    proc.start()
    port = ports.get(timeout=30)
    registry = get_registry(load_plugins=False)
    load_before = os.getloadavg()

    one = http_manifest(urls(1, port, 1), lines)
    spread_50 = http_manifest(urls(50, port, HOSTS), lines)
    single_host_50 = http_manifest(urls(50, port, 1), lines)
    many = http_manifest(urls(500, port, HOSTS), lines)
    settings = many.settings
    limit = settings.concurrency

    # Warm up (imports, the registry's kinds, first connections), and every check must pass.
    for manifest in (one, spread_50, single_host_50):
        results = asyncio.run(run_checks(manifest, registry=registry))
        assert all(r.status.value == "pass" for r in results), [r.result.summary for r in results][:3]

    tls = httpx.create_ssl_context()  # built once, as the runner's is: reading the CA bundle is not a GET

    def bare_gets(targets: list[str]) -> Callable[[], Awaitable[None]]:
        """The same GETs, bare: one plain ``httpx`` client (its default pool: 100 connections), a gather."""

        async def go() -> None:
            async with httpx.AsyncClient(timeout=settings.timeout_s, verify=tls) as client:
                for answer in await asyncio.gather(*(client.get(u) for u in targets)):
                    answer.raise_for_status()

        return go

    single, fifty, fifty_one_host, bare_one, bare_fifty = [], [], [], [], []
    for _ in range(rounds):
        single.append(timed(lambda: run_checks(one, registry=registry))[0])
        fifty.append(timed(lambda: run_checks(spread_50, registry=registry))[0])
        fifty_one_host.append(timed(lambda: run_checks(single_host_50, registry=registry))[0])
        bare_one.append(timed(bare_gets(urls(1, port, 1)))[0])
        bare_fifty.append(timed(bare_gets(urls(50, port, HOSTS)))[0])

    targets = urls(500, port, HOSTS)

    per_host = settings.per_host

    async def bare_http(pools: int) -> None:
        """500 GETs under one semaphore at ``limit``: on one client (``pools == 1``) whose pool may open
        ``limit`` connections, or on one plain client per host, each pool of ``per_host``."""
        gate = asyncio.Semaphore(limit)
        size = limit if pools == 1 else per_host
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        clients = [httpx.AsyncClient(limits=limits, timeout=settings.timeout_s, verify=tls) for _ in range(pools)]

        async def get(n: int, url: str) -> None:
            async with gate:
                (await clients[n % pools].get(url)).raise_for_status()

        await asyncio.gather(*(get(n, u) for n, u in enumerate(targets)))
        for client in clients:
            await client.aclose()

    sweep_500, bare_500, pooled_500 = [], [], []
    cpu_sweep_500, cpu_bare_500, cpu_pooled_500 = [], [], []
    for _ in range(rounds_500):
        wall, cpu = timed(lambda: run_checks(many, registry=registry))
        sweep_500.append(wall)
        cpu_sweep_500.append(cpu)
        wall, cpu = timed(lambda: bare_http(1))
        bare_500.append(wall)
        cpu_bare_500.append(cpu)
        wall, cpu = timed(lambda: bare_http(HOSTS))
        pooled_500.append(wall)
        cpu_pooled_500.append(cpu)
    results = asyncio.run(run_checks(many, registry=registry))
    assert all(r.status.value == "pass" for r in results), [r.result.summary for r in results if not r.status.ok][:3]
    proc.terminate()

    reg = Registry()
    reg.add_module(sys.modules[__name__], "bench")
    noops = make_manifest(*(check_block(f"n{i}", kind="noop") for i in range(500)))
    params = reg.validate(noops)

    async def bare_noop() -> None:
        await asyncio.gather(*(noop(None, None) for _ in range(500)))  # type: ignore[arg-type]

    engine, floor = [], []
    for _ in range(ROUNDS_NOOP):
        engine.append(timed(lambda: run_checks(noops, registry=reg, params=params))[0])
        floor.append(timed(bare_noop)[0])

    def ratios(a: list[float], b: list[float]) -> dict[str, float]:
        return spread([x / y for x, y in zip(a, b, strict=True)], 3)

    defaults = Settings()
    print(
        json.dumps(
            {
                "benchmark": "sweep",
                "command": "python tests/bench/sweep.py" + "".join(f" {a}" for a in sys.argv[1:]),
                "settings": overrides,
                "in_force": {"concurrency": limit, "per_host": per_host, "timeout_s": settings.timeout_s},
                "defaults": {"concurrency": defaults.concurrency, "per_host": defaults.per_host},
                "shape": {
                    "hosts": HOSTS,
                    "host_addresses": f"127.0.0.1..127.0.0.{HOSTS}, one port",
                    "assignment": "check i calls host i % hosts",
                    "server_delay_ms": DELAY_S * 1000,
                    "server": "asyncio, keep-alive, in its own process",
                },
                "rounds": {"a": rounds, "b": rounds_500, "c": ROUNDS_NOOP},
                "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
                "a": {
                    "single_check_s": spread(single),
                    "sweep_50_s": spread(fifty),
                    "sweep_50_over_single": ratios(fifty, single),
                    "aim": 1.5,
                    "sequential_would_be": 50,
                    "bare_gather_50_over_one_get": ratios(bare_fifty, bare_one),
                    "one_host_sweep_50_s": spread(fifty_one_host),
                    "one_host_sweep_50_over_single": ratios(fifty_one_host, single),
                },
                "b": {
                    "sweep_500_s": spread(sweep_500),
                    "bare_gather_500_s": spread(bare_500),
                    "sweep_500_over_bare_gather": ratios(sweep_500, bare_500),
                    "aim": 1.1,
                    "bare_gather_pool_per_host_500_s": spread(pooled_500),
                    "sweep_500_over_bare_gather_pool_per_host": ratios(sweep_500, pooled_500),
                    "sweep_500_cpu_s": spread(cpu_sweep_500),
                    "bare_gather_500_cpu_s": spread(cpu_bare_500),
                    "bare_gather_pool_per_host_500_cpu_s": spread(cpu_pooled_500),
                    "cpu_over_bare_gather": ratios(cpu_sweep_500, cpu_bare_500),
                    "cpu_over_bare_gather_pool_per_host": ratios(cpu_sweep_500, cpu_pooled_500),
                    "limit": limit,
                },
                "c": {
                    "engine_500_noop_s": spread(engine),
                    "bare_gather_500_noop_s": spread(floor, 5),
                    "engine_over_bare_gather": ratios(engine, floor),
                    "engine_per_check_us": spread([e / 500 * 1e6 for e in engine], 1),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
