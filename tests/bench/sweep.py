"""Benchmark the runner. Prints one JSON object.

1. Concurrency: 50 ``http`` checks against a loopback server that answers after 200 ms. The sweep's wall
   time is compared with one such check run alone, in the same run (ratio; sequential would be ~50).
2. Engine cost: 500 checks of a kind that does nothing, against a bare ``asyncio.gather`` of the same
   500 coroutine calls (the floor), per check in microseconds.

Run: python tests/bench/sweep.py
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pydantic import BaseModel  # noqa: E402

from checks.core.hookspecs import CheckContext, check_kind  # noqa: E402
from checks.core.registry import Registry, get_registry  # noqa: E402
from checks.core.result import Result  # noqa: E402
from checks.core.runner import run_checks  # noqa: E402
from tests.checks.helpers import check_block, make_manifest  # noqa: E402

DELAY_S = 0.2


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(DELAY_S)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@check_kind("noop")
async def noop(params: BaseModel, ctx: CheckContext) -> Result:
    """Does nothing."""
    return Result.passed("ok")


def http_manifest(n: int, url: str):
    blocks = [check_block(f"h{i}", kind="http", url=f"{url}/{i}") for i in range(n)]
    return make_manifest(*blocks, extra="[settings]\nconcurrency = 64\n")


def timed(coro_factory, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        asyncio.run(coro_factory())
        times.append(time.perf_counter() - t0)
    return times


def serve(port_out: multiprocessing.Queue[int]) -> None:
    server = Server(("127.0.0.1", 0), Slow)
    port_out.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    # The stand-in provider runs in its own process, as a real one would be on its own machine:
    # sharing the GIL with the client would measure the server's threads, not the runner.
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    proc = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}"
    registry = get_registry(load_plugins=False)

    one = http_manifest(1, url)
    fifty = http_manifest(50, url)
    single = statistics.median(timed(lambda: run_checks(one, registry=registry), 5))
    sweep_times = timed(lambda: run_checks(fifty, registry=registry), 5)
    sweep = statistics.median(sweep_times)
    results = asyncio.run(run_checks(fifty, registry=registry))
    assert all(r.status.value == "pass" for r in results), [r.result.summary for r in results][:3]
    proc.terminate()

    reg = Registry()
    reg.add_module(sys.modules[__name__], "bench")
    many = make_manifest(*(check_block(f"n{i}", kind="noop") for i in range(500)))
    params = reg.validate(many)
    engine = statistics.median(timed(lambda: run_checks(many, registry=reg, params=params), 7))

    async def bare() -> None:
        await asyncio.gather(*(noop(None, None) for _ in range(500)))  # type: ignore[arg-type]

    floor = statistics.median(timed(bare, 7))
    print(
        json.dumps(
            {
                "benchmark": "sweep",
                "http_checks": 50,
                "server_delay_ms": DELAY_S * 1000,
                "single_check_s": round(single, 4),
                "sweep_50_s": round(sweep, 4),
                "sweep_over_single": round(sweep / single, 3),
                "sweep_over_single_target": 1.5,
                "sequential_would_be": 50,
                "noop_checks": 500,
                "engine_500_s": round(engine, 4),
                "engine_per_check_us": round(engine / 500 * 1e6, 1),
                "bare_gather_500_s": round(floor, 5),
                "engine_over_bare_gather": round(engine / floor, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
