"""Wall time of a sweep whose checks form a chain of slow dependencies. Prints one JSON object.

Three ``http`` checks, ``c2`` depends on ``c1`` and ``c3`` on ``c2``, each with ``timeout_s = 10``, against a
loopback server (its own process) that answers every GET after ``--delay-s`` (default 8.7 s: just under the
timeout, so each check passes on its own). Without a sweep deadline the sweep takes the sum of the delays;
with one it ends at the deadline (default: twice the largest check timeout) and says which checks it cut.

Run: python tests/bench/slow_chain.py [--delay-s 8.7] [--deadline-s N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


class Slow(BaseHTTPRequestHandler):
    delay_s = 8.7

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(self.delay_s)
        body = b'{"status": "ok"}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def serve(delay_s: float, port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    Slow.delay_s = delay_s
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    from checks.core.runner import run_checks
    from tests.checks.helpers import make_manifest

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-s", type=float, default=8.7)
    parser.add_argument("--deadline-s", type=float, default=None)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(args.delay_s, ports), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=10)}"
    blocks = []
    for i in (1, 2, 3):
        dep = f'depends_on = ["c{i - 1}"]\n' if i > 1 else ""
        blocks.append(
            f'[[checks]]\nid = "c{i}"\nkind = "http"\nitem = "a.one"\ntimeout_s = 10\n{dep}'
            f'[checks.params]\nurl = "{base}/c{i}"\n'
        )
    extra = f"[settings]\nsweep_deadline_s = {args.deadline_s}\n" if args.deadline_s else ""
    manifest = make_manifest(*blocks, extra=extra)
    try:
        t0 = time.perf_counter()
        results = asyncio.run(run_checks(manifest))
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
    print(
        json.dumps(
            {
                "delay_s": args.delay_s,
                "timeout_s": 10,
                "sweep_deadline_s": args.deadline_s,
                "sweep_s": round(wall, 2),
                "results": {r.id: [r.status.value, r.result.summary[:120]] for r in results},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
