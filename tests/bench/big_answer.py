"""Peak memory of one check against a provider that answers with a huge body. Prints one JSON object.

A loopback server in its own process answers every GET with ``200`` and a ``SIZE_MB`` JSON body
(``{"status": "ok", "pad": "aaaa…"}``), written 1 MiB at a time, either with a ``Content-Length``
(``announced``) or without one, delimited by closing the connection (``unannounced``: the client must
read to learn the size). Each (kind, mode) runs in a fresh Python process so peak RSS
(``ru_maxrss``) belongs to that one check: the figure is the growth over the same process after a
warm-up check against a small answer.

Kinds: ``http`` (with a JSON condition, so the body is parsed) and ``vault`` probe ``service``
(through ``checks.core.outbound.request``, like every provider kind).

Run: python tests/bench/big_answer.py [--size-mb 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CHUNK = 1 << 20


class Big(BaseHTTPRequestHandler):
    """``/small/...``: a 40-byte answer; ``/announced/...`` and ``/unannounced/...``: SIZE_MB of JSON."""

    size = 100 * CHUNK

    def do_GET(self) -> None:  # noqa: N802
        mode = self.path.split("/")[1]
        head, tail = b'{"status": "ok", "pad": "', b'"}'
        if mode == "small":
            body = head + b"a" * 10 + tail
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode == "announced":
            self.send_header("Content-Length", str(self.size))
        self.end_headers()
        try:
            self.wfile.write(head)
            left = self.size - len(head) - len(tail)
            block = b"a" * CHUNK
            while left > 0:
                self.wfile.write(block[: min(CHUNK, left)])
                left -= CHUNK
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what a capped client should do

    def log_message(self, *args: object) -> None:
        pass


def serve(size: int, port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    Big.size = size
    server = ThreadingHTTPServer(("127.0.0.1", 0), Big)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def manifest_for(kind: str, base: str, mode: str):  # type: ignore[no-untyped-def]
    from tests.checks.helpers import make_manifest

    if kind == "http":
        block = (
            f'[[checks]]\nid = "big"\nkind = "http"\nitem = "a.one"\ntimeout_s = 60\n'
            f'[checks.params]\nurl = "{base}/{mode}/x"\n'
            'json = [{path = "$.status", op = "==", value = "ok"}]\n'
        )
    else:
        block = '[[checks]]\nid = "big"\nkind = "vault"\nitem = "a.one"\ntimeout_s = 60\n'
        block += f'[checks.params]\nprobe = "service"\nhealth_path = "/{mode}/healthz"\n'
    return make_manifest(block)


def one(kind: str, mode: str, base: str) -> dict[str, object]:
    """In a fresh process: warm up on a small answer, then run the check against the big one."""
    from checks.core.runner import run_checks

    env = {"TOKEN_VAULT_URL": base}

    def run(m):  # type: ignore[no-untyped-def]
        return asyncio.run(run_checks(m, env=env))[0]

    run(manifest_for(kind, base, "small"))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = run(manifest_for(kind, base, mode))
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "kind": kind,
        "mode": mode,
        "status": result.status.value,
        "summary": result.result.summary[:160],
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "growth_mib": round(peak - baseline, 1),
        "elapsed_s": round(elapsed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--one", nargs=3, metavar=("KIND", "MODE", "BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=serve, args=(args.size_mb * CHUNK, ports), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=10)}"
    runs = []
    try:
        for kind in ("http", "vault"):
            for mode in ("announced", "unannounced"):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", kind, mode, base],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
    print(json.dumps({"size_mb": args.size_mb, "python": sys.version.split()[0], "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
