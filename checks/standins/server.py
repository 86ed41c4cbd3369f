"""A small loopback HTTP server that hosts provider stand-ins (the demo, the tests, staging).

Routing follows the ``READINESS_STANDINS_URL`` rule of the design: a request the product would send to
``https://HOST/PATH`` goes to ``{server.url}/HOST/PATH`` and is handed to the provider registered for
``HOST`` as ``handle(method, "/PATH", query, headers, body)``. One server hosts any number of providers.

A plain JSON control surface lives under ``/_standins/``:

* ``GET /_standins/health``: ``{"ok": true, "providers": [HOST, ...]}``;
* ``GET|POST /_standins/HOST/ACTION``: the provider's optional ``control(method, action, payload)``,
  for a test or the demo in another process to change a provider's state (JSON body in, JSON out); the
  providers answer ``scenario``, ``reset`` and ``state`` alike (:meth:`~checks.standins.scenarios.Scenarios.control`);
* ``GET|POST /_standins/hostile`` (``{"on": true}``): every provider reflects what it receives
  (:mod:`checks.standins.hostile`); ``{"on": false}`` restores them.

Adding a provider (one module per provider in this package)::

    class ExampleStandin:
        host = "api.example.com"                      # the real host it stands in for

        def __init__(self) -> None:
            self._lock = threading.Lock()             # handle() runs on many threads at once
            self.calls = 0                            # its own mutable state, changed by test helpers

        def handle(self, method, path, query, headers, body) -> Response:
            with self._lock:
                self.calls += 1
            return json_response(200, {"ok": True})   # status, headers, body bytes

        def control(self, method, action, payload):   # optional: /_standins/api.example.com/ACTION
            return 200, {"calls": self.calls}

    with StandinServer([ExampleStandin()]) as server:
        httpx.get(f"{server.url}/api.example.com/v1/thing")

``path`` is percent-decoded and starts with ``/``; ``query`` maps each name to its list of values
(blank values kept); ``headers`` has lower-case names. Providers answer with the real service's JSON
shapes and error bodies so the real client libraries can be pointed at them unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Controllable", "Provider", "Response", "StandinServer", "json_response"]  # the first four: .provider

from checks.standins.provider import Controllable, Provider, Response, json_response

log = logging.getLogger(__name__)

CONTROL_PREFIX = "_standins"


class StandinServer:
    """A ThreadingHTTPServer on loopback that dispatches ``/HOST/PATH`` to the provider for ``HOST``."""

    def __init__(self, providers: Iterable[Provider] = (), *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._providers: dict[str, Provider] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self.hostile = False
        """Every provider answers with a reflection of the request (see :mod:`checks.standins.hostile`)."""
        self._reflector: Any = None
        for provider in providers:
            self.register(provider)

    # -- providers --------------------------------------------------------------------------------------------

    def register(self, provider: Provider) -> Provider:
        """Add a provider; its ``host`` must not be taken. Returns it, for chaining."""
        with self._lock:
            if provider.host in self._providers:
                raise ValueError(f"a stand-in for {provider.host} is already registered")
            self._providers[provider.host] = provider
        return provider

    def provider(self, host: str) -> Provider:
        with self._lock:
            return self._providers[host]

    @property
    def hosts(self) -> list[str]:
        with self._lock:
            return sorted(self._providers)

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (still answers after :meth:`stop`, for tests of a dead endpoint)."""
        if self._address is None:
            raise RuntimeError("the stand-in server is not started; call start() first")
        return f"http://{self._address[0]}:{self._address[1]}"

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the stand-in server is not started; call start() first")
        return self._address[1]

    def start(self) -> StandinServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(self._bind, _Handler, self)
        host, port = httpd.server_address[:2]
        self._address = (str(host), int(port))
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name=f"standins:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every open (keep-alive) connection, release the port."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Start (if needed) and block until interrupted: for ``readiness standins``."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"StandinServer({where}, {self.hosts})"

    # -- dispatch ---------------------------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Route one request (``target`` = path and query as sent) to its provider or the control surface."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        host, _, rest = parts.path.lstrip("/").partition("/")
        path = "/" + unquote(rest)
        if host == CONTROL_PREFIX:
            return self._control(method, path, body)
        with self._lock:
            provider = self._providers.get(host)
        if provider is None:
            return json_response(404, {"error": f"no stand-in for host {host!r}; registered: {self.hosts}"})
        if self.hostile:
            reflector = self.reflector()
            if not reflector.passes_through(path):
                return reflector.answer(host, path, query, headers, body)  # type: ignore[no-any-return]
        return provider.handle(method, path, query, headers, body)

    def reflector(self) -> Any:
        """The hostile scenario's :class:`~checks.standins.hostile.HostileReflector` (made on first use)."""
        with self._lock:
            if self._reflector is None:
                from checks.standins.hostile import HostileReflector

                self._reflector = HostileReflector()
            return self._reflector

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/health":
            return json_response(200, {"ok": True, "providers": self.hosts, "hostile": self.hostile})
        if path == "/hostile":
            if method == "POST":
                try:
                    self.hostile = bool(json.loads(body or b"{}").get("on", True))
                except (ValueError, AttributeError):
                    return json_response(400, {"error": 'hostile takes {"on": true|false}'})
            return json_response(200, {"hostile": self.hostile, "reflected": self.reflector().reflected})
        host, _, action = path.lstrip("/").partition("/")
        with self._lock:
            provider = self._providers.get(host)
        if provider is None or not action:
            return json_response(404, {"error": f"unknown control path {path!r}; try /_standins/health"})
        if not isinstance(provider, Controllable):
            return json_response(404, {"error": f"the stand-in for {host} takes no control commands"})
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return json_response(400, {"error": "control body must be JSON"})
        try:
            status, answer = provider.control(method, action, payload)
        except (KeyError, TypeError, ValueError) as exc:
            return json_response(400, {"error": f"bad control command {action!r}: {type(exc).__name__}: {exc}"})
        return json_response(status, answer)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a sweep opens dozens of connections at once; the default backlog is 5

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: StandinServer) -> None:
        self.owner = owner
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._conn_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a probe's timeout against the "slow" scenario) leaves a broken pipe:
        # expected, not worth a traceback on stderr.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        # Keep-alive connections would otherwise keep being served after stop(): a "stopped" stand-in
        # must look like a dead endpoint to clients that pool connections.
        with self._conn_lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm holds the body
        # until the client's delayed ACK (~40 ms a keep-alive request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._send(json_response(411, {"error": "stand-ins need a Content-Length body"}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.server.owner.dispatch(self.command, self.path, headers, body)
        except Exception as exc:  # a broken provider answers 500 rather than killing the connection
            log.exception("stand-in failed on %s %s", self.command, urlsplit(self.path).path)
            response = json_response(500, {"error": f"stand-in failed: {type(exc).__name__}"})
        self._send(response)

    def _send(self, response: Response) -> None:
        status, headers, body = response
        self.send_response(status)
        sent = {name.lower() for name in headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines can carry codes and tokens in query strings; see log_request

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)
